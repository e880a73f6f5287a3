// `reproj token create|list|revoke`: access tokens from the command line. With --server it calls that
// server's admin API; without, it answers the same request in-process against the database (the
// same handlers, so the same checks, JSON and audit rows).
#include <iostream>

#include <nlohmann/json.hpp>

#include "api/cli/admin_call.hpp"

namespace reproj::cli {

namespace {

AdminRequest request_for(const TokenArgs& a) {
  if (a.action == "list") return {"GET", "/admin/tokens", ""};
  if (a.name.empty()) throw std::invalid_argument("token " + a.action + " needs a token NAME");
  if (a.action == "revoke") return {"DELETE", "/admin/tokens/" + a.name, ""};
  if (a.action == "create") {
    if (a.scopes.empty()) throw std::invalid_argument("token create needs at least one --scope (read, read:P, append, append:PREFIX, admin)");
    nlohmann::json body{{"name", a.name}, {"scopes", a.scopes}};
    if (!a.expires_at.empty()) body["expires_at"] = a.expires_at;
    return {"POST", "/admin/tokens", body.dump()};
  }
  throw std::invalid_argument("unknown token action '" + a.action + "' (create, list, revoke)");
}

}  // namespace

int token(const DatabaseArgs& db, const ServerArgs& server, const TokenArgs& args) {
  return dispatch(db, server, [&] { return request_for(args); }, {.tokens = true});
}

}  // namespace reproj::cli
