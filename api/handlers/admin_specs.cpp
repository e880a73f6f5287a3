// Admin handlers of spec versions: deploy one (PUT), read one back (GET).
#include "api/handlers.hpp"

#include <charconv>

#include "api/json_mapping.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "engine/rebuild.hpp"
#include "engine/spec/spec_catalog.hpp"

namespace reproj::api {

namespace {

int version_of(Call& c) {
  const auto& text = c.path.at("version");
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < 1) {
    throw bad_request("version must be a positive integer, got '" + text + "'");
  }
  return v;
}

engine::spec::SpecCatalog& catalog(Call& c) {
  if (!c.s.specs) throw HttpError(http::status::service_unavailable, "unavailable", "this server does not deploy specs");
  return *c.s.specs;
}

}  // namespace

Response put_version(Call& c) {
  const auto deployed = engine::spec::deploy(catalog(c), c.s.live, c.s.rebuilds, c.req.body(),
                                             engine::VersionOrigin::Kind::kApi,
                                             std::make_pair(c.path.at("name"), version_of(c)));
  const auto& spec = deployed.put.spec;
  Json out = {{"projection", spec.projection}, {"version", spec.version}, {"sha256", spec.sha256}};
  if (deployed.rebuild_id) {
    out["rebuild_id"] = *deployed.rebuild_id;
    out["status_url"] = "/admin/rebuilds/" + std::to_string(*deployed.rebuild_id);
  }
  return json_response(deployed.put.created ? http::status::created : http::status::ok, out);
}

Response get_version(Call& c) {
  auto res = json_response(http::status::ok, Json::object());
  res.body() = version_json(c.s.live.registry(), c.s.specs, c.path.at("name"), version_of(c));
  res.prepare_payload();
  return res;
}

}  // namespace reproj::api
