#pragma once
// One function per subcommand of the command line (cli.cpp parses and dispatches), and what they
// share. Each returns the process's exit status; engine errors propagate to cli::main.

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/cli/cli.hpp"

namespace reproj::cli {

inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
// Documented in the README (Deployment): the database is reached through a transaction pooler.
inline constexpr int kExitUnsupportedDeployment = 3;

/// What every database command is given.
struct DatabaseArgs {
  std::string url;                                 // --database-url / DATABASE_URL
  std::map<std::string, int> initial_versions;     // --initial-version P=V
  RegisterProjections register_projections;
  std::string projections_dir;                     // --projections-dir / REPROJ_PROJECTIONS_DIR
};
/// A running server to talk to instead of the database (rebuild, status).
struct ServerArgs {
  std::string url;     // --server
  std::string token;   // --token / REPROJ_ADMIN_TOKEN
  std::string cacert;  // --cacert / REPROJ_CACERT: the CA that signed an https:// server's certificate
};

struct ServeArgs {
  std::string listen;  // ADDRESS:PORT
  std::string admin_token;
  long read_timeout_ms = 30'000;
  std::string auth;                      // --auth / REPROJ_AUTH: required | open-reads | open
  std::string tls_cert, tls_key, tls_client_ca;  // --tls-cert, --tls-key, --tls-client-ca (REPROJ_TLS_*)
  std::vector<std::string> rate_limits;  // --rate-limit SCOPE=N (and REPROJ_RATE_LIMIT_READ|APPEND|ADMIN)
  std::vector<std::string> replica_urls; // --replica-url URL (repeatable; and REPROJ_REPLICA_URLS, comma-separated)
};

struct TokenArgs {
  std::string action;  // create | list | revoke
  std::string name;
  std::vector<std::string> scopes;  // create: --scope
  std::string expires_at;           // create: --expires-at
};
struct RebuildArgs {
  std::string projection;
  int version = 0;  // 0: the latest
  bool follow = false;
  std::string promote = "auto";             // auto | manual | if_expected
  std::vector<std::string> expect_changes;  // --expect-changes a,b
};

struct ApplyArgs {
  std::string file;
  bool rebuild = false;
  bool follow = false;
};

struct ReactorArgs {
  std::string action;  // list | show | put | pause | resume | reset | delete | dead-letters | retry | drop
  std::string name;
  std::string event_id;     // retry, drop
  std::string file;         // put: the JSON document (- for stdin)
  std::int64_t position = -1;  // reset
};

struct SourceArgs {
  std::string action;  // list | show | apply | pause | resume | delete | quarantine | prepare
  std::string name;
  std::string file;    // apply, prepare: the JSON document (- for stdin)
  bool dry_run = false;  // prepare: print the statements only
};

int serve(const DatabaseArgs& db, ServeArgs args);
int work(const DatabaseArgs& db);
int migrate(const DatabaseArgs& db);
int import(const DatabaseArgs& db, const std::string& file);
int rebuild(const DatabaseArgs& db, const RebuildArgs& args);
int rebuild_through_server(const ServerArgs& server, const RebuildArgs& args);
int status(const DatabaseArgs& db);
/// `reproj diff ID` / `reproj promote ID`: a ready rebuild's diff; promoting it.
int diff(const DatabaseArgs& db, const ServerArgs& server, std::int64_t id);
int promote(const DatabaseArgs& db, const ServerArgs& server, std::int64_t id);
int status_through_server(const ServerArgs& server);
int generate(long events, unsigned seed);
/// `reproj poison-policy PROJECTION skip|stop` and `reproj quarantine PROJECTION` (poison_commands.cpp).
int set_poison_policy(const DatabaseArgs& db, const ServerArgs& server, const std::string& projection,
                      const std::string& policy);
int quarantine(const DatabaseArgs& db, const ServerArgs& server, const std::string& projection, int version);
struct HistoryArgs {
  std::string projection, key;
  std::optional<std::int64_t> as_of;  // --as-of P: the row as of P instead of its versions
  std::int64_t limit = 100;
};
int history(const DatabaseArgs& db, const ServerArgs& server, const HistoryArgs& args);

/// `reproj reactor ACTION [NAME] [EVENT_ID]` (reactor_commands.cpp): through --server, or in-process.
int reactor(const DatabaseArgs& db, const ServerArgs& server, const ReactorArgs& args);
/// `reproj source ACTION [NAME] [FILE]` (source_commands.cpp): through --server, or in-process.
int source(const DatabaseArgs& db, const ServerArgs& server, const SourceArgs& args);

/// `reproj token create|list|revoke` (token_commands.cpp): through --server, or in-process.
int token(const DatabaseArgs& db, const ServerArgs& server, const TokenArgs& args);

/// `reproj projection validate FILE...`: every problem of each spec file; no database needed.
int validate_specs(const std::vector<std::string>& files);
int apply_spec(const DatabaseArgs& db, const ApplyArgs& args);
int apply_spec_through_server(const ServerArgs& server, const ApplyArgs& args);
int show_version(const DatabaseArgs& db, const std::string& projection, int version);
int show_version_through_server(const ServerArgs& server, const std::string& projection, int version);

/// An admin call to a running server: its status and its JSON body (null when not JSON).
std::pair<unsigned, nlohmann::json> admin_call(const ServerArgs& server, const std::string& method,
                                               const std::string& target, const std::string& body = "");

/// The value of environment variable `name`, or `fallback` when unset or empty.
std::string env_or(const char* name, std::string fallback);

}  // namespace reproj::cli
