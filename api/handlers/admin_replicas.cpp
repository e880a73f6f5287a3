// GET /admin/replicas: the read replicas this instance routes eventual reads to, as its prober last
// saw them (engine/replica_set.hpp). Never a password: host and port only.
#include "api/handlers.hpp"

#include "api/response.hpp"
#include "engine/replica_set.hpp"

namespace reproj::api {

Response list_replicas(Call& c) {
  Json items = Json::array();
  if (c.s.replicas) {
    for (const auto& r : c.s.replicas->info()) {
      items.push_back({{"name", r.name},
                       {"host", r.host},
                       {"port", r.port},
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
