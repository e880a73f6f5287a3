#include "api/cli/cli.hpp"

#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "api/cli/commands.hpp"
#include "api/version.hpp"
#include "engine/errors.hpp"

namespace reproj::cli {

int main(int argc, char** argv, const RegisterProjections& register_projections) {
  CLI::App app{"reproj: rebuilds event-sourced projections in PostgreSQL while they keep serving.\n"
               "serve runs the HTTP server. migrate, import and work talk straight to the database.\n"
               "rebuild and status talk to a running server with --server URL (and the admin token),\n"
               "or straight to the database without it."};
  app.set_version_flag("--version", "reproj " + std::string{api::version()} + " (commit " +
                                        std::string{api::git_commit()} + ")");
  app.require_subcommand(1);
  DatabaseArgs db{env_or("DATABASE_URL", ""), {}, register_projections, env_or("REPROJ_PROJECTIONS_DIR", "")};
  std::vector<std::string> initial_version_args;
  ServerArgs server{"", env_or("REPROJ_ADMIN_TOKEN", "")};
  auto add_db = [&](CLI::App* cmd) {
    cmd->add_option("--database-url", db.url, "PostgreSQL URL (default: $DATABASE_URL)");
    cmd->add_option("--initial-version", initial_version_args,
                    "PROJECTION=V: version a projection is created at on a fresh database (default: latest)");
    cmd->add_option("--projections-dir", db.projections_dir,
                    "register every *.json projection spec in DIR at start (default: $REPROJ_PROJECTIONS_DIR)");
  };
  auto add_server = [&](CLI::App* cmd) {
    cmd->add_option("--server", server.url, "talk to a running server, e.g. http://127.0.0.1:8080");
    cmd->add_option("--token", server.token, "admin token for --server (default: $REPROJ_ADMIN_TOKEN)");
  };

  auto* serve_cmd = app.add_subcommand("serve", "Migrate, catch up, resume interrupted rebuilds and serve HTTP");
  add_db(serve_cmd);
  ServeArgs serve_args{env_or("REPROJ_LISTEN", "127.0.0.1:8080"), env_or("REPROJ_ADMIN_TOKEN", ""), 30'000};
  serve_cmd->add_option("--listen", serve_args.listen, "address:port to bind (default: $REPROJ_LISTEN or 127.0.0.1:8080)");
  serve_cmd->add_option("--admin-token", serve_args.admin_token,
                        "token for /admin routes (default: $REPROJ_ADMIN_TOKEN, else generated)");
  serve_cmd->add_option("--read-timeout-ms", serve_args.read_timeout_ms,
                        "drop a client silent this long mid-request (default 30000)");

  auto* migrate_cmd = app.add_subcommand("migrate", "Apply pending migrations");
  add_db(migrate_cmd);

  std::string import_file;
  auto* import_cmd = app.add_subcommand("import", "Import NDJSON events with COPY, all or nothing");
  add_db(import_cmd);
  import_cmd
      ->add_option("FILE", import_file, "NDJSON file: one {\"event_id\"?, \"stream_id\", \"type\", \"data\", \"metadata\"?} a line")
      ->required();

  RebuildArgs rebuild_args;
  auto* rebuild_cmd = app.add_subcommand(
      "rebuild", "Rebuild a projection online and promote it. Without --server it runs here (or follows the process "
                 "that already runs it); with --server the server runs it");
  add_db(rebuild_cmd);
  add_server(rebuild_cmd);
  rebuild_cmd->add_option("PROJECTION", rebuild_args.projection, "the projection, e.g. cars")->required();
  rebuild_cmd->add_option("--version", rebuild_args.version, "version to build (default: latest)");
  rebuild_cmd->add_flag("--follow", rebuild_args.follow,
                        "show progress until the rebuild ends (or is ready): a bar on a terminal, one JSON line per update otherwise");
  rebuild_cmd->add_option("--promote", rebuild_args.promote,
                          "auto (default): promote once caught up; manual: wait at ready for `reproj promote`; "
                          "if_expected: promote only when the diff shows changes in --expect-changes alone")
      ->check(CLI::IsMember({"auto", "manual", "if_expected"}));
  rebuild_cmd->add_option("--expect-changes", rebuild_args.expect_changes,
                          "columns the new version is meant to change (rows_added, rows_removed allow those)")
      ->delimiter(',');
  std::int64_t verify_id = 0;
  auto* diff_cmd = app.add_subcommand("diff", "What a ready rebuild changes: live against shadow at one position, as JSON");
  diff_cmd->add_option("REBUILD_ID", verify_id, "the rebuild")->required();
  add_db(diff_cmd);
  add_server(diff_cmd);
  auto* promote_cmd = app.add_subcommand("promote", "Promote a rebuild waiting at ready (and, without --server, run it here until done)");
  promote_cmd->add_option("REBUILD_ID", verify_id, "the rebuild")->required();
  add_db(promote_cmd);
  add_server(promote_cmd);

  auto* status_cmd = app.add_subcommand("status", "Projections and recent rebuilds, as JSON");
  add_db(status_cmd);
  add_server(status_cmd);

  std::string policy_projection, policy;
  auto* policy_cmd = app.add_subcommand(
      "poison-policy", "Set what a projection does with an event it cannot use: skip (quarantine it) or stop");
  add_db(policy_cmd);
  add_server(policy_cmd);
  policy_cmd->add_option("PROJECTION", policy_projection, "the projection, e.g. cars")->required();
  policy_cmd->add_option("POLICY", policy, "skip or stop")->required();

  std::string quarantine_projection;
  int quarantine_version = 0;
  auto* quarantine_cmd = app.add_subcommand("quarantine", "Events a projection version skipped, as JSON");
  add_db(quarantine_cmd);
  add_server(quarantine_cmd);
  quarantine_cmd->add_option("PROJECTION", quarantine_projection, "the projection, e.g. cars")->required();
  quarantine_cmd->add_option("--version", quarantine_version, "version (default: the active one)");

  std::vector<std::string> spec_files;
  auto* projection_cmd = app.add_subcommand("projection", "Projection specs (projections as data)");
  auto* validate_cmd = projection_cmd->add_subcommand("validate", "Check spec files; print every problem (no database)");
  validate_cmd->add_option("FILE", spec_files, "spec files")->required();
  ApplyArgs apply_args;
  auto* apply_cmd = projection_cmd->add_subcommand(
      "apply", "Deploy a spec version (stored, served on every instance); a new projection is built from the whole log");
  apply_cmd->add_option("FILE", apply_args.file, "the spec file")->required();
  apply_cmd->add_flag("--rebuild", apply_args.rebuild, "then rebuild the projection to this version and promote it");
  apply_cmd->add_flag("--follow", apply_args.follow, "wait for the rebuild (or a new projection's first build), showing progress");
  add_db(apply_cmd);
  add_server(apply_cmd);
  std::string show_projection;
  int show_version_arg = 0;
  auto* show_cmd = projection_cmd->add_subcommand("show", "Print a projection version: its spec, sha256 and source, as JSON");
  show_cmd->add_option("NAME", show_projection, "the projection")->required();
  show_cmd->add_option("--version", show_version_arg, "version (default: the active one)");
  add_db(show_cmd);
  add_server(show_cmd);
  projection_cmd->require_subcommand(1);

  long generate_events = 1000;
  unsigned generate_seed = 1;
  auto* generate_cmd = app.add_subcommand("generate", "Print N deterministic demo events as NDJSON (for import and benchmarks)");
  generate_cmd->add_option("--events", generate_events, "how many (default 1000)");
  generate_cmd->add_option("--seed", generate_seed, "seed (default 1)");

  ReactorArgs reactor_args;
  auto* reactor_cmd = app.add_subcommand(
      "reactor", "Reactors (webhooks fed by the log): list, show, put, pause, resume, reset, delete, dead-letters, retry, drop");
  reactor_cmd->add_option("action", reactor_args.action, "list | show | put | pause | resume | reset | delete | dead-letters | retry | drop")
      ->required();
  reactor_cmd->add_option("name", reactor_args.name, "the reactor");
  reactor_cmd->add_option("event_id", reactor_args.event_id, "retry, drop: the dead letter's event id");
  reactor_cmd->add_option("--file", reactor_args.file, "put: the reactor's JSON document (- reads stdin)");
  reactor_cmd->add_option("--position", reactor_args.position, "reset: the new checkpoint (0: from the beginning)");
  add_db(reactor_cmd);
  add_server(reactor_cmd);

  SourceArgs source_args;
  auto* source_cmd = app.add_subcommand(
      "source", "Sources (a team's own event table ingested into the log): list, show, apply, pause, resume, delete, "
                "quarantine, prepare");
  source_cmd->add_option("action", source_args.action, "list | show | apply | pause | resume | delete | quarantine | prepare")
      ->required();
  source_cmd->add_option("name", source_args.name, "the source");
  source_cmd->add_option("file", source_args.file, "apply, prepare: the source's JSON document (- reads stdin)");
  source_cmd->add_flag("--dry-run", source_args.dry_run, "prepare: print the statements, change nothing");
  add_db(source_cmd);
  add_server(source_cmd);

  auto* work_cmd = app.add_subcommand("work", "Run the catch-up worker, the rebuild supervisor and the reactors until SIGTERM (no HTTP server)");
  add_db(work_cmd);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(env_or("REPROJ_LOG", "info") == "debug" ? spdlog::level::debug : spdlog::level::info);

  try {
    if (*generate_cmd) return generate(generate_events, generate_seed);
    if (*validate_cmd) return validate_specs(spec_files);
    if (!server.url.empty() && *rebuild_cmd) return rebuild_through_server(server, rebuild_args);
    if (!server.url.empty() && *status_cmd) return status_through_server(server);
    if (!server.url.empty() && *policy_cmd) return set_poison_policy(db, server, policy_projection, policy);
    if (!server.url.empty() && *quarantine_cmd) return quarantine(db, server, quarantine_projection, quarantine_version);
    if (!server.url.empty() && *diff_cmd) return diff(db, server, verify_id);
    if (!server.url.empty() && *promote_cmd) return promote(db, server, verify_id);
    if (!server.url.empty() && *apply_cmd) return apply_spec_through_server(server, apply_args);
    if (!server.url.empty() && *reactor_cmd) return reactor(db, server, reactor_args);
    if (*source_cmd && (!server.url.empty() || source_args.action == "prepare")) return source(db, server, source_args);
    if (!server.url.empty() && *show_cmd) return show_version_through_server(server, show_projection, show_version_arg);
    if (db.url.empty()) {
      std::cerr << "error: no database: pass --database-url or set DATABASE_URL\n";
      return kExitUsage;
    }
    for (const auto& arg : initial_version_args) {
      const auto eq = arg.find('=');
      try {
        if (eq == std::string::npos) throw std::invalid_argument(arg);
        db.initial_versions[arg.substr(0, eq)] = std::stoi(arg.substr(eq + 1));
      } catch (const std::exception&) {
        std::cerr << "error: --initial-version expects PROJECTION=VERSION, got '" << arg << "'\n";
        return kExitUsage;
      }
    }
    if (*serve_cmd) return serve(db, serve_args);
    if (*migrate_cmd) return migrate(db);
    if (*import_cmd) return import(db, import_file);
    if (*status_cmd) return status(db);
    if (*rebuild_cmd) return rebuild(db, rebuild_args);
    if (*apply_cmd) return apply_spec(db, apply_args);
    if (*diff_cmd) return diff(db, server, verify_id);
    if (*promote_cmd) return promote(db, server, verify_id);
    if (*show_cmd) return show_version(db, show_projection, show_version_arg);
    if (*work_cmd) return work(db);
    if (*reactor_cmd) return reactor(db, server, reactor_args);
    if (*source_cmd) return source(db, server, source_args);
    if (*policy_cmd) return set_poison_policy(db, server, policy_projection, policy);
    if (*quarantine_cmd) return quarantine(db, server, quarantine_projection, quarantine_version);
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
