// The command line as a table of subcommands: each registers its options and its runner; main
// parses, then runs the one chosen, after the database checks it needs.
#include "api/cli/cli.hpp"

#include <functional>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "api/cli/commands.hpp"
#include "api/version.hpp"
#include "engine/errors.hpp"

namespace reproj::cli {

namespace {

// What the subcommands share: the database and server they talk to.
struct Common {
  DatabaseArgs db;
  ServerArgs server;
  std::vector<std::string> initial_version_args;

  void add_db(CLI::App* cmd) {
    cmd->add_option("--database-url", db.url, "PostgreSQL URL (default: $DATABASE_URL)");
    cmd->add_option("--initial-version", initial_version_args,
                    "PROJECTION=V: version a projection is created at on a fresh database (default: latest)");
    cmd->add_option("--projections-dir", db.projections_dir,
                    "register every *.json projection spec in DIR at start (default: $REPROJ_PROJECTIONS_DIR)");
  }
  void add_server(CLI::App* cmd) {
    cmd->add_option("--server", server.url, "talk to a running server, e.g. http://127.0.0.1:8080");
    cmd->add_option("--token", server.token, "token for --server (default: $REPROJ_ADMIN_TOKEN)");
    cmd->add_option("--cacert", server.cacert,
                    "PEM file of the CA that signed an https:// --server's certificate (default: $REPROJ_CACERT, "
                    "else the system's store)");
  }
  // Both: the command talks to a server when given --server, else to the database.
  void add_db_or_server(CLI::App* cmd) {
    add_db(cmd);
    add_server(cmd);
  }
  bool remote() const { return !server.url.empty(); }
};

struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
  // Whether `run` needs a database URL (and the --initial-version pairs parsed) first.
  std::function<bool()> needs_database = [] { return true; };
};

using Register = Subcommand (*)(CLI::App& app, Common& c);

Subcommand serve_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("serve", "Migrate, catch up, resume interrupted rebuilds and serve HTTP");
  c.add_db(cmd);
  auto args = std::make_shared<ServeArgs>(ServeArgs{env_or("REPROJ_LISTEN", "127.0.0.1:8080"),
                                                    env_or("REPROJ_ADMIN_TOKEN", ""),
                                                    30'000,
                                                    env_or("REPROJ_AUTH", "open-reads"),
                                                    env_or("REPROJ_TLS_CERT", ""),
                                                    env_or("REPROJ_TLS_KEY", ""),
                                                    env_or("REPROJ_TLS_CLIENT_CA", ""),
                                                    {},
                                                    {}});
  cmd->add_option("--listen", args->listen, "address:port to bind (default: $REPROJ_LISTEN or 127.0.0.1:8080)");
  cmd->add_option("--admin-token", args->admin_token,
                  "a token with every scope (default: $REPROJ_ADMIN_TOKEN, else generated)");
  cmd->add_option("--auth", args->auth,
                  "required (every route needs a token) | open-reads (reads need none; default) | open (only admin "
                  "needs one) (default: $REPROJ_AUTH)");
  cmd->add_option("--tls-cert", args->tls_cert, "serve HTTPS with this PEM certificate chain (re-read on SIGHUP)");
  cmd->add_option("--tls-key", args->tls_key, "the certificate's PEM private key (re-read on SIGHUP)");
  cmd->add_option("--tls-client-ca", args->tls_client_ca,
                  "ask for client certificates signed by this PEM CA (mutual TLS; a certificate's CN may name a token)");
  cmd->add_option("--rate-limit", args->rate_limits,
                  "SCOPE=N: at most N requests a second per token (or per address without one), for read, append or "
                  "admin; repeatable (default: none; $REPROJ_RATE_LIMIT_READ, _APPEND, _ADMIN)");
  cmd->add_option("--read-timeout-ms", args->read_timeout_ms, "drop a client silent this long mid-request (default 30000)");
  cmd->add_option("--replica-url", args->replica_urls,
                  "a PostgreSQL streaming replica (hot standby) of the database that serves consistency=eventual "
                  "reads; repeatable (default: $REPROJ_REPLICA_URLS, comma-separated)");
  return {cmd, [&c, args] { return serve(c.db, *args); }};
}

Subcommand migrate_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("migrate", "Apply pending migrations");
  c.add_db(cmd);
  return {cmd, [&c] { return migrate(c.db); }};
}

Subcommand import_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("import", "Import NDJSON events with COPY, all or nothing");
  c.add_db(cmd);
  auto file = std::make_shared<std::string>();
  cmd->add_option("FILE", *file, "NDJSON file: one {\"event_id\"?, \"stream_id\", \"type\", \"data\", \"metadata\"?} a line")
      ->required();
  return {cmd, [&c, file] { return import(c.db, *file); }};
}

Subcommand rebuild_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand(
      "rebuild", "Rebuild a projection online and promote it. Without --server it runs here (or follows the process "
                 "that already runs it); with --server the server runs it");
  c.add_db_or_server(cmd);
  auto args = std::make_shared<RebuildArgs>();
  cmd->add_option("PROJECTION", args->projection, "the projection, e.g. cars")->required();
  cmd->add_option("--version", args->version, "version to build (default: latest)");
  cmd->add_flag("--follow", args->follow,
                "show progress until the rebuild ends (or is ready): a bar on a terminal, one JSON line per update otherwise");
  cmd->add_option("--promote", args->promote,
                  "auto (default): promote once caught up; manual: wait at ready for `reproj promote`; "
                  "if_expected: promote only when the diff shows changes in --expect-changes alone")
      ->check(CLI::IsMember({"auto", "manual", "if_expected"}));
  cmd->add_option("--expect-changes", args->expect_changes,
                  "columns the new version is meant to change (rows_added, rows_removed allow those)")
      ->delimiter(',');
  return {cmd, [&c, args] { return c.remote() ? rebuild_through_server(c.server, *args) : rebuild(c.db, *args); },
          [&c] { return !c.remote(); }};
}

Subcommand diff_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("diff", "What a ready rebuild changes: live against shadow at one position, as JSON");
  auto id = std::make_shared<std::int64_t>(0);
  cmd->add_option("REBUILD_ID", *id, "the rebuild")->required();
  c.add_db_or_server(cmd);
  return {cmd, [&c, id] { return diff(c.db, c.server, *id); }, [&c] { return !c.remote(); }};
}

Subcommand promote_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("promote",
                                 "Promote a rebuild waiting at ready (and, without --server, run it here until done)");
  auto id = std::make_shared<std::int64_t>(0);
  cmd->add_option("REBUILD_ID", *id, "the rebuild")->required();
  c.add_db_or_server(cmd);
  return {cmd, [&c, id] { return promote(c.db, c.server, *id); }, [&c] { return !c.remote(); }};
}

Subcommand status_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("status", "Projections and recent rebuilds, as JSON");
  c.add_db_or_server(cmd);
  return {cmd, [&c] { return c.remote() ? status_through_server(c.server) : status(c.db); },
          [&c] { return !c.remote(); }};
}

Subcommand poison_policy_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand(
      "poison-policy", "Set what a projection does with an event it cannot use: skip (quarantine it) or stop");
  c.add_db_or_server(cmd);
  auto args = std::make_shared<std::pair<std::string, std::string>>();
  cmd->add_option("PROJECTION", args->first, "the projection, e.g. cars")->required();
  cmd->add_option("POLICY", args->second, "skip or stop")->required();
  return {cmd, [&c, args] { return set_poison_policy(c.db, c.server, args->first, args->second); },
          [&c] { return !c.remote(); }};
}

Subcommand quarantine_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("quarantine", "Events a projection version skipped, as JSON");
  c.add_db_or_server(cmd);
  auto args = std::make_shared<std::pair<std::string, int>>("", 0);
  cmd->add_option("PROJECTION", args->first, "the projection, e.g. cars")->required();
  cmd->add_option("--version", args->second, "version (default: the active one)");
  return {cmd, [&c, args] { return quarantine(c.db, c.server, args->first, args->second); },
          [&c] { return !c.remote(); }};
}

// `projection validate | apply | show`: the parent only groups them.
Subcommand projection_validate_command(CLI::App& projection, Common&) {
  auto* cmd = projection.add_subcommand("validate", "Check spec files; print every problem (no database)");
  auto files = std::make_shared<std::vector<std::string>>();
  cmd->add_option("FILE", *files, "spec files")->required();
  return {cmd, [files] { return validate_specs(*files); }, [] { return false; }};
}

Subcommand projection_apply_command(CLI::App& projection, Common& c) {
  auto* cmd = projection.add_subcommand(
      "apply", "Deploy a spec version (stored, served on every instance); a new projection is built from the whole log");
  auto args = std::make_shared<ApplyArgs>();
  cmd->add_option("FILE", args->file, "the spec file")->required();
  cmd->add_flag("--rebuild", args->rebuild, "then rebuild the projection to this version and promote it");
  cmd->add_flag("--follow", args->follow, "wait for the rebuild (or a new projection's first build), showing progress");
  c.add_db_or_server(cmd);
  return {cmd, [&c, args] { return c.remote() ? apply_spec_through_server(c.server, *args) : apply_spec(c.db, *args); },
          [&c] { return !c.remote(); }};
}

Subcommand projection_show_command(CLI::App& projection, Common& c) {
  auto* cmd = projection.add_subcommand("show", "Print a projection version: its spec, sha256 and source, as JSON");
  auto args = std::make_shared<std::pair<std::string, int>>("", 0);
  cmd->add_option("NAME", args->first, "the projection")->required();
  cmd->add_option("--version", args->second, "version (default: the active one)");
  c.add_db_or_server(cmd);
  return {cmd,
          [&c, args] {
            return c.remote() ? show_version_through_server(c.server, args->first, args->second)
                              : show_version(c.db, args->first, args->second);
          },
          [&c] { return !c.remote(); }};
}

Subcommand generate_command(CLI::App& app, Common&) {
  auto* cmd = app.add_subcommand("generate", "Print N deterministic demo events as NDJSON (for import and benchmarks)");
  auto args = std::make_shared<std::pair<long, unsigned>>(1000, 1);
  cmd->add_option("--events", args->first, "how many (default 1000)");
  cmd->add_option("--seed", args->second, "seed (default 1)");
  return {cmd, [args] { return generate(args->first, args->second); }, [] { return false; }};
}

Subcommand reactor_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand(
      "reactor", "Reactors (webhooks fed by the log): list, show, put, pause, resume, reset, delete, dead-letters, retry, drop");
  auto args = std::make_shared<ReactorArgs>();
  cmd->add_option("action", args->action, "list | show | put | pause | resume | reset | delete | dead-letters | retry | drop")
      ->required();
  cmd->add_option("name", args->name, "the reactor");
  cmd->add_option("event_id", args->event_id, "retry, drop: the dead letter's event id");
  cmd->add_option("--file", args->file, "put: the reactor's JSON document (- reads stdin)");
  cmd->add_option("--position", args->position, "reset: the new checkpoint (0: from the beginning)");
  c.add_db_or_server(cmd);
  return {cmd, [&c, args] { return reactor(c.db, c.server, *args); }, [&c] { return !c.remote(); }};
}

Subcommand source_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand(
      "source", "Sources (a team's own event table, Redis streams or Kafka topic ingested into the log): list, show, apply, pause, resume, delete, "
                "quarantine, prepare");
  auto args = std::make_shared<SourceArgs>();
  cmd->add_option("action", args->action, "list | show | apply | pause | resume | delete | quarantine | prepare")
      ->required();
  cmd->add_option("name", args->name, "the source");
  cmd->add_option("file", args->file, "apply, prepare: the source's JSON document (- reads stdin)");
  cmd->add_flag("--dry-run", args->dry_run, "prepare: print the statements, change nothing");
  c.add_db_or_server(cmd);
  // prepare talks to the source's own database (named in its document), not to reproj's.
  return {cmd, [&c, args] { return source(c.db, c.server, *args); },
          [&c, args] { return !c.remote() && args->action != "prepare"; }};
}

Subcommand history_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("history", "A row's versions with the events that made them, or the row --as-of P (JSON)");
  auto args = std::make_shared<HistoryArgs>();
  cmd->add_option("PROJECTION", args->projection, "the projection, e.g. cars")->required();
  cmd->add_option("KEY", args->key, "the row's key")->required();
  cmd->add_option("--as-of", args->as_of, "the row as it was right after the event at this log position");
  cmd->add_option("--limit", args->limit, "versions to show, newest first (default 100)")->check(CLI::Range(1, 1000));
  c.add_db_or_server(cmd);
  return {cmd, [&c, args] { return history(c.db, c.server, *args); }, [&c] { return !c.remote(); }};
}

Subcommand token_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("token", "Access tokens: create (prints the secret once), list, revoke");
  auto args = std::make_shared<TokenArgs>();
  cmd->add_option("action", args->action, "create | list | revoke")->required();
  cmd->add_option("name", args->name, "the token's name");
  cmd->add_option("--scope", args->scopes, "create: read, read:PROJECTION, append, append:PREFIX or admin; repeatable")
      ->delimiter(',');
  cmd->add_option("--expires-at", args->expires_at, "create: an RFC 3339 time after which the token stops working");
  c.add_db_or_server(cmd);
  return {cmd, [&c, args] { return token(c.db, c.server, *args); }, [&c] { return !c.remote(); }};
}

Subcommand work_command(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand(
      "work", "Run the catch-up worker, the rebuild supervisor and the reactors until SIGTERM (no HTTP server)");
  c.add_db(cmd);
  return {cmd, [&c] { return work(c.db); }};
}

constexpr Register kTopLevel[] = {serve_command,      migrate_command,       import_command,     rebuild_command,
                                  diff_command,       promote_command,       status_command,     poison_policy_command,
                                  quarantine_command, generate_command,      reactor_command,    source_command,
                                  token_command,      history_command,       work_command};
constexpr Register kProjection[] = {projection_validate_command, projection_apply_command, projection_show_command};

// --initial-version P=V pairs into the database arguments; false (and a message) when malformed.
bool parse_initial_versions(Common& c) {
  for (const auto& arg : c.initial_version_args) {
    const auto eq = arg.find('=');
    try {
      if (eq == std::string::npos) throw std::invalid_argument(arg);
      c.db.initial_versions[arg.substr(0, eq)] = std::stoi(arg.substr(eq + 1));
    } catch (const std::exception&) {
      std::cerr << "error: --initial-version expects PROJECTION=VERSION, got '" << arg << "'\n";
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv, const RegisterProjections& register_projections) {
  CLI::App app{"reproj: rebuilds event-sourced projections in PostgreSQL while they keep serving.\n"
               "serve runs the HTTP server. migrate, import and work talk straight to the database.\n"
               "rebuild and status talk to a running server with --server URL (and the admin token),\n"
               "or straight to the database without it."};
  app.set_version_flag("--version", "reproj " + std::string{api::version()} + " (commit " +
                                        std::string{api::git_commit()} + ")");
  app.require_subcommand(1);
  Common c{.db = {env_or("DATABASE_URL", ""), {}, register_projections, env_or("REPROJ_PROJECTIONS_DIR", "")},
           .server = {"", env_or("REPROJ_ADMIN_TOKEN", ""), env_or("REPROJ_CACERT", "")},
           .initial_version_args = {}};
  std::vector<Subcommand> commands;
  for (auto add : kTopLevel) commands.push_back(add(app, c));
  auto* projection = app.add_subcommand("projection", "Projection specs (projections as data)");
  for (auto add : kProjection) commands.push_back(add(*projection, c));
  projection->require_subcommand(1);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(env_or("REPROJ_LOG", "info") == "debug" ? spdlog::level::debug : spdlog::level::info);

  try {
    for (const auto& command : commands) {
      if (!*command.app) continue;
      if (command.needs_database()) {
        if (c.db.url.empty()) {
          std::cerr << "error: no database: pass --database-url or set DATABASE_URL\n";
          return kExitUsage;
        }
        if (!parse_initial_versions(c)) return kExitUsage;
      }
      return command.run();
    }
  } catch (const engine::UnsupportedDeployment& ex) {
    std::cerr << "error: " << ex.what() << "\n";
    return kExitUnsupportedDeployment;
  } catch (const std::exception& ex) {
    std::cerr << "error: " << ex.what() << "\n";
    return kExitFailed;
  }
  return 0;
}

}  // namespace reproj::cli
