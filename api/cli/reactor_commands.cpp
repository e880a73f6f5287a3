// `reproj reactor ...`: reactors from the command line. With --server it calls that server's admin
// API; without, it answers the same request in-process against the database (the same handlers,
// so the same checks, JSON and errors).
#include <fstream>
#include <iostream>
#include <iterator>

#include "api/cli/commands.hpp"
#include "api/cli/engine_root.hpp"
#include "api/http_client.hpp"
#include "api/metrics.hpp"
#include "api/router.hpp"

namespace reproj::cli {

namespace {

// The admin request `reproj reactor ARGS` stands for: method, target, body. Throws
// std::invalid_argument with a usage message.
struct AdminRequest {
  std::string method, target, body;
};

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
    std::string body;
    if (a.file == "-") {
      body.assign(std::istreambuf_iterator<char>{std::cin}, {});
    } else {
      std::ifstream in{a.file};
      if (!in) throw std::invalid_argument("cannot read " + a.file);
      body.assign(std::istreambuf_iterator<char>{in}, {});
    }
    return {"PUT", base, body};
  }
  throw std::invalid_argument("unknown reactor action '" + a.action +
                              "' (list, show, put, pause, resume, reset, delete, dead-letters, retry, drop)");
}

int print(unsigned status, const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (status >= 300) {
    std::cerr << "error: " << status << " " << body << "\n";
    return kExitFailed;
  }
  if (status == 204) return 0;
  std::cout << (j.is_discarded() ? body : j.dump(2)) << "\n";
  return 0;
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
  if (!server.url.empty()) {
    const auto reply = api::http_call(server.url, r.method, r.target, r.body, {{"Authorization", "Bearer " + server.token}});
    return print(reply.status, reply.body);
  }
  EngineRoot e{db, 2};
  api::RequestMetrics metrics;
  const std::string token = "cli";
  api::Services services{e.store, e.live, *e.rebuilds, nullptr, metrics, token, nullptr, &e.specs, &e.reactors, nullptr};
  api::Request req{api::http::string_to_verb(r.method), r.target, 11};
  req.set(api::http::field::authorization, "Bearer " + token);
  req.body() = r.body;
  req.prepare_payload();
  const auto routed = api::handle(req, services);
  return print(routed.response.result_int(), routed.response.body());
}

}  // namespace reproj::cli
