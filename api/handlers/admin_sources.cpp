// Admin handlers of sources: logs reproj does not own, ingested into its log exactly once.
#include "api/handlers.hpp"

#include "api/json_mapping.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "sources/source_manager.hpp"

namespace reproj::api {

namespace {

sources::SourceManager& manager(Call& c) {
  if (!c.s.sources) throw HttpError(http::status::service_unavailable, "unavailable", "this server runs no sources");
  return *c.s.sources;
}

sources::SourceStatus status_of(sources::SourceManager& m, const std::string& name) {
  auto s = m.store().status(name);
  if (!s) throw engine::NotFound("no source named '" + name + "'");
  return *s;
}

}  // namespace

Response list_sources(Call& c) {
  Json items = Json::array();
  for (const auto& s : manager(c).store().statuses()) items.push_back(source_to_json(s));
  return json_response(http::status::ok, {{"items", std::move(items)}});
}

Response put_source(Call& c) {
  auto& m = manager(c);
  const auto& name = c.path.at("name");
  const auto put = m.put(name, c.req.body());
  return json_response(put == sources::SourceStore::Put::kCreated ? http::status::created : http::status::ok,
                       source_to_json(status_of(m, name)));
}

Response get_source(Call& c) {
  auto& m = manager(c);
  return json_response(http::status::ok, source_to_json(status_of(m, c.path.at("name"))));
}

Response delete_source(Call& c) {
  auto& m = manager(c);
  if (!m.store().remove(c.path.at("name"))) throw engine::NotFound("no source named '" + c.path.at("name") + "'");
  return respond(http::status::no_content, "application/json", "");
}

Response pause_source(Call& c) {
  return json_response(http::status::ok, source_to_json(manager(c).store().set_paused(c.path.at("name"), true)));
}

Response resume_source(Call& c) {
  return json_response(http::status::ok, source_to_json(manager(c).store().set_paused(c.path.at("name"), false)));
}

Response source_quarantine(Call& c) {
  auto& m = manager(c);
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  Json items = Json::array();
  for (const auto& q : m.store().quarantine(c.path.at("name"), static_cast<std::size_t>(limit))) {
    items.push_back({{"position", q.position}, {"reason", q.reason}, {"record", q.record}, {"quarantined_at", q.quarantined_at}});
  }
  return json_response(http::status::ok, {{"items", std::move(items)}});
}

}  // namespace reproj::api
