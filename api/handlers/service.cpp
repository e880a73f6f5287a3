// Handlers for operators and tools: liveness, readiness, Prometheus metrics, the OpenAPI document.
#include "api/handlers.hpp"

#include <algorithm>
#include <map>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "api/json_mapping.hpp"
#include "api/projection_view.hpp"
#include "api/response.hpp"
#include "engine/replica_set.hpp"
#include "engine/errors.hpp"
#include "engine/catch_up.hpp"
#include "engine/event_store.hpp"
#include "engine/rebuild.hpp"
#include "sources/source_manager.hpp"

namespace reproj::api {

Response healthz(Call&) { return json_response(http::status::ok, {{"status", "ok"}}); }

Response readyz(Call& c) {
  auto not_ready = [](const std::string& why) {
    auto res = json_error(http::status::service_unavailable, "not_ready", why);
    res.set(http::field::retry_after, "1");
    return res;
  };
  // A stopped projection is named first: it will not catch up by waiting. Reading the views
  // also proves the database answers (else DatabaseUnavailable: 503 with Retry-After).
  const auto views = projection_views(c.s.store, c.s.live, c.s.rebuilds);
  for (const auto& v : views) {
    if (v.status.failed) return not_ready("projection " + v.status.name + " stopped: " + v.status.error);
  }
  if (c.s.worker && !c.s.worker->database_reachable()) return not_ready("the catch-up worker cannot reach the database");
  if (c.s.sources) {
    Json waiting = Json::array();
    std::string names;
    for (const auto& s : c.s.sources->required_not_live()) {
      waiting.push_back(source_to_json(s));
      names += (names.empty() ? "" : ", ") + s.name + " (" + s.state + ", lag " + std::to_string(s.lag) + ")";
    }
    if (!waiting.empty()) {
      auto res = json_response(http::status::service_unavailable,
                               {{"error", "source_not_live"},
                                {"message", "sources required for readiness are not live: " + names},
                                {"sources", std::move(waiting)}});
      res.set(http::field::retry_after, "1");
      return res;
    }
  }
  // Ready means able to answer: every projection within what one strong read applies itself
  // (README "Guarantees"). Further behind, reads wait for the worker; a balancer should send them
  // elsewhere meanwhile.
  const bool history_replayed = !c.s.worker || c.s.worker->caught_up();
  const auto bound = c.s.live.options().max_read_apply;
  const auto rates = c.s.worker ? c.s.worker->rates() : std::map<std::string, double>{};
  Json behind = Json::array();
  std::string names;
  for (const auto& v : views) {
    if (v.status.building) continue;  // answers projection_building until its first build promotes
    const auto lag = std::max<std::int64_t>(0, v.safe_tail - v.status.watermark);
    const bool before_start = !history_replayed && c.s.worker && v.status.watermark < c.s.worker->start_tail();
    if (lag <= bound && !before_start) continue;
    const auto rate = rates.find(v.status.name);
    Json eta = rate != rates.end() && rate->second > 0 ? Json(static_cast<double>(lag) / rate->second) : Json(nullptr);
    behind.push_back({{"name", v.status.name}, {"watermark", v.status.watermark}, {"lag", lag}, {"eta_seconds", eta}});
    names += (names.empty() ? "" : ", ") + v.status.name + " (lag " + std::to_string(lag) + ")";
  }
  if (!behind.empty() || !history_replayed) {
    const std::string why =
        names.empty() ? "catching up with the history (start tail " + std::to_string(c.s.worker->start_tail()) + ")"
                      : "catching up: " + names + "; a strong read applies at most " + std::to_string(bound) +
                            " events itself";
    auto res = json_response(http::status::service_unavailable,
                             {{"error", "catching_up"}, {"message", why}, {"projections", std::move(behind)}});
    res.set(http::field::retry_after, "1");
    return res;
  }
  Json projections = Json::array();
  for (const auto& view : views) projections.push_back(projection_to_json(view));
  return json_response(http::status::ok, {{"ready", true},
                                          {"safe_tail", c.s.store.safe_tail()},
                                          {"start_tail", c.s.worker ? c.s.worker->start_tail() : 0},
                                          {"projections", std::move(projections)}});
}

Response metrics(Call& c) {
  // The engine's series are read at scrape time into a registry of this scrape; the request-side
  // ones live in RequestMetrics' registry. prometheus-cpp's text serializer writes both.
  prometheus::Registry scrape;
  auto& applied = prometheus::BuildCounter()
                      .Name("reproj_events_applied_total")
                      .Help("Events applied to live projections, by mode.")
                      .Register(scrape);
  for (const auto& name : c.s.live.registry().names()) {
    for (auto [mode, label] : {std::pair{engine::ApplyMode::kWorker, "worker"}, std::pair{engine::ApplyMode::kRead, "read"}}) {
      applied.Add({{"projection", name}, {"mode", label}})
          .Increment(static_cast<double>(c.s.live.applied_events(name, mode)));
    }
  }
  const auto tail = c.s.store.safe_tail();
  prometheus::BuildGauge()
      .Name("reproj_safe_tail")
      .Help("Highest final position of the log.")
      .Register(scrape)
      .Add({})
      .Set(static_cast<double>(tail));
  auto& lag = prometheus::BuildGauge()
                  .Name("reproj_projection_lag")
                  .Help("Positions between a projection's watermark and the safe tail.")
                  .Register(scrape);
  auto& position = prometheus::BuildGauge().Name("reproj_rebuild_position").Help("Position of running rebuilds.").Register(scrape);
  auto& target = prometheus::BuildGauge().Name("reproj_rebuild_target").Help("Target position of running rebuilds.").Register(scrape);
  auto& rate = prometheus::BuildGauge()
                   .Name("reproj_rebuild_events_per_second")
                   .Help("Replay rate of running rebuilds.")
                   .Register(scrape);
  auto& quarantined = prometheus::BuildGauge()
                          .Name("reproj_events_quarantined")
                          .Help("Poison events the active version of a projection skipped (skip policy).")
                          .Register(scrape);
  auto& diff_rows = prometheus::BuildGauge()
                        .Name("reproj_rebuild_diff_rows")
                        .Help("The last diff of a ready rebuild: rows by table and kind (changed, added, removed, unchanged).")
                        .Register(scrape);
  auto& diff_columns = prometheus::BuildGauge()
                           .Name("reproj_rebuild_diff_changed_rows")
                           .Help("The last diff of a ready rebuild: changed rows by table and column.")
                           .Register(scrape);
  auto& diff_seconds = prometheus::BuildGauge()
                           .Name("reproj_rebuild_diff_seconds")
                           .Help("How long the last diff of a ready rebuild took.")
                           .Register(scrape);
  auto& gated = prometheus::BuildGauge()
                    .Name("reproj_rebuild_gated")
                    .Help("1 when a ready rebuild waits because its diff showed unexpected changes.")
                    .Register(scrape);
  for (const auto& p : c.s.live.status()) {
    quarantined.Add({{"projection", p.name}, {"version", std::to_string(p.active_version)}})
        .Set(static_cast<double>(p.quarantined));
    lag.Add({{"projection", p.name}, {"version", std::to_string(p.active_version)}})
        .Set(static_cast<double>(std::max<std::int64_t>(0, tail - p.watermark)));
    if (auto r = c.s.rebuilds.running(p.name)) {
      const prometheus::Labels labels{
          {"projection", p.name}, {"version", std::to_string(r->version)}, {"rebuild_id", std::to_string(r->id)}};
      position.Add(labels).Set(static_cast<double>(r->position));
      target.Add(labels).Set(static_cast<double>(r->target));
      rate.Add(labels).Set(r->events_per_second);
      gated.Add(labels).Set(r->gate.empty() ? 0 : 1);
      if (auto text = r->has_diff ? c.s.rebuilds.diff(r->id) : std::nullopt) {
        const auto report = Json::parse(*text);
        diff_seconds.Add(labels).Set(report.value("seconds", 0.0));
        const Json tables = report.value("tables", Json::object());
        for (const auto& [table, t] : tables.items()) {
          for (const char* kind : {"changed", "added", "removed", "unchanged"}) {
            auto l = labels;
            l["table"] = table;
            l["kind"] = kind;
            diff_rows.Add(l).Set(t.value(kind, 0.0));
          }
          const Json columns = t.value("changed_columns", Json::object());
          for (const auto& [column, n] : columns.items()) {
            auto l = labels;
            l["table"] = table;
            l["column"] = column;
            diff_columns.Add(l).Set(n.get<double>());
          }
        }
      }
    }
  }
  if (c.s.sources) {
    auto& source_lag = prometheus::BuildGauge()
                           .Name("reproj_source_lag")
                           .Help("Positions between a source's checkpoint and its tail.")
                           .Register(scrape);
    auto& ingested = prometheus::BuildCounter()
                         .Name("reproj_source_ingested_total")
                         .Help("Records a source turned into events.")
                         .Register(scrape);
    auto& source_quarantined = prometheus::BuildCounter()
                                   .Name("reproj_source_quarantined_total")
                                   .Help("Records a source skipped (skip policy), quarantined with their reason.")
                                   .Register(scrape);
    for (const auto& s : c.s.sources->store().statuses()) {
      source_lag.Add({{"source", s.name}}).Set(static_cast<double>(s.lag));
      ingested.Add({{"source", s.name}}).Increment(static_cast<double>(s.ingested));
      source_quarantined.Add({{"source", s.name}}).Increment(static_cast<double>(s.quarantined));
    }
  }
  if (c.s.replicas) {
    auto& up = prometheus::BuildGauge()
                   .Name("reproj_replica_up")
                   .Help("1 when a read replica is in rotation (healthy), 0 when lagging, down or promoted.")
                   .Register(scrape);
    auto& lag_bytes = prometheus::BuildGauge()
                          .Name("reproj_replica_lag_bytes")
                          .Help("WAL a read replica has yet to replay, against the primary's position.")
                          .Register(scrape);
    auto& lag_seconds = prometheus::BuildGauge()
                            .Name("reproj_replica_lag_seconds")
                            .Help("Age of the last transaction a lagging read replica replayed (0 when caught up).")
                            .Register(scrape);
    auto& reads = prometheus::BuildCounter()
                      .Name("reproj_replica_reads_total")
                      .Help("Eventual reads a replica answered (served) or passed to the primary (behind).")
                      .Register(scrape);
    for (const auto& r : c.s.replicas->info()) {
      up.Add({{"replica", r.name}}).Set(r.state == engine::ReplicaSet::State::kHealthy ? 1 : 0);
      lag_bytes.Add({{"replica", r.name}}).Set(static_cast<double>(r.lag_bytes));
      lag_seconds.Add({{"replica", r.name}}).Set(r.lag_seconds);
      reads.Add({{"replica", r.name}, {"result", "served"}}).Increment(static_cast<double>(r.reads));
      reads.Add({{"replica", r.name}, {"result", "behind"}}).Increment(static_cast<double>(r.behind));
    }
  }
  return respond(http::status::ok, "text/plain; version=0.0.4",
                 prometheus::TextSerializer{}.Serialize(scrape.Collect()) + c.s.metrics.render());
}

Response openapi(Call&) { return respond(http::status::ok, "application/json", std::string{openapi_json()}); }

}  // namespace reproj::api
