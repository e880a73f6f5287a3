// Handlers for operators and tools: liveness, readiness, Prometheus metrics, the OpenAPI document.
#include "api/handlers.hpp"

#include <algorithm>

#include "api/json_mapping.hpp"
#include "api/projection_view.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "engine/catch_up.hpp"
#include "engine/event_store.hpp"
#include "engine/rebuild.hpp"

namespace reproj::api {

Response healthz(Call&) { return json_response(http::status::ok, {{"status", "ok"}}); }

Response readyz(Call& c) {
  auto not_ready = [](const std::string& why) {
    auto res = json_error(http::status::service_unavailable, "not_ready", why);
    res.set(http::field::retry_after, "1");
    return res;
  };
  // A stopped projection is named first: it will not catch up by waiting. Reading the status
  // also proves the database answers (else DatabaseUnavailable: 503 with Retry-After).
  const auto status = c.s.live.status();
  for (const auto& p : status) {
    if (p.failed) return not_ready("projection " + p.name + " stopped: " + p.error);
  }
  if (c.s.worker && !c.s.worker->caught_up()) {
    return not_ready("catching up with the history (start tail " + std::to_string(c.s.worker->start_tail()) + ")");
  }
  if (c.s.worker && !c.s.worker->database_reachable()) return not_ready("the catch-up worker cannot reach the database");
  Json projections = Json::array();
  for (const auto& view : projection_views(c.s.store, c.s.live, c.s.rebuilds)) projections.push_back(projection_to_json(view));
  return json_response(http::status::ok, {{"ready", true},
                                          {"safe_tail", c.s.store.safe_tail()},
                                          {"start_tail", c.s.worker ? c.s.worker->start_tail() : 0},
                                          {"projections", std::move(projections)}});
}

Response metrics(Call& c) {
  std::string out;
  out += "# HELP reproj_events_applied_total Events applied to live projections, by mode.\n"
         "# TYPE reproj_events_applied_total counter\n";
  for (const auto& name : c.s.live.registry().names()) {
    for (auto [mode, label] : {std::pair{engine::ApplyMode::kWorker, "worker"}, std::pair{engine::ApplyMode::kRead, "read"}}) {
      out += "reproj_events_applied_total{projection=\"" + name + "\",mode=\"" + label + "\"} " +
             std::to_string(c.s.live.applied_events(name, mode)) + "\n";
    }
  }
  const auto tail = c.s.store.safe_tail();
  out += "# HELP reproj_safe_tail Highest final position of the log.\n# TYPE reproj_safe_tail gauge\nreproj_safe_tail " +
         std::to_string(tail) + "\n";
  out += "# HELP reproj_projection_lag Positions between a projection's watermark and the safe tail.\n"
         "# TYPE reproj_projection_lag gauge\n";
  std::string progress =
      "# HELP reproj_rebuild_position Position of running rebuilds.\n# TYPE reproj_rebuild_position gauge\n"
      "# HELP reproj_rebuild_target Target position of running rebuilds.\n# TYPE reproj_rebuild_target gauge\n"
      "# HELP reproj_rebuild_events_per_second Replay rate of running rebuilds.\n"
      "# TYPE reproj_rebuild_events_per_second gauge\n";
  for (const auto& p : c.s.live.status()) {
    out += "reproj_projection_lag{projection=\"" + p.name + "\",version=\"" + std::to_string(p.active_version) + "\"} " +
           std::to_string(std::max<std::int64_t>(0, tail - p.watermark)) + "\n";
    if (auto r = c.s.rebuilds.running(p.name)) {
      const std::string labels = "{projection=\"" + p.name + "\",version=\"" + std::to_string(r->version) +
                                 "\",rebuild_id=\"" + std::to_string(r->id) + "\"}";
      progress += "reproj_rebuild_position" + labels + " " + std::to_string(r->position) + "\n";
      progress += "reproj_rebuild_target" + labels + " " + std::to_string(r->target) + "\n";
      progress += "reproj_rebuild_events_per_second" + labels + " " + std::to_string(r->events_per_second) + "\n";
    }
  }
  out += progress + c.s.metrics.render();
  return respond(http::status::ok, "text/plain; version=0.0.4", std::move(out));
}

Response openapi(Call&) { return respond(http::status::ok, "application/json", std::string{openapi_json()}); }

}  // namespace reproj::api
