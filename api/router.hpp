#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/asio.hpp"
#include "api/metrics.hpp"

namespace reproj::engine {
class CatchUpWorker;
class EventStore;
class LiveProjections;
class RebuildManager;
}  // namespace reproj::engine

namespace reproj::api {

/// What handlers use. Owned by the composition root (main.cpp); outlives the server.
struct Services {
  engine::EventStore& store;
  engine::LiveProjections& live;
  engine::RebuildManager& rebuilds;
  const engine::CatchUpWorker* worker;  // readiness; may be null
  RequestMetrics& metrics;
  std::string admin_token;
};

/// A response and the route pattern that produced it (metrics label), e.g. "/cars/{id}".
struct Routed {
  Response response;
  std::string route = "unmatched";
};

/// Request -> response, apart from any socket. Blocks on the database: call it off the I/O
/// threads. Never throws: every failure becomes a JSON error response.
Routed handle(const Request& request, Services& services);

/// Every route as (method, pattern), e.g. ("GET", "/{projection}/{id}"): the OpenAPI test checks
/// the document against this table.
std::vector<std::pair<std::string, std::string>> route_table();

/// The dashboard page and the OpenAPI document, compiled in (see api/CMakeLists.txt).
std::string_view dashboard_html();
std::string_view openapi_json();

}  // namespace reproj::api
