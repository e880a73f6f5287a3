// `reproj token create|list|revoke`: access tokens from the command line. With --server it calls that
// server's admin API; without, it answers the same request in-process against the database (the
// same handlers, so the same checks, JSON and audit rows).
#include <iostream>

#include <nlohmann/json.hpp>

#include "api/cli/admin_call.hpp"
#include "api/cli/engine_root.hpp"
#include "api/metrics.hpp"
#include "engine/audit_log.hpp"
#include "engine/token_store.hpp"

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
  AdminRequest r;
  try {
    r = request_for(args);
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  }
  if (!server.url.empty()) return call_server(server, r);
  if (db.url.empty()) {
    std::cerr << "error: no database: pass --database-url or set DATABASE_URL (or --server)\n";
    return kExitUsage;
  }
  EngineRoot e{db, 2};
  engine::TokenStore tokens{e.pool};
  engine::AuditLog audit{e.pool};
  api::RequestMetrics metrics;
  api::Services services{e.store,  e.live,  *e.rebuilds, nullptr, metrics, in_process_auth(), nullptr,
                         &e.specs, nullptr, nullptr,     nullptr, &tokens, &audit};
  return call_here(r, services);
}

}  // namespace reproj::cli
