#include "api/cli/engine_root.hpp"

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/migrations.hpp"
#include "engine/session_check.hpp"
#include "engine/spec/spec_files.hpp"

namespace reproj::cli {

namespace {

// REPROJ_FAULT=point:count makes the process SIGKILL itself there: a test hook for the crash
// loop, not a setting.
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

engine::ProjectionRegistry make_registry(const DatabaseArgs& db) {
  engine::ProjectionRegistry registry;
  db.register_projections(registry);
  if (!db.projections_dir.empty()) engine::spec::register_directory(db.projections_dir, registry);
  return registry;
}

engine::RebuildOptions rebuild_options_from_env() {
  engine::RebuildOptions options;
  options.fault = fault_from_env();
  // Tests use small batches to get many checkpoints: REPROJ_REBUILD_BATCH reads and checkpoints
  // every N events unless REPROJ_CHECKPOINT_EVENTS says otherwise (0: every 5 s only).
  if (const auto batch = env_count("REPROJ_REBUILD_BATCH", 0, 1, std::size_t{1} << 24); batch > 0) {  // 0: unset
    options.batch_events = options.checkpoint_events = batch;
  }
  options.checkpoint_events = env_count("REPROJ_CHECKPOINT_EVENTS", options.checkpoint_events, 0, std::size_t{1} << 40);
  options.memory_budget =
      env_count("REPROJ_REBUILD_MEMORY_MIB", options.memory_budget >> 20, 0, std::size_t{1} << 30) << 20;
  // PostgreSQL's own range for max_parallel_maintenance_workers.
  options.index_build_workers = static_cast<int>(
      env_count("REPROJ_INDEX_BUILD_WORKERS", static_cast<std::size_t>(options.index_build_workers), 0, 1024));
  options.index_build_sessions = static_cast<int>(
      env_count("REPROJ_INDEX_BUILD_SESSIONS", static_cast<std::size_t>(options.index_build_sessions), 1, 64));
  // PostgreSQL's range for maintenance_work_mem is 1 MB to 2 TB.
  options.index_build_memory_mib = static_cast<int>(env_count(
      "REPROJ_INDEX_BUILD_MEMORY_MIB", static_cast<std::size_t>(options.index_build_memory_mib), 1, 2'097'151));
  return options;
}

engine::EventStoreOptions store_options_from_env(engine::AppendObserver* observer) {
  engine::EventStoreOptions options;
  options.observer = observer;
  options.append_lock_timeout = std::chrono::milliseconds{env_count(
      "REPROJ_APPEND_LOCK_TIMEOUT_MS", static_cast<std::size_t>(options.append_lock_timeout.count()), 1, 3'600'000)};
  return options;
}

}  // namespace

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string{v} : fallback;
}

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

EngineRoot::EngineRoot(const DatabaseArgs& db, std::size_t pool_size)
    : registry(make_registry(db)), pool(db.url, pool_size),
      live(pool, registry),
      store(pool, store_options_from_env(&inline_projections)) {
  engine::require_session_connections(db.url);
  engine::migrate(db.url);
  specs.store_files();
  specs.sync();
  for (const auto& name : registry.names()) {
    auto it = db.initial_versions.find(name);
    const int version = it != db.initial_versions.end() ? it->second : registry.latest(name).version();
    // A projection only deployed over the API whose deploy stopped before creating it: it is
    // built from the whole log like any new one (engine::spec::resume_building).
    const auto origin = registry.origin(name, version);
    live.ensure(name, version,
                origin && origin->kind == engine::VersionOrigin::Kind::kApi ? engine::LiveProjections::Created::kBuildFirst
                                                                            : engine::LiveProjections::Created::kServing);
  }
  rebuilds = std::make_unique<engine::RebuildManager>(pool, live, rebuild_options_from_env());
}

}  // namespace reproj::cli
