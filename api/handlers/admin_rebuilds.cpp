// Admin handlers of rebuilds: one, all, cancel; and the dashboard's page and series.
#include "api/handlers.hpp"

#include <charconv>

#include "api/admin_series.hpp"
#include "api/json_mapping.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "engine/rebuild.hpp"

namespace reproj::api {

namespace {

std::int64_t rebuild_id(const Call& c) {
  const auto& v = c.path.at("id");
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
  if (ec != std::errc{} || p != v.data() + v.size() || id < 1) throw bad_request("rebuild id must be a positive integer");
  return id;
}

}  // namespace

Response get_rebuild(Call& c) {
  auto info = c.s.rebuilds.get(rebuild_id(c));
  if (!info) throw engine::NotFound("no rebuild " + c.path.at("id"));
  return json_response(http::status::ok, rebuild_to_json(*info));
}

Response cancel_rebuild(Call& c) {
  return json_response(http::status::ok, rebuild_to_json(c.s.rebuilds.cancel(rebuild_id(c))));
}

Response promote_rebuild(Call& c) {
  return json_response(http::status::accepted, rebuild_to_json(c.s.rebuilds.request_promote(rebuild_id(c))));
}

Response get_diff(Call& c) {
  const auto id = rebuild_id(c);
  auto report = c.s.rebuilds.diff(id);
  if (!report) throw engine::NotFound("rebuild " + std::to_string(id) + " has no diff yet (one is made when it is ready)");
  auto res = json_response(http::status::ok, Json::object());
  res.body() = *report;
  res.prepare_payload();
  return res;
}

Response refresh_diff(Call& c) {
  return json_response(http::status::accepted, rebuild_to_json(c.s.rebuilds.request_diff(rebuild_id(c))));
}

Response list_rebuilds(Call& c) {
  Json out = Json::array();
  for (const auto& r : c.s.rebuilds.list()) out.push_back(rebuild_to_json(r));
  return json_response(http::status::ok, {{"rebuilds", std::move(out)}});
}

Response admin_series(Call& c) {
  if (!c.s.series) throw HttpError(http::status::service_unavailable, "unavailable", "this server keeps no series");
  return json_response(http::status::ok, c.s.series->to_json());
}

Response dashboard(Call&) {
  auto res = respond(http::status::ok, "text/html; charset=utf-8", std::string{dashboard_html()});
  res.set(http::field::cache_control, "no-store");
  return res;
}

}  // namespace reproj::api
