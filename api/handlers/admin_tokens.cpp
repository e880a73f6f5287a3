// Admin handlers of access tokens and of the audit trail (docs/DESIGN.md, invariant 17).
#include <limits>

#include "api/handlers.hpp"
#include "api/response.hpp"
#include "api/token_secret.hpp"
#include "engine/audit_log.hpp"
#include "engine/token_store.hpp"

namespace reproj::api {

namespace {

engine::TokenStore& tokens(Call& c) {
  if (!c.s.tokens) throw HttpError(http::status::service_unavailable, "unavailable", "this server keeps no tokens");
  return *c.s.tokens;
}

Json token_to_json(const engine::TokenInfo& t) {
  Json out{{"name", t.name}, {"scopes", t.scopes}, {"created_at", t.created_at}, {"created_by", t.created_by}};
  out["expires_at"] = t.expires_at.empty() ? Json(nullptr) : Json(t.expires_at);
  return out;
}

// The audit row a token change commits with: it finishes the row begun for this request (or, with
// no trail begun, adds one).
engine::AuditEntry audit_of(const Call& c, const std::string& action, const std::string& object, Json request) {
  engine::AuditEntry e;
  e.id = c.audit_id;
  e.token = c.who ? c.who->name : "cli";
  e.action = action;
  e.object = object;
  e.request = std::move(request);
  e.outcome = "ok";
  e.status = action == "token.create" ? 201 : 204;
  return e;
}

// This instance knows of the change at once; the others within their refresh interval.
void refresh_here(const Call& c) {
  try {
    c.s.auth.refresh();
  } catch (const std::exception&) {
    // The refresh thread tries again shortly.
  }
}

}  // namespace

Response create_token(Call& c) {
  auto& store = tokens(c);
  const Json body = c.body_json();
  if (!body.is_object()) throw bad_request("body must be {\"name\": ..., \"scopes\": [...]}");
  for (const auto& [key, value] : body.items()) {
    if (key != "name" && key != "scopes" && key != "expires_at") throw bad_request("unknown field '" + key + "'");
  }
  if (!body.contains("name") || !body["name"].is_string()) throw bad_request("name must be a string");
  if (!body.contains("scopes") || !body["scopes"].is_array() || body["scopes"].empty()) {
    throw bad_request("scopes must be a non-empty array of strings");
  }
  std::vector<std::string> scopes;
  for (const auto& s : body["scopes"]) {
    if (!s.is_string()) throw bad_request("scopes must be a non-empty array of strings");
    scopes.push_back(s.get<std::string>());
  }
  std::optional<std::string> expires_at;
  if (body.contains("expires_at") && !body["expires_at"].is_null()) {
    if (!body["expires_at"].is_string()) throw bad_request("expires_at must be an RFC 3339 time");
    expires_at = body["expires_at"].get<std::string>();
  }
  const auto name = body["name"].get<std::string>();
  const std::string secret = new_token_secret();
  Json request{{"name", name}, {"scopes", scopes}};
  if (expires_at) request["expires_at"] = *expires_at;
  const auto info = store.create(name, scopes, sha256_hex(secret), expires_at,
                                 audit_of(c, "token.create", name, std::move(request)));
  c.audited = true;
  refresh_here(c);
  Json out = token_to_json(info);
  out["token"] = secret;  // the only time it is shown
  return json_response(http::status::created, out);
}

Response list_tokens(Call& c) {
  Json items = Json::array();
  for (const auto& t : tokens(c).list()) items.push_back(token_to_json(t));
  return json_response(http::status::ok, {{"items", std::move(items)}});
}

Response revoke_token(Call& c) {
  const auto& name = c.path.at("name");
  tokens(c).revoke(name, audit_of(c, "token.revoke", name, {{"method", "DELETE"}}));
  c.audited = true;
  refresh_here(c);
  return respond(http::status::no_content, "application/json", "");
}

Response list_audit(Call& c) {
  if (!c.s.audit) throw HttpError(http::status::service_unavailable, "unavailable", "this server keeps no audit trail");
  const auto after = c.int_param("after", 0, 0, std::numeric_limits<std::int64_t>::max());
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  const auto found = c.s.audit->list(after, static_cast<std::size_t>(limit));
  Json items = Json::array();
  for (const auto& e : found) {
    items.push_back({{"id", e.id},
                     {"at", e.at},
                     {"token", e.token},
                     {"action", e.action},
                     {"object", e.object},
                     {"outcome", e.outcome},
                     {"status", e.status},
                     {"request", e.request}});
  }
  Json out{{"items", std::move(items)}};
  out["next"] = static_cast<std::int64_t>(found.size()) == limit ? Json(std::to_string(found.back().id)) : Json(nullptr);
  return json_response(http::status::ok, out);
}

}  // namespace reproj::api
