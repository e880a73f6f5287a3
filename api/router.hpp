#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/asio.hpp"
#include "api/authorizer.hpp"
#include "api/metrics.hpp"
#include "engine/event.hpp"
#include "engine/live_projections.hpp"

namespace reproj::engine {
class AuditLog;
class ReplicaSet;
class CatchUpWorker;
class TokenStore;
class EventStore;
class ReactorStore;
class RebuildManager;
}  // namespace reproj::engine
namespace reproj::engine::spec {
class SpecCatalog;
}  // namespace reproj::engine::spec
namespace reproj::sources {
class SourceManager;
}  // namespace reproj::sources

namespace reproj::api {

class AdminSeries;
class EventPages;

/// What handlers use. Owned by the composition root (main.cpp); outlives the server.
struct Services {
  engine::EventStore& store;
  engine::LiveProjections& live;
  engine::RebuildManager& rebuilds;
  const engine::CatchUpWorker* worker;  // readiness; may be null
  RequestMetrics& metrics;
  const Authorizer& auth;  // who may do what (resolve() asks it before any handler runs)
  const AdminSeries* series;  // the dashboard's charts; may be null (GET /admin/series answers 503)
  engine::spec::SpecCatalog* specs;  // deploying specs; may be null (PUT .../versions/{v} answers 503)
  engine::ReactorStore* reactors;    // webhooks; may be null (/admin/reactors answers 503)
  sources::SourceManager* sources;   // sources; may be null (/admin/sources answers 503, reads sync nothing)
  EventPages* pages;                 // GET /events reading ahead; may be null (each page read when asked)
  engine::TokenStore* tokens = nullptr;  // /admin/tokens; may be null (answers 503)
  engine::AuditLog* audit = nullptr;     // the audit trail; may be null (admin actions go unrecorded)
  engine::ReplicaSet* replicas = nullptr;  // read replicas; may be null (none: GET /admin/replicas lists none)
};

/// A read that the catch-up worker will make answerable: asked again once `projection`'s
/// watermark reached `watermark`, it can answer (see ReadWaits).
struct ReadWait {
  std::string projection;
  std::int64_t watermark = 0;
};

/// A response and the route pattern that produced it (metrics label), e.g. "/cars/{id}".
struct Routed {
  Response response;
  std::string route = "unmatched";
  std::optional<ReadWait> wait;  // set with a 503 projection_behind that waiting can turn into an answer
};

/// The queue a request waits in. Each lane has its own threads (and so its own connections): a
/// stuck appender cannot hold up reads, and neither holds up operators. kHealth is answered on the
/// I/O thread: it touches no database.
enum class Lane { kHealth, kAppend, kRead, kAdmin };

struct Route;  // an entry of the route table (router.cpp)

/// A request matched against the route table, once: the server picks its lane from this, then
/// the handler, the point-read batcher or the append parser take it from there.
struct Resolved {
  const Request* request = nullptr;
  const Route* route = nullptr;  // null: `answer` is the reply (malformed target, 404, 405)
  std::string pattern = "unmatched";
  Lane lane = Lane::kAdmin;
  std::map<std::string, std::string> path;   // {name} -> value
  std::map<std::string, std::string> query;  // last value wins
  Principal principal;                        // who asks (authorised for the route)
  std::optional<Routed> answer;
};
/// Matches `request` and authorises it (Services::auth) for `peer` (cheap, no database: fine on an
/// I/O thread); a refusal is the answer. Never throws.
Resolved resolve(const Request& request, Services& services, const Peer& peer = {});

/// Request -> response, apart from any socket. Blocks on the database: call it off the I/O
/// threads. Never throws: every failure becomes a JSON error response.
Routed handle(Resolved resolved, Services& services);
/// resolve() then handle().
Routed handle(const Request& request, Services& services);

/// A read of one row, GET /{projection}/{id}, parsed and validated. The server batches these: many
/// concurrent ones share one statement (see ReadBatcher).
struct PointRead {
  std::string projection;
  std::string id;
  engine::ReadOptions options;
};

/// `resolved` as a point read, or nullopt for any other request and for a malformed point read
/// (handle() answers those, with the error).
std::optional<PointRead> point_read(const Resolved& resolved, Services& services);

/// What handle() answers for `read`, given its result or the exception `result` throws.
Routed answer_point_read(const PointRead& read, const std::function<engine::ReadResult()>& result);

/// An append (POST /streams/{stream_id}/events) parsed and checked for the group commit, or the
/// error answer handle() would give it.
struct ParsedAppend {
  std::optional<engine::AppendRequest> request;
  Routed error;  // when there is no request
};
ParsedAppend parse_append(Resolved resolved, Services& services);

/// What handle() answers for an append the engine decided (`outcome`).
Routed answer_append(const engine::AppendOutcome& outcome);

/// A route as the OpenAPI test and the authorisation test walk it.
struct RouteInfo {
  std::string method;   // "GET"
  std::string pattern;  // "/{projection}/{id}"
  engine::Access access;
  std::string audit;    // the audit trail's action for it; empty: not recorded
};
/// Every route: the OpenAPI test checks the document against this table.
std::vector<RouteInfo> route_table();

/// The dashboard page and the OpenAPI document, compiled in (see api/CMakeLists.txt).
std::string_view dashboard_html();
std::string_view openapi_json();

}  // namespace reproj::api
