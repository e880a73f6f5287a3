// Composition root and command line of reproj.
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <stdexcept>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/admin_series.hpp"
#include "api/event_generator.hpp"
#include "api/http_client.hpp"
#include "api/json_mapping.hpp"
#include "api/metrics.hpp"
#include "api/server.hpp"
#include "api/version.hpp"
#include "engine/catch_up.hpp"
#include "engine/connection_pool.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "engine/migrations.hpp"
#include "engine/rebuild.hpp"
#include "engine/session_check.hpp"
#include "projections/all.hpp"

namespace {

using namespace reproj;

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string{v} : fallback;
}

// A whole number in [min, max] from the environment, or `fallback` when unset.
std::size_t env_count(const char* name, std::size_t fallback, std::size_t min, std::size_t max) {
  const std::string v = env_or(name, "");
  if (v.empty()) return fallback;
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || end != v.data() + v.size() || n < min || n > max) {
    throw std::runtime_error(std::string{name} + " must be a whole number from " + std::to_string(min) + " to " +
                             std::to_string(max) + ", got '" + v + "'");
  }
  return n;
}

// REPROJ_FAULT=point:count makes the process SIGKILL itself there (crash tests only).
std::function<void(std::string_view, std::int64_t)> fault_from_env() {
  const std::string spec = env_or("REPROJ_FAULT", "");
  if (spec.empty()) return {};
  const auto colon = spec.find(':');
  const std::string point = spec.substr(0, colon);
  const std::int64_t count = colon == std::string::npos ? 0 : std::stoll(spec.substr(colon + 1));
  return [point, count](std::string_view p, std::int64_t n) {
    if (p == point && n >= count) {
      spdlog::warn("REPROJ_FAULT: killing myself at {} {}", p, n);
      std::raise(SIGKILL);
    }
  };
}

engine::ProjectionRegistry make_registry() {
  engine::ProjectionRegistry registry;
  projections::register_all(registry);
  return registry;
}

// Everything a command needs, built in dependency order.
struct Engine {
  explicit Engine(const std::string& url, std::size_t pool_size, const std::map<std::string, int>& initial_versions)
      : registry(make_registry()), pool(url, pool_size), store(pool), live(pool, registry) {
    engine::require_session_connections(url);
    engine::migrate(url);
    for (const auto& name : registry.names()) {
      auto it = initial_versions.find(name);
      live.ensure(name, it != initial_versions.end() ? it->second : registry.latest(name).version());
    }
    engine::RebuildOptions options;
    options.fault = fault_from_env();
    // Tuning knobs (tests use small batches to get many checkpoints): REPROJ_REBUILD_BATCH reads and
    // checkpoints every N events unless REPROJ_CHECKPOINT_EVENTS says otherwise (0: every 5 s only).
    if (const auto batch = env_count("REPROJ_REBUILD_BATCH", 0, 1, std::size_t{1} << 24); batch > 0) {  // 0: unset
      options.batch_events = options.checkpoint_events = batch;
    }
    options.checkpoint_events =
        env_count("REPROJ_CHECKPOINT_EVENTS", options.checkpoint_events, 0, std::size_t{1} << 40);
    // PostgreSQL's own range for max_parallel_maintenance_workers.
    options.index_build_workers = static_cast<int>(env_count(
        "REPROJ_INDEX_BUILD_WORKERS", static_cast<std::size_t>(options.index_build_workers), 0, 1024));
    rebuilds = std::make_unique<engine::RebuildManager>(pool, live, options);
  }
  engine::ProjectionRegistry registry;
  engine::ConnectionPool pool;
  engine::EventStore store;
  engine::LiveProjections live;
  std::unique_ptr<engine::RebuildManager> rebuilds;
};

nlohmann::json to_json(const engine::RebuildInfo& r) { return api::rebuild_to_json(r); }

// One progress update: a redrawn bar on a terminal, one JSON line otherwise.
void print_progress(const nlohmann::json& r, bool tty) {
  if (!tty) {
    std::cout << r.dump() << std::endl;
    return;
  }
  const double position = r.value("position", 0.0), target = std::max(r.value("target", 0.0), 1.0);
  const double fraction = std::min(position / target, 1.0);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar = std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(kWidth - filled), '.');
  char line[256];
  const auto eta = r.contains("eta_seconds") && r["eta_seconds"].is_number() ? r["eta_seconds"].get<double>() : -1.0;
  std::snprintf(line, sizeof line, "\r[%s] %5.1f%%  %lld/%lld  %.0f ev/s  ETA %s  %-12s", bar.c_str(), fraction * 100,
                static_cast<long long>(position), static_cast<long long>(target), r.value("events_per_second", 0.0),
                eta < 0 ? "-" : (std::to_string(static_cast<long long>(eta)) + "s").c_str(),
                r.value("state", std::string{}).c_str());
  std::cout << line << std::flush;
}

std::string random_token() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 32; ++i) out += "0123456789abcdef"[rd() % 16];
  return out;
}

// Documented in the README (Deployment): the database is reached through a transaction pooler.
constexpr int kExitUnsupportedDeployment = 3;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reproj: rebuilds event-sourced projections in PostgreSQL while they keep serving.\n"
               "serve runs the HTTP server. migrate, import and work talk straight to the database.\n"
               "rebuild and status talk to a running server with --server URL (and the admin token),\n"
               "or straight to the database without it."};
  app.set_version_flag("--version", std::string{"reproj "} + std::string{api::version()} + " (commit " +
                                         std::string{api::git_commit()} + ")");
  app.require_subcommand(1);
  std::string database_url = env_or("DATABASE_URL", "");
  std::vector<std::string> initial_version_args;
  std::string server_url, token = env_or("REPROJ_ADMIN_TOKEN", "");
  auto add_db = [&](CLI::App* cmd) {
    cmd->add_option("--database-url", database_url, "PostgreSQL URL (default: $DATABASE_URL)");
    cmd->add_option("--initial-version", initial_version_args,
                    "PROJECTION=V: version a projection is created at on a fresh database (default: latest)");
  };
  auto add_server = [&](CLI::App* cmd) {
    cmd->add_option("--server", server_url, "talk to a running server, e.g. http://127.0.0.1:8080");
    cmd->add_option("--token", token, "admin token for --server (default: $REPROJ_ADMIN_TOKEN)");
  };

  auto* serve_cmd = app.add_subcommand("serve", "Migrate, catch up, resume interrupted rebuilds and serve HTTP");
  add_db(serve_cmd);
  std::string listen = env_or("REPROJ_LISTEN", "127.0.0.1:8080");
  long read_timeout_ms = 30'000;
  serve_cmd->add_option("--listen", listen, "address:port to bind (default: $REPROJ_LISTEN or 127.0.0.1:8080)");
  serve_cmd->add_option("--admin-token", token, "token for /admin routes (default: $REPROJ_ADMIN_TOKEN, else generated)");
  serve_cmd->add_option("--read-timeout-ms", read_timeout_ms, "drop a client silent this long mid-request (default 30000)");

  auto* migrate_cmd = app.add_subcommand("migrate", "Apply pending migrations");
  add_db(migrate_cmd);

  std::string import_file;
  auto* import_cmd = app.add_subcommand("import", "Import NDJSON events with COPY, all or nothing");
  add_db(import_cmd);
  import_cmd
      ->add_option("FILE", import_file, "NDJSON file: one {\"event_id\"?, \"stream_id\", \"type\", \"data\", \"metadata\"?} a line")
      ->required();

  std::string rebuild_projection;
  int rebuild_version = 0;
  bool follow = false;
  auto* rebuild_cmd = app.add_subcommand(
      "rebuild", "Rebuild a projection online and promote it. Without --server it runs here (or follows the process "
                 "that already runs it); with --server the server runs it");
  add_db(rebuild_cmd);
  add_server(rebuild_cmd);
  rebuild_cmd->add_option("PROJECTION", rebuild_projection, "cars or customers")->required();
  rebuild_cmd->add_option("--version", rebuild_version, "version to build (default: latest)");
  rebuild_cmd->add_flag("--follow", follow,
                        "show progress until the rebuild ends: a bar on a terminal, one JSON line per update otherwise");

  auto* status_cmd = app.add_subcommand("status", "Projections and recent rebuilds, as JSON");
  add_db(status_cmd);
  add_server(status_cmd);

  long generate_events = 1000;
  unsigned generate_seed = 1;
  auto* generate_cmd = app.add_subcommand("generate", "Print N deterministic demo events as NDJSON (for import and benchmarks)");
  generate_cmd->add_option("--events", generate_events, "how many (default 1000)");
  generate_cmd->add_option("--seed", generate_seed, "seed (default 1)");

  auto* work_cmd = app.add_subcommand("work", "Run the catch-up worker and the rebuild supervisor until SIGTERM (no HTTP)");
  add_db(work_cmd);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(env_or("REPROJ_LOG", "info") == "debug" ? spdlog::level::debug : spdlog::level::info);
  const bool tty = isatty(STDOUT_FILENO) != 0;

  try {
    if (*generate_cmd) {
      // Eight interleaved writers, so streams interleave in the log as they do in production.
      std::vector<api::EventGenerator> writers;
      for (int w = 0; w < 8; ++w) writers.emplace_back(w, generate_seed * 7919u + static_cast<unsigned>(w));
      std::string line;
      for (long i = 0; i < generate_events; ++i) {
        auto [stream, e] = writers[static_cast<std::size_t>(i % 8)].next();
        line = nlohmann::json{{"stream_id", stream}, {"type", e.type}, {"data", e.data}}.dump();
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stdout);
      }
      return 0;
    }
    // ---- through a running server ----
    if (!server_url.empty() && (*rebuild_cmd || *status_cmd)) {
      const std::map<std::string, std::string> auth{{"Authorization", "Bearer " + token}};
      auto call = [&](const std::string& method, const std::string& target, const std::string& body = "") {
        auto reply = api::http_call(server_url, method, target, body, auth);
        auto json = nlohmann::json::parse(reply.body, nullptr, false);
        return std::pair{reply.status, json};
      };
      if (*status_cmd) {
        auto [status, projections] = call("GET", "/admin/projections");
        auto [status2, rebuilds] = call("GET", "/admin/rebuilds");
        if (status != 200) {
          std::cerr << "error: " << status << " " << projections.dump() << "\n";
          return 1;
        }
        projections["rebuilds"] = rebuilds.value("rebuilds", nlohmann::json::array());
        std::cout << projections.dump(2) << "\n";
        return 0;
      }
      nlohmann::json body = nlohmann::json::object();
      if (rebuild_version) body["version"] = rebuild_version;
      auto [status, started] = call("POST", "/admin/projections/" + rebuild_projection + "/rebuild", body.dump());
      std::int64_t id = 0;
      if (status == 202) {
        id = started["rebuild_id"].get<std::int64_t>();
      } else if (status == 409 && started.contains("rebuild_id")) {
        id = started["rebuild_id"].get<std::int64_t>();
        std::cerr << "rebuild " << id << " is already running; following it\n";
      } else {
        std::cerr << "error: " << status << " " << started.dump() << "\n";
        return 1;
      }
      if (!follow) {
        std::cout << nlohmann::json{{"rebuild_id", id}, {"status_url", "/admin/rebuilds/" + std::to_string(id)}}.dump()
                  << "\n";
        return 0;
      }
      while (true) {
        auto [s, info] = call("GET", "/admin/rebuilds/" + std::to_string(id));
        if (s != 200) {
          std::cerr << "\nerror: " << s << " " << info.dump() << "\n";
          return 1;
        }
        print_progress(info, tty);
        const auto state = info.value("state", std::string{});
        if (state == "done" || state == "failed" || state == "cancelled") {
          if (tty) std::cout << "\n" << info.dump() << "\n";
          return state == "done" ? 0 : 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }

    // ---- straight to the database ----
    if (database_url.empty()) {
      std::cerr << "error: no database: pass --database-url or set DATABASE_URL\n";
      return 2;
    }
    std::map<std::string, int> initial_versions;
    for (const auto& arg : initial_version_args) {
      auto eq = arg.find('=');
      try {
        if (eq == std::string::npos) throw std::invalid_argument(arg);
        initial_versions[arg.substr(0, eq)] = std::stoi(arg.substr(eq + 1));
      } catch (const std::exception&) {
        std::cerr << "error: --initial-version expects PROJECTION=VERSION, got '" << arg << "'\n";
        return 2;
      }
    }
    if (*migrate_cmd) {
      engine::require_session_connections(database_url);
      auto report = engine::migrate(database_url);
      std::cout << "migrations: " << report.applied.size() << " applied, schema at version " << report.latest_version
                << "\n";
      for (const auto& name : report.applied) std::cout << "  applied " << name << "\n";
      return 0;
    }
    if (*import_cmd) {
      std::ifstream in{import_file};
      if (!in) {
        std::cerr << "error: cannot open " << import_file << "\n";
        return 2;
      }
      Engine e{database_url, 2, initial_versions};
      auto started = std::chrono::steady_clock::now();
      auto report = e.store.import_ndjson(in);
      auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::cout << "imported " << report.events << " events (positions " << report.first_position << ".."
                << report.last_position << ") in " << seconds << " s\n";
      return 0;
    }
    if (*serve_cmd) {
      const auto colon = listen.rfind(':');
      if (colon == std::string::npos) {
        std::cerr << "error: --listen expects ADDRESS:PORT, got '" << listen << "'\n";
        return 2;
      }
      api::ServerOptions options;
      options.address = listen.substr(0, colon);
      options.port = static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)));
      options.read_timeout = std::chrono::milliseconds{read_timeout_ms};
      const bool generated = token.empty();
      if (generated) token = random_token();

      std::signal(SIGTERM, on_signal);
      std::signal(SIGINT, on_signal);
      Engine e{database_url, static_cast<std::size_t>(options.db_threads) + 2, initial_versions};
      engine::CatchUpWorker worker{e.live, e.registry.names()};
      e.rebuilds->start_supervisor();
      api::RequestMetrics metrics;
      api::AdminSeries::Options series_options;
      series_options.interval = std::chrono::milliseconds{
          env_count("REPROJ_SERIES_INTERVAL_MS", static_cast<std::size_t>(series_options.interval.count()), 50, 60'000)};
      api::AdminSeries series{e.store, e.live, *e.rebuilds, series_options};
      api::Services services{e.store, e.live, *e.rebuilds, &worker, metrics, token, &series};
      api::Server server{services, options};
      const auto port = server.start();
      std::cout << "reproj serving on http://" << options.address << ":" << port << " (pid " << getpid() << ")\n";
      if (generated) std::cout << "admin token (generated): " << token << "\n";
      std::cout << std::flush;
      while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      spdlog::info("stopping: draining requests");
      server.stop();
      return 0;
    }
    Engine e{database_url, 4, initial_versions};
    if (*status_cmd) {
      nlohmann::json out{{"safe_tail", e.store.safe_tail()}, {"projections", nlohmann::json::array()},
                         {"rebuilds", nlohmann::json::array()}};
      for (const auto& p : e.live.status()) {
        out["projections"].push_back({{"name", p.name},
                                      {"active_version", p.active_version},
                                      {"watermark", p.last_replayed},
                                      {"state", p.failed ? "failed" : "live"},
                                      {"error", p.failed ? nlohmann::json(p.error) : nlohmann::json(nullptr)}});
      }
      for (const auto& r : e.rebuilds->list()) out["rebuilds"].push_back(to_json(r));
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (*rebuild_cmd) {
      const int version = rebuild_version ? rebuild_version : e.registry.latest(rebuild_projection).version();
      engine::RebuildInfo info;
      if (auto running = e.rebuilds->running(rebuild_projection)) {
        if (running->version != version) {
          std::cerr << "error: rebuild " << running->id << " of " << rebuild_projection << " to version "
                    << running->version << " is already running\n";
          return 1;
        }
        info = *running;  // attach: resume it here, or follow whoever runs it
      } else {
        info = e.rebuilds->start(rebuild_projection, version);
      }
      if (!tty || !follow) std::cout << to_json(info).dump() << std::endl;
      std::jthread progress;
      if (follow) {
        progress = std::jthread([&, id = info.id](std::stop_token stop) {
          while (!stop.stop_requested()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            if (auto r = e.rebuilds->get(id)) print_progress(to_json(*r), tty);
          }
        });
      }
      std::optional<engine::RebuildInfo> final_info;
      while (!final_info || engine::is_running(final_info->state)) {
        final_info = e.rebuilds->run(info.id);
        if (!final_info) {  // another process holds it: wait for it to end
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          final_info = e.rebuilds->get(info.id);
        }
      }
      if (progress.joinable()) {
        progress.request_stop();
        progress.join();
      }
      if (tty && follow) print_progress(to_json(*final_info), tty), std::cout << "\n";
      std::cout << to_json(*final_info).dump() << std::endl;
      return final_info->state == engine::RebuildState::kDone ? 0 : 1;
    }
    if (*work_cmd) {
      std::signal(SIGTERM, on_signal);
      std::signal(SIGINT, on_signal);
      engine::CatchUpWorker worker{e.live, e.registry.names()};
      e.rebuilds->start_supervisor();
      spdlog::info("reproj work: pid {} running", getpid());
      while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      spdlog::info("reproj work: stopping");
      return 0;
    }
  } catch (const engine::UnsupportedDeployment& ex) {
    std::cerr << "error: " << ex.what() << "\n";
    return kExitUnsupportedDeployment;
  } catch (const engine::Error& ex) {
    std::cerr << "error: " << ex.what() << "\n";
    return 1;
  } catch (const std::exception& ex) {
    std::cerr << "error: " << ex.what() << "\n";
    return 1;
  }
  return 0;
}
