// The route table: which handler answers which method and path, and the point-read fast path.
#include "api/router.hpp"

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/errors.hpp"
#include "api/handlers.hpp"
#include "api/response.hpp"
#include "api/token_secret.hpp"
#include "engine/audit_log.hpp"
#include "engine/errors.hpp"
#include "engine/live_projections.hpp"

namespace reproj::api {

// How an audited request's body is kept in the trail: as it is (small documents without secrets),
// or as its SHA-256 (documents that may hold a secret: a reactor's HMAC key, a source's URL).
enum class Body { kKept, kDigest };

// A route's scope. No default: a table entry without one does not compile (docs/DESIGN.md, invariant 17).
struct RouteAccess {
  RouteAccess(engine::Access a) : value(a) {}  // implicit: the table lists bare Access values
  engine::Access value;
};

struct Route {
  http::verb method;
  std::string pattern;  // "/streams/{stream_id}/events"; {projection} matches registered names only
  std::function<Response(Call&)> handler;
  RouteAccess access;     // what the caller's token must permit (Authorizer)
  std::string audit;      // the action recorded in the audit trail; empty: not recorded
  Body body;
  std::vector<std::string> segments;
};

namespace {

// ---- routing -------------------------------------------------------------------------------

std::vector<std::string> split_pattern(const std::string& p) {
  std::vector<std::string> out;
  std::size_t i = 1;
  while (i <= p.size()) {
    auto j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

const std::vector<Route>& routes() {
  static const std::vector<Route> kRoutes = [] {
    using A = engine::Access;
    const auto admin = A::kAdmin;
    std::vector<Route> r{
        {http::verb::post, "/streams/{stream_id}/events", append_events, A::kAppend, "", Body::kDigest, {}},
        {http::verb::get, "/events", list_events, A::kRead, "", Body::kDigest, {}},
        {http::verb::get, "/healthz", healthz, A::kPublic, "", Body::kDigest, {}},
        {http::verb::get, "/readyz", readyz, A::kPublic, "", Body::kDigest, {}},
        {http::verb::get, "/metrics", metrics, A::kRead, "", Body::kDigest, {}},
        {http::verb::get, "/openapi.json", openapi, A::kPublic, "", Body::kDigest, {}},
        {http::verb::get, "/admin", dashboard, A::kPublic, "", Body::kDigest, {}},
        {http::verb::get, "/admin/projections", admin_projections, admin, "", Body::kDigest, {}},
        {http::verb::get, "/admin/series", admin_series, admin, "", Body::kDigest, {}},
        {http::verb::post, "/admin/projections/{name}/rebuild", start_rebuild, admin, "projection.rebuild", Body::kKept, {}},
        {http::verb::post, "/admin/projections/{name}/rollback", rollback, admin, "projection.rollback", Body::kKept, {}},
        {http::verb::put, "/admin/projections/{name}/poison_policy", set_poison_policy, admin, "projection.poison_policy", Body::kKept, {}},
        {http::verb::get, "/admin/projections/{name}/quarantine", list_quarantine, admin, "", Body::kDigest, {}},
        {http::verb::put, "/admin/projections/{name}/versions/{version}", put_version, admin, "spec.deploy", Body::kDigest, {}},
        {http::verb::get, "/admin/projections/{name}/versions/{version}", get_version, admin, "", Body::kDigest, {}},
        {http::verb::get, "/admin/rebuilds", list_rebuilds, admin, "", Body::kDigest, {}},
        {http::verb::get, "/admin/rebuilds/{id}", get_rebuild, admin, "", Body::kDigest, {}},
        {http::verb::delete_, "/admin/rebuilds/{id}", cancel_rebuild, admin, "rebuild.cancel", Body::kKept, {}},
        {http::verb::post, "/admin/rebuilds/{id}/promote", promote_rebuild, admin, "rebuild.promote", Body::kKept, {}},
        {http::verb::get, "/admin/rebuilds/{id}/diff", get_diff, admin, "", Body::kDigest, {}},
        {http::verb::post, "/admin/rebuilds/{id}/diff", refresh_diff, admin, "rebuild.diff", Body::kKept, {}},
        {http::verb::get, "/admin/reactors", list_reactors, admin, "", Body::kDigest, {}},
        {http::verb::put, "/admin/reactors/{name}", put_reactor, admin, "reactor.put", Body::kDigest, {}},
        {http::verb::get, "/admin/reactors/{name}", get_reactor, admin, "", Body::kDigest, {}},
        {http::verb::delete_, "/admin/reactors/{name}", delete_reactor, admin, "reactor.delete", Body::kKept, {}},
        {http::verb::post, "/admin/reactors/{name}/pause", pause_reactor, admin, "reactor.pause", Body::kKept, {}},
        {http::verb::post, "/admin/reactors/{name}/resume", resume_reactor, admin, "reactor.resume", Body::kKept, {}},
        {http::verb::post, "/admin/reactors/{name}/reset", reset_reactor, admin, "reactor.reset", Body::kKept, {}},
        {http::verb::get, "/admin/reactors/{name}/dead-letters", list_dead_letters, admin, "", Body::kDigest, {}},
        {http::verb::post, "/admin/reactors/{name}/dead-letters/{event_id}/retry", retry_dead_letter, admin,
         "reactor.dead_letter.retry", Body::kKept, {}},
        {http::verb::delete_, "/admin/reactors/{name}/dead-letters/{event_id}", delete_dead_letter, admin,
         "reactor.dead_letter.delete", Body::kKept, {}},
        {http::verb::get, "/admin/sources", list_sources, admin, "", Body::kDigest, {}},
        {http::verb::put, "/admin/sources/{name}", put_source, admin, "source.put", Body::kDigest, {}},
        {http::verb::get, "/admin/sources/{name}", get_source, admin, "", Body::kDigest, {}},
        {http::verb::delete_, "/admin/sources/{name}", delete_source, admin, "source.delete", Body::kKept, {}},
        {http::verb::post, "/admin/sources/{name}/pause", pause_source, admin, "source.pause", Body::kKept, {}},
        {http::verb::post, "/admin/sources/{name}/resume", resume_source, admin, "source.resume", Body::kKept, {}},
        {http::verb::get, "/admin/sources/{name}/quarantine", source_quarantine, admin, "", Body::kDigest, {}},
        {http::verb::post, "/admin/tokens", create_token, admin, "token.create", Body::kKept, {}},
        {http::verb::get, "/admin/tokens", list_tokens, admin, "", Body::kDigest, {}},
        {http::verb::delete_, "/admin/tokens/{name}", revoke_token, admin, "token.revoke", Body::kKept, {}},
        {http::verb::get, "/admin/audit", list_audit, admin, "", Body::kDigest, {}},
        {http::verb::get, "/admin/replicas", list_replicas, admin, "", Body::kDigest, {}},
        {http::verb::get, "/{projection}/{id}/history", row_history, A::kReadProjection, "", Body::kDigest, {}},
        {http::verb::get, "/{projection}/{id}", get_row, A::kReadProjection, "", Body::kDigest, {}},
        {http::verb::get, "/{projection}", list_rows, A::kReadProjection, "", Body::kDigest, {}},
    };
    for (auto& route : r) route.segments = split_pattern(route.pattern);
    return r;
  }();
  return kRoutes;
}

bool match(const Route& route, const std::vector<std::string>& segments, Services& s,
           std::map<std::string, std::string>& params) {
  if (route.segments.size() != segments.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& p = route.segments[i];
    if (p.size() > 2 && p.front() == '{') {
      const auto name = p.substr(1, p.size() - 2);
      if (name == "projection" && !s.live.registry().has(segments[i])) return false;
      params[name] = segments[i];
    } else if (p != segments[i]) {
      return false;
    }
  }
  return true;
}

// Finds the route for `req` and fills `call` (path and query parameters). Returns null when no
// route matches; `allow` then lists the methods of routes matching the path. Throws on malformed
// targets.
const Route* match_route(const Request& req, Call& call, std::string& allow) {
  const std::string_view target{req.target().data(), req.target().size()};
  const auto qpos = target.find('?');
  const std::string_view path = target.substr(0, qpos);
  if (path.empty() || path.front() != '/') throw bad_request("request target must be an absolute path");
  std::vector<std::string> segments;
  for (std::size_t i = 1; i <= path.size();) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    auto seg = percent_decode(path.substr(i, j - i), Plus::kLiteral);
    if (!seg) throw bad_request("malformed percent-encoding in the path");
    segments.push_back(std::move(*seg));
    i = j + 1;
  }
  if (segments.size() > 1 && segments.back().empty()) segments.pop_back();  // trailing slash
  if (qpos != std::string_view::npos) {
    std::string_view q = target.substr(qpos + 1);
    while (!q.empty()) {
      auto amp = q.find('&');
      auto part = q.substr(0, amp);
      auto eq = part.find('=');
      auto key = percent_decode(part.substr(0, eq), Plus::kSpace);
      auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), Plus::kSpace);
      if (!key || !value) throw bad_request("malformed percent-encoding in the query");
      if (!key->empty()) call.query[*key] = *value;
      if (amp == std::string_view::npos) break;
      q = q.substr(amp + 1);
    }
  }
  std::map<std::string, std::string> params;
  for (const auto& route : routes()) {
    if (!match(route, segments, call.s, params)) continue;
    if (route.method != req.method()) {
      const std::string m{http::to_string(route.method)};
      if (allow.find(m) == std::string::npos) allow += (allow.empty() ? "" : ", ") + m;
      continue;
    }
    call.path = params;
    return &route;
  }
  if (allow.empty()) throw HttpError(http::status::not_found, "not_found", "no route for " + std::string{path});
  return nullptr;
}

// The answer for the exception in flight, and whether waiting for the catch-up worker can turn it
// into a row.
void answer_current_exception(Routed& out) {
  out.response = error_from_current_exception();
  try {
    throw;
  } catch (const engine::ProjectionBehind& e) {
    if (auto at = e.readable_at()) out.wait = ReadWait{e.projection(), *at};
  } catch (...) {
  }
}

constexpr const char* kPointReadRoute = "/{projection}/{id}";
constexpr const char* kAppendRoute = "/streams/{stream_id}/events";

// The object a route's access names: the projection read, the stream appended to.
std::string access_object(const Route& route, const std::map<std::string, std::string>& path) {
  if (route.access.value == engine::Access::kReadProjection) return path.at("projection");
  if (route.access.value == engine::Access::kAppend) return path.at("stream_id");
  return {};
}

// An audited request's row: who, what, on which object, the request's essentials.
engine::AuditEntry audit_entry(const Route& route, const Request& req, const std::map<std::string, std::string>& path,
                               const Principal& who) {
  engine::AuditEntry e;
  e.token = who.name;
  e.action = route.audit;
  for (const auto& [name, value] : path) e.object += (e.object.empty() ? "" : "/") + value;
  const std::string_view target{req.target().data(), req.target().size()};
  e.request = {{"method", std::string{req.method_string()}}, {"target", std::string{target.substr(0, 1000)}}};
  const auto& body = req.body();
  if (!body.empty()) {
    const auto parsed = route.body == Body::kKept && body.size() <= 4096 ? Json::parse(body, nullptr, false) : Json();
    if (!parsed.is_discarded() && !parsed.is_null()) {
      e.request["body"] = parsed;
    } else {
      e.request["body_sha256"] = sha256_hex(body);
      e.request["body_bytes"] = body.size();
    }
  }
  return e;
}

// "ok" or "error: CODE" for what `res` answered.
std::string outcome_of(const Response& res) {
  if (res.result_int() < 400) return "ok";
  const auto answer = Json::parse(res.body(), nullptr, false);
  return "error: " + (answer.is_object() && answer.contains("error") && answer["error"].is_string()
                          ? answer["error"].get<std::string>()
                          : std::to_string(res.result_int()));
}

Lane lane_of(const std::string& pattern) {
  if (pattern == "/healthz") return Lane::kHealth;
  if (pattern == kAppendRoute) return Lane::kAppend;
  if (pattern == "/events" || pattern.rfind("/{projection}", 0) == 0) return Lane::kRead;
  return Lane::kAdmin;
}

}  // namespace

std::vector<RouteInfo> route_table() {
  std::vector<RouteInfo> out;
  for (const auto& r : routes()) out.push_back({std::string{http::to_string(r.method)}, r.pattern, r.access.value, r.audit});
  return out;
}

Resolved resolve(const Request& req, Services& s, const Peer& peer) {
  Resolved out;
  out.request = &req;
  try {
    Call call{req, s, {}, {}};
    std::string allow;
    out.route = match_route(req, call, allow);
    if (!out.route) {
      out.answer.emplace();
      out.answer->response = json_error(http::status::method_not_allowed, "method_not_allowed",
                                        std::string{req.method_string()} + " is not allowed here; allowed: " + allow);
      out.answer->response.set(http::field::allow, allow);
      return out;
    }
    out.pattern = out.route->pattern;
    out.lane = lane_of(out.pattern);
    out.path = std::move(call.path);
    out.query = std::move(call.query);
    out.principal = s.auth.authorize(req, peer, out.route->access.value, access_object(*out.route, out.path));
  } catch (...) {
    out.route = nullptr;
    out.answer.emplace();
    answer_current_exception(*out.answer);
  }
  return out;
}

Routed handle(Resolved r, Services& s) {
  if (!r.route) return std::move(*r.answer);
  Routed out;
  out.route = r.pattern;
  const Route& route = *r.route;
  // An admin action is recorded before it runs (pending) and finished after: none goes unrecorded,
  // and one the trail cannot record is not done. Token changes finish their row in their own
  // transaction (Call::audited).
  std::int64_t audit_id = 0;
  if (!route.audit.empty() && s.audit) {
    try {
      audit_id = s.audit->begin(audit_entry(route, *r.request, r.path, r.principal));
    } catch (...) {
      answer_current_exception(out);
      return out;
    }
  }
  bool audited = false;
  try {
    Call call{*r.request, s, std::move(r.path), std::move(r.query), &r.principal};
    call.audit_id = audit_id;
    out.response = route.handler(call);
    audited = call.audited;
  } catch (...) {
    answer_current_exception(out);
  }
  if (audit_id && !audited) {
    try {
      s.audit->finish(audit_id, outcome_of(out.response), static_cast<int>(out.response.result_int()));
    } catch (const std::exception& ex) {
      // The action is done; its row stays "pending" and says so.
      spdlog::error("audit: cannot finish row {} ({}): {}", audit_id, route.audit, ex.what());
    }
  }
  return out;
}

Routed handle(const Request& req, Services& s) { return handle(resolve(req, s), s); }

std::optional<PointRead> point_read(const Resolved& r, Services& s) {
  if (!r.route || r.pattern != kPointReadRoute || r.request->method() != http::verb::get) return std::nullopt;
  if (r.query.count("as_of") || r.query.count("as_of_time")) return std::nullopt;  // time travel: get_row
  try {
    Call call{*r.request, s, r.path, r.query};
    return PointRead{call.path.at("projection"), checked_id("id", call.path.at("id")), call.read_options()};
  } catch (...) {
    return std::nullopt;  // handle() answers it with the error
  }
}

ParsedAppend parse_append(Resolved r, Services& s) {
  ParsedAppend out;
  out.error.route = kAppendRoute;
  if (!r.route || r.pattern != kAppendRoute) {
    out.error = handle(std::move(r), s);  // not an append after all
    return out;
  }
  try {
    Call call{*r.request, s, std::move(r.path), std::move(r.query)};
    out.request = parse_append(call);
  } catch (...) {
    out.error.response = error_from_current_exception();
  }
  return out;
}

Routed answer_append(const engine::AppendOutcome& outcome) {
  Routed out;
  out.route = kAppendRoute;
  try {
    if (outcome.error) std::rethrow_exception(outcome.error);
    out.response = append_response(outcome.result);
  } catch (...) {
    out.response = error_from_current_exception();
  }
  return out;
}

Routed answer_point_read(const PointRead& read, const std::function<engine::ReadResult()>& result) {
  Routed out;
  out.route = kPointReadRoute;
  try {
    out.response = row_response(read.projection, read.id, result());
  } catch (...) {
    answer_current_exception(out);
  }
  return out;
}

}  // namespace reproj::api

