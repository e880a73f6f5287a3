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
  return json_response(http::status::ok, {{"projections", projections_json(c.s)}});
}

Response start_rebuild(Call& c) {
  const auto& name = c.path.at("name");
  const auto& registry = c.s.live.registry();
  if (!registry.has(name)) throw engine::UnknownProjection("unknown projection '" + name + "'");
  int version = registry.latest(name).version();
  auto views = engine::DependentViews::kRefuse;
  auto promote = engine::PromoteMode::kAuto;
  std::vector<std::string> expect_changes;
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
    if (auto p = body.find("promote"); p != body.end() && !p->is_null()) {
      const auto parsed = p->is_string() ? engine::parse_promote_mode(p->get<std::string>()) : std::nullopt;
      if (!parsed) throw bad_request("promote must be \"auto\", \"manual\" or \"if_expected\"");
      promote = *parsed;
    }
    if (auto e = body.find("expect_changes"); e != body.end() && !e->is_null()) {
      if (!e->is_array()) throw bad_request("expect_changes must be an array of column names");
      for (const auto& col : *e) {
        if (!col.is_string() || col.get<std::string>().empty() || col.get<std::string>().size() > 63) {
          throw bad_request("expect_changes must be an array of column names");
        }
        expect_changes.push_back(col.get<std::string>());
      }
    }
  }
  auto info = c.s.rebuilds.start(name, version, views, promote, expect_changes);
  return json_response(http::status::accepted,
                       {{"rebuild_id", info.id}, {"status_url", "/admin/rebuilds/" + std::to_string(info.id)}});
}

Response set_poison_policy(Call& c) {
  const auto& name = c.path.at("name");
  Json body = c.body_json();
  const auto v = body.is_object() ? body.find("poison_policy") : body.end();
  const auto policy = v != body.end() && v->is_string() ? engine::parse_poison_policy(v->get<std::string>())
                                                         : std::nullopt;
  if (!policy) throw bad_request("body must be {\"poison_policy\": \"skip\" | \"stop\"}");
  c.s.live.set_poison_policy(name, *policy);
  for (const auto& view : projection_views(c.s.store, c.s.live, c.s.rebuilds)) {
    if (view.status.name == name) return json_response(http::status::ok, projection_to_json(view));
  }
  throw engine::UnknownProjection("unknown projection '" + name + "'");
}

Response list_quarantine(Call& c) {
  const auto& name = c.path.at("name");
  const auto& registry = c.s.live.registry();
  if (!registry.has(name)) throw engine::UnknownProjection("unknown projection '" + name + "'");
  int active = 0;
  std::int64_t total = 0;
  for (const auto& s : c.s.live.status()) {
    if (s.name == name) {
      active = s.active_version;
      total = s.quarantined;
    }
  }
  const int version = static_cast<int>(c.int_param("version", active, 1, INT32_MAX));
  const auto after = c.int_param("after", 0, 0, std::numeric_limits<std::int64_t>::max());
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  Json items = Json::array();
  for (const auto& q : c.s.live.quarantined(name, version, after, static_cast<std::size_t>(limit))) {
    items.push_back({{"version", q.version},
                     {"global_position", q.global_position},
                     {"event_id", q.event_id},
                     {"type", q.event_type},
                     {"error", q.error},
                     {"rebuild_id", q.rebuild_id ? Json(*q.rebuild_id) : Json(nullptr)},
                     {"quarantined_at", q.quarantined_at}});
  }
  Json next = items.size() == static_cast<std::size_t>(limit) ? items.back()["global_position"] : Json(nullptr);
  return json_response(http::status::ok, {{"projection", name},
                                          {"version", version},
                                          {"active_version_count", total},
                                          {"items", std::move(items)},
                                          {"next", std::move(next)}});
}

Response rollback(Call& c) {
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
