#include "api/cli/admin_call.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include <nlohmann/json.hpp>

#include "api/cli/engine_root.hpp"
#include "api/http_client.hpp"
#include "api/metrics.hpp"
#include "api/token_secret.hpp"
#include "engine/audit_log.hpp"
#include "engine/token_store.hpp"
#include "sources/source_manager.hpp"

namespace reproj::cli {

std::string read_document(const std::string& file) {
  std::string body;
  if (file == "-") {
    body.assign(std::istreambuf_iterator<char>{std::cin}, {});
  } else {
    std::ifstream in{file};
    if (!in) throw std::invalid_argument("cannot read " + file);
    body.assign(std::istreambuf_iterator<char>{in}, {});
  }
  return body;
}

int print_answer(unsigned status, const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (status >= 300) {
    std::cerr << "error: " << status << " " << body << "\n";
    return kExitFailed;
  }
  if (status == 204) return 0;
  std::cout << (j.is_discarded() ? body : j.dump(2)) << "\n";
  return 0;
}

int call_server(const ServerArgs& server, const AdminRequest& r) {
  const auto reply = api::http_call(server.url, r.method, r.target, r.body, {{"Authorization", "Bearer " + server.token}},
                                    60, server.cacert);
  return print_answer(reply.status, reply.body);
}

namespace {
const std::string& in_process_token() {
  static const std::string token = api::new_token_secret();
  return token;
}
}  // namespace

const api::Authorizer& in_process_auth() {
  static const api::Authorizer auth{{api::AuthMode::kOpen, in_process_token(), "cli", {}, {}}, nullptr, nullptr};
  return auth;
}

int call_here(const AdminRequest& r, const api::Services& given) {
  api::Services services = given;
  api::Request req{api::http::string_to_verb(r.method), r.target, 11};
  req.set(api::http::field::authorization, "Bearer " + in_process_token());
  req.body() = r.body;
  req.prepare_payload();
  const auto routed = api::handle(req, services);
  return print_answer(routed.response.result_int(), routed.response.body());
}

int dispatch(const DatabaseArgs& db, const ServerArgs& server, const std::function<AdminRequest()>& make,
             InProcessNeeds needs) {
  AdminRequest r;
  try {
    r = make();
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
  std::optional<sources::SourceManager> manager;  // not started: documents and status only
  if (needs.sources) manager.emplace(e.pool, e.store, db.url);
  std::optional<engine::TokenStore> tokens;
  if (needs.tokens) tokens.emplace(e.pool);
  engine::AuditLog audit{e.pool};
  api::RequestMetrics metrics;
  return call_here(r, {e.store, e.live, *e.rebuilds, nullptr, metrics, in_process_auth(), nullptr, &e.specs, &e.reactors,
                       manager ? &*manager : nullptr, nullptr, tokens ? &*tokens : nullptr, &audit});
}

}  // namespace reproj::cli
