// `reproj reactor ...`: reactors from the command line. With --server it calls that server's admin
// API; without, it answers the same request in-process against the database (the same handlers,
// so the same checks, JSON and errors).
#include <iostream>

#include "api/cli/admin_call.hpp"

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
  return dispatch(db, server, [&] { return request_for(args); });
}

}  // namespace reproj::cli
