// GET /admin/replicas: the read replicas this instance routes eventual reads to, as its prober last
// saw them (engine/replica_set.hpp). Never a password: host and port only.
#include "api/handlers.hpp"

#include "api/response.hpp"
#include "engine/replica_set.hpp"

namespace reproj::api {

namespace {
// A number, or the text libpq was given when it is not one (a list of ports for a list of hosts).
Json port_json(const std::string& port) {
  if (!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoi(port);
  }
  return port;
}
}  // namespace

Response list_replicas(Call& c) {
  Json items = Json::array();
  if (c.s.replicas) {
    for (const auto& r : c.s.replicas->info()) {
      items.push_back({{"name", r.name},
                       {"host", r.host},
                       {"port", port_json(r.port)},
                       {"state", engine::ReplicaSet::name(r.state)},
                       {"lag_bytes", r.lag_bytes},
                       {"lag_seconds", r.lag_seconds},
                       {"reads", r.reads},
                       {"sent_to_primary", r.behind},
                       {"error", r.error.empty() ? Json(nullptr) : Json(r.error)}});
    }
  }
  return json_response(http::status::ok, {{"items", std::move(items)}});
}

}  // namespace reproj::api
