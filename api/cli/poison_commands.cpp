// The poison policy from the command line: set it, and list what a projection quarantined.
#include <iostream>

#include "api/cli/commands.hpp"
#include "api/cli/engine_root.hpp"
#include "api/http_client.hpp"
#include "api/json_mapping.hpp"
#include "api/projection_view.hpp"
#include "engine/errors.hpp"

namespace reproj::cli {

using Json = nlohmann::json;

std::pair<unsigned, Json> admin_call(const ServerArgs& server, const std::string& method, const std::string& target,
                                     const std::string& body) {
  auto reply = api::http_call(server.url, method, target, body, {{"Authorization", "Bearer " + server.token}}, 60,
                              server.cacert);
  return {reply.status, Json::parse(reply.body, nullptr, false)};
}

namespace {
int print_reply(unsigned status, const Json& body) {
  if (status != 200) {
    std::cerr << "error: " << status << " " << body.dump() << "\n";
    return kExitFailed;
  }
  std::cout << body.dump(2) << "\n";
  return 0;
}
}  // namespace

int set_poison_policy(const DatabaseArgs& db, const ServerArgs& server, const std::string& projection,
                      const std::string& policy) {
  const auto parsed = engine::parse_poison_policy(policy);
  if (!parsed) {
    std::cerr << "error: the poison policy is skip or stop, got '" << policy << "'\n";
    return kExitUsage;
  }
  if (!server.url.empty()) {
    auto [status, body] = admin_call(server, "PUT", "/admin/projections/" + projection + "/poison_policy",
                                     Json{{"poison_policy", policy}}.dump());
    return print_reply(status, body);
  }
  EngineRoot e{db, 2};
  e.live.set_poison_policy(projection, *parsed);
  for (const auto& view : api::projection_views(e.store, e.live, *e.rebuilds)) {
    if (view.status.name == projection) std::cout << api::projection_to_json(view).dump(2) << "\n";
  }
  return 0;
}

int quarantine(const DatabaseArgs& db, const ServerArgs& server, const std::string& projection, int version) {
  if (!server.url.empty()) {
    std::string target = "/admin/projections/" + projection + "/quarantine?limit=1000";
    if (version > 0) target += "&version=" + std::to_string(version);
    auto [status, body] = admin_call(server, "GET", target);
    return print_reply(status, body);
  }
  EngineRoot e{db, 2};
  if (version == 0) {
    for (const auto& s : e.live.status()) {
      if (s.name == projection) version = s.active_version;
    }
  }
  if (version == 0) throw engine::UnknownProjection("unknown projection '" + projection + "'");
  Json items = Json::array();
  for (const auto& q : e.live.quarantined(projection, version, 0, 1000)) {
    items.push_back({{"version", q.version}, {"global_position", q.global_position}, {"event_id", q.event_id},
                     {"type", q.event_type}, {"error", q.error}, {"quarantined_at", q.quarantined_at}});
  }
  std::cout << Json{{"projection", projection}, {"version", version}, {"items", items}}.dump(2) << "\n";
  return 0;
}

}  // namespace reproj::cli
