// Composition root and command line of reproj.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/catch_up.hpp"
#include "engine/connection_pool.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "engine/migrations.hpp"
#include "engine/rebuild.hpp"
#include "projections/all.hpp"

namespace {

using namespace reproj;

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string{v} : fallback;
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

// Everything a command needs, built in dependency order.
struct Engine {
  explicit Engine(const std::string& url, std::size_t pool_size, const std::map<std::string, int>& initial_versions)
      : pool(url, pool_size), store(pool), live(pool, registry) {
    projections::register_all(registry);
    engine::migrate(url);
    for (const auto& name : registry.names()) {
      auto it = initial_versions.find(name);
      live.ensure(name, it != initial_versions.end() ? it->second : registry.latest(name).version());
    }
    engine::RebuildOptions options;
    options.fault = fault_from_env();
    // Tuning knob (tests use small batches to get many checkpoints).
    if (auto batch = env_or("REPROJ_REBUILD_BATCH", ""); !batch.empty()) options.batch_events = std::stoul(batch);
    rebuilds = std::make_unique<engine::RebuildManager>(pool, live, options);
  }
  engine::ProjectionRegistry registry;
  engine::ConnectionPool pool;
  engine::EventStore store;
  engine::LiveProjections live;
  std::unique_ptr<engine::RebuildManager> rebuilds;
};

nlohmann::json to_json(const engine::RebuildInfo& r) {
  nlohmann::json j{{"rebuild_id", r.id},
                   {"projection", r.projection},
                   {"version", r.version},
                   {"state", engine::to_string(r.state)},
                   {"position", r.position},
                   {"target", r.target},
                   {"events_per_second", r.events_per_second},
                   {"eta_seconds", r.eta_seconds ? nlohmann::json(*r.eta_seconds) : nlohmann::json(nullptr)}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reproj: rebuilds event-sourced projections in PostgreSQL while they keep serving.\n"
               "migrate, import, rebuild, status and work talk straight to the database."};
  app.require_subcommand(1);
  std::string database_url = env_or("DATABASE_URL", "");
  std::vector<std::string> initial_version_args;
  auto add_db = [&](CLI::App* cmd) {
    cmd->add_option("--database-url", database_url, "PostgreSQL URL (default: $DATABASE_URL)");
    cmd->add_option("--initial-version", initial_version_args,
                    "PROJECTION=V: version a projection is created at on a fresh database (default: latest)");
  };

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
      "rebuild", "Rebuild a projection online and promote it; runs here unless another process already runs it");
  add_db(rebuild_cmd);
  rebuild_cmd->add_option("PROJECTION", rebuild_projection, "cars or customers")->required();
  rebuild_cmd->add_option("--version", rebuild_version, "version to build (default: latest)");
  rebuild_cmd->add_flag("--follow", follow, "print progress until the rebuild ends");

  auto* status_cmd = app.add_subcommand("status", "Projections and recent rebuilds, as JSON");
  add_db(status_cmd);

  auto* work_cmd = app.add_subcommand("work", "Run the catch-up worker and the rebuild supervisor until SIGTERM (no HTTP)");
  add_db(work_cmd);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(env_or("REPROJ_LOG", "info") == "debug" ? spdlog::level::debug : spdlog::level::info);

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
  try {
    if (*migrate_cmd) {
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
    Engine e{database_url, 4, initial_versions};
    if (*status_cmd) {
      nlohmann::json out{{"safe_tail", e.store.safe_tail()}, {"projections", nlohmann::json::array()},
                         {"rebuilds", nlohmann::json::array()}};
      for (const auto& p : e.live.status()) {
        out["projections"].push_back({{"name", p.name},
                                      {"active_version", p.active_version},
                                      {"last_replayed", p.last_replayed},
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
      std::cout << to_json(info).dump() << std::endl;
      std::jthread progress;
      if (follow) {
        progress = std::jthread([&, id = info.id](std::stop_token stop) {
          while (!stop.stop_requested()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            if (auto r = e.rebuilds->get(id)) std::cout << to_json(*r).dump() << std::endl;
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
  } catch (const engine::Error& ex) {
    std::cerr << "error: " << ex.what() << "\n";
    return 1;
  }
  return 0;
}
