// Admin handlers of projections: their status, rebuilds started, rollback.
#include "api/handlers.hpp"

#include <charconv>
#include <limits>

#include "api/json_mapping.hpp"
#include "api/projection_view.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/rebuild.hpp"

namespace reproj::api {

namespace {

// "drop_dependent_views": true lets a swap drop the user views the new version cannot serve.
engine::DependentViews dependent_views(const Json& body) {
  auto v = body.find("drop_dependent_views");
  if (v == body.end() || v->is_null()) return engine::DependentViews::kRefuse;
  if (!v->is_boolean()) throw bad_request("drop_dependent_views must be true or false");
  return v->get<bool>() ? engine::DependentViews::kDrop : engine::DependentViews::kRefuse;
}

Json projections_json(Services& s) {
  Json out = Json::array();
  for (const auto& view : projection_views(s.store, s.live, s.rebuilds)) out.push_back(projection_to_json(view));
  return out;
}

}  // namespace

Response admin_projections(Call& c) {
  require_admin(c);
  return json_response(http::status::ok, {{"projections", projections_json(c.s)}});
}

Response start_rebuild(Call& c) {
  require_admin(c);
  const auto& name = c.path.at("name");
  const auto& registry = c.s.live.registry();
  if (!registry.has(name)) throw engine::UnknownProjection("unknown projection '" + name + "'");
  int version = registry.latest(name).version();
  auto views = engine::DependentViews::kRefuse;
  if (!c.req.body().empty()) {
    Json body = c.body_json();
    if (!body.is_object()) throw bad_request("body must be a JSON object");
    if (auto v = body.find("version"); v != body.end() && !v->is_null()) {
      if (!v->is_number_integer() || v->get<std::int64_t>() < 1 || v->get<std::int64_t>() > INT32_MAX) {
        throw bad_request("version must be a positive integer");
      }
      version = v->get<int>();
    }
    views = dependent_views(body);
  }
  auto info = c.s.rebuilds.start(name, version, views);
  c.s.rebuilds.wake();
  return json_response(http::status::accepted,
                       {{"rebuild_id", info.id}, {"status_url", "/admin/rebuilds/" + std::to_string(info.id)}});
}

Response rollback(Call& c) {
  require_admin(c);
  const auto& name = c.path.at("name");
  auto views = engine::DependentViews::kRefuse;
  if (!c.req.body().empty()) {
    Json body = c.body_json();
    if (!body.is_object()) throw bad_request("body must be a JSON object");
    views = dependent_views(body);
  }
  c.s.rebuilds.rollback(name, views);
  for (const auto& view : projection_views(c.s.store, c.s.live, c.s.rebuilds)) {
    if (view.status.name == name) {
      Json out = projection_to_json(view);
      out["projection"] = name;  // the key this answer had before it carried the whole status
      return json_response(http::status::ok, out);
    }
  }
  throw engine::UnknownProjection("unknown projection '" + name + "'");
}

}  // namespace reproj::api
