// `reproj source ...`: sources from the command line. With --server it calls that server's admin
// API; without, it answers the same request in-process against the database (the same handlers, so
// the same checks, JSON and errors). `prepare` changes the source's own table.
#include <iostream>

#include "api/cli/admin_call.hpp"
#include "api/cli/engine_root.hpp"
#include "api/http_client.hpp"
#include "engine/errors.hpp"
#include "sources/postgres_table.hpp"
#include "sources/source_manager.hpp"

namespace reproj::cli {

namespace {

AdminRequest request_for(const SourceArgs& a) {
  const std::string base = "/admin/sources/" + a.name;
  if (a.action == "list") return {"GET", "/admin/sources", ""};
  if (a.name.empty()) throw std::invalid_argument("source " + a.action + " needs a source NAME");
  if (a.action == "show") return {"GET", base, ""};
  if (a.action == "delete") return {"DELETE", base, ""};
  if (a.action == "pause" || a.action == "resume") return {"POST", base + "/" + a.action, ""};
  if (a.action == "quarantine") return {"GET", base + "/quarantine?limit=1000", ""};
  if (a.action == "apply") {
    if (a.file.empty()) throw std::invalid_argument("source apply needs FILE (a JSON document; - for stdin)");
    return {"PUT", base, read_document(a.file)};
  }
  throw std::invalid_argument("unknown source action '" + a.action +
                              "' (list, show, apply, pause, resume, delete, quarantine, prepare)");
}

// `reproj source prepare NAME [FILE] [--dry-run]`: the document from FILE (or the stored one).
int prepare(const DatabaseArgs& db, const ServerArgs& server, const SourceArgs& a) {
  std::string text;
  if (!a.file.empty()) {
    text = read_document(a.file);
  } else if (!server.url.empty()) {
    const auto reply = api::http_call(server.url, "GET", "/admin/sources/" + a.name, "",
                                      {{"Authorization", "Bearer " + server.token}}, 60, server.cacert);
    if (reply.status != 200) return print_answer(reply.status, reply.body);
    text = nlohmann::json::parse(reply.body)["document"].dump();
  } else {
    if (db.url.empty()) throw std::invalid_argument("source prepare needs FILE, --server or a database");
    EngineRoot e{db, 1};
    auto stored = sources::SourceStore{e.pool}.status(a.name);
    if (!stored) throw engine::NotFound("no source named '" + a.name + "'");
    text = stored->document.dump();
  }
  const auto document = sources::parse_source(a.name, text);
  if (document.kind != "postgres_table") {
    throw std::invalid_argument("source prepare adds a transaction id column to a postgres_table source's table; '" +
                                a.name + "' is a " + document.kind + " source");
  }
  std::vector<sources::Problem> problems;
  const auto config = sources::parse_postgres_table(document.document, problems);
  if (!config) throw engine::InvalidSource(problems);
  for (const auto& sql : sources::prepare_statements(*config)) std::cout << sql << ";\n";
  if (a.dry_run) return 0;
  sources::prepare_table(*config, document.resolve_url(db.url));
  std::cout << "-- done: " << config->table << " is read in (" << (config->xid.empty() ? "reproj_xid" : config->xid)
            << ", " << config->position << ") order\n";
  return 0;
}

}  // namespace

int source(const DatabaseArgs& db, const ServerArgs& server, const SourceArgs& args) {
  if (args.action == "prepare") {
    try {
      return prepare(db, server, args);
    } catch (const std::invalid_argument& e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  return dispatch(db, server, [&] { return request_for(args); }, {.sources = true});
}

}  // namespace reproj::cli
