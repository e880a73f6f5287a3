#pragma once
// What the subcommands that stand for an admin request share (`reproj reactor …`, `reproj source
// …`): the request, a document read from a file or stdin, and its answer printed; sent to a running
// server (--server), or answered in-process by the same handlers against the database.

#include <functional>
#include <string>

#include "api/cli/commands.hpp"
#include "api/router.hpp"

namespace reproj::cli {

struct AdminRequest {
  std::string method, target, body;
};

/// The text of FILE ("-": stdin). Throws std::invalid_argument when it cannot be read.
std::string read_document(const std::string& file);

/// Prints a 2xx answer (JSON pretty-printed) to stdout, anything else to stderr; the exit status.
int print_answer(unsigned status, const std::string& body);

/// Sends `request` to the server with its admin token; the exit status.
int call_server(const ServerArgs& server, const AdminRequest& request);

/// What an in-process answer authorises with: the CLI holds the database's credentials, so it is
/// trusted; its requests carry a token of its own, named "cli" in the audit trail.
const api::Authorizer& in_process_auth();

/// Answers `request` in-process with `services` (built with in_process_auth()); the exit status.
int call_here(const AdminRequest& request, const api::Services& services);

/// What an in-process answer needs beyond the engine: the sources' manager, the token store.
struct InProcessNeeds {
  bool sources = false;
  bool tokens = false;
};
/// An admin subcommand: the request `make` builds (std::invalid_argument: a usage error, exit 2),
/// sent to --server, or answered in-process against the database (audited as "cli").
int dispatch(const DatabaseArgs& db, const ServerArgs& server, const std::function<AdminRequest()>& make,
             InProcessNeeds needs = {});

}  // namespace reproj::cli
