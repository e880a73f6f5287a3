// `reproj reactor ...`: reactors from the command line. With --server it calls that server's admin
// API; without, it answers the same request in-process against the database (the same handlers,
// so the same checks, JSON and errors).
#include <iostream>

#include "api/cli/admin_call.hpp"
#include "api/cli/engine_root.hpp"
#include "api/metrics.hpp"
#include "engine/audit_log.hpp"

namespace reproj::cli {

namespace {

// The admin request `reproj reactor ARGS` stands for: method, target, body. Throws
// std::invalid_argument with a usage message.
AdminRequest request_for(const ReactorArgs& a) {
  const std::string base = "/admin/reactors/" + a.name;
  auto need_name = [&] {
    if (a.name.empty()) throw std::invalid_argument("reactor " + a.action + " needs a reactor NAME");
  };
  if (a.action == "list") return {"GET", "/admin/reactors", ""};
  need_name();
  if (a.action == "show") return {"GET", base, ""};
  if (a.action == "delete") return {"DELETE", base, ""};
  if (a.action == "pause" || a.action == "resume") return {"POST", base + "/" + a.action, ""};
  if (a.action == "reset") {
    if (a.position < 0) throw std::invalid_argument("reactor reset needs --position P (0: from the beginning)");
    return {"POST", base + "/reset", nlohmann::json{{"position", a.position}}.dump()};
  }
  if (a.action == "dead-letters") return {"GET", base + "/dead-letters?limit=1000", ""};
  if (a.action == "retry" || a.action == "drop") {
    if (a.event_id.empty()) throw std::invalid_argument("reactor " + a.action + " needs an EVENT_ID");
    return a.action == "retry" ? AdminRequest{"POST", base + "/dead-letters/" + a.event_id + "/retry", ""}
                               : AdminRequest{"DELETE", base + "/dead-letters/" + a.event_id, ""};
  }
  if (a.action == "put") {
    if (a.file.empty()) throw std::invalid_argument("reactor put needs --file F (a JSON document; - for stdin)");
    return {"PUT", base, read_document(a.file)};
  }
  throw std::invalid_argument("unknown reactor action '" + a.action +
                              "' (list, show, put, pause, resume, reset, delete, dead-letters, retry, drop)");
}

}  // namespace

int reactor(const DatabaseArgs& db, const ServerArgs& server, const ReactorArgs& args) {
  AdminRequest r;
  try {
    r = request_for(args);
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  }
  if (!server.url.empty()) return call_server(server, r);
  EngineRoot e{db, 2};
  api::RequestMetrics metrics;
  engine::AuditLog audit{e.pool};
  return call_here(r, {e.store, e.live, *e.rebuilds, nullptr, metrics, in_process_auth(), nullptr, &e.specs, &e.reactors,
                       nullptr, nullptr, nullptr, &audit});
}

}  // namespace reproj::cli
