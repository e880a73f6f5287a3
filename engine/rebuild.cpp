#include "engine/rebuild.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <random>
#include <set>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/history_sql.hpp"
#include "engine/detail/apply_range.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/rebuild_record.hpp"
#include "engine/detail/swap.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/history_retention.hpp"
#include "engine/event_store.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine {




RebuildManager::RebuildManager(ConnectionPool& pool, LiveProjections& live, RebuildOptions options)
    : pool_(pool), live_(live), options_(std::move(options)) {}

RebuildManager::~RebuildManager() {
  std::vector<std::jthread> supervisors;
  {
    std::scoped_lock lock{supervisors_mutex_};
    stopping_ = true;
    supervisors.swap(supervisors_);
  }
  for (auto& t : supervisors) t.request_stop();
  supervisors.clear();  // joins
}

RebuildInfo RebuildManager::start(const std::string& projection, int version, DependentViews views, PromoteMode promote,
                                  std::vector<std::string> expect_changes) {
  const Projection& p = live_.registry().get(projection, version);
  auto conflict = [&]() -> std::optional<StateConflict> {
    if (auto r = running(projection)) {
      return StateConflict("rebuild " + std::to_string(r->id) + " of " + projection + " is already running", r->id);
    }
    return std::nullopt;
  };
  if (auto c = conflict()) throw *c;
  try {
    auto started = pool_.run([&](pqxx::connection& conn) {
      pqxx::work tx{conn};
      auto active = tx.exec_params("SELECT active_version FROM reproj.projections WHERE name = $1", projection);
      if (active.empty()) throw UnknownProjection("projection '" + projection + "' is not set up");
      detail::check_dependents(tx, live_.registry().get(projection, active[0][0].as<int>()), p, views);
      const std::int64_t target = log::safe_tail(tx);
      const auto id = detail::insert_rebuild(tx, {.projection = projection,
                                                  .version = version,
                                                  .target = target,
                                                  .views = views,
                                                  .from_version = active[0][0].as<int>(),
                                                  .promote = promote,
                                                  .expect_changes = expect_changes});
      // Shadows are UNLOGGED and carry only their primary keys while replaying: WAL and secondary
      // indexes are paid once, at the switch to catching_up, not per batch. A history is appended
      // to, never rewritten: LOGGED from the start, its key built at that switch.
      detail::create_copy(tx, p, detail::table_names(p, detail::TableKind::kShadow, id), detail::Durability::kUnlogged,
                          detail::KeyIndex::kBuild);
      auto info = detail::load_rebuild(tx, id);
      tx.commit();
      spdlog::info("rebuild {} of {} to version {} started, target position {}", id, projection, version, target);
      return *info;
    });
    wake();
    return started;
  } catch (const pqxx::unique_violation&) {  // lost a race with another start
    if (auto c = conflict()) throw *c;
    throw;
  }
}

std::optional<RebuildInfo> RebuildManager::get(std::int64_t id) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    return detail::load_rebuild(tx, id);
  });
}

std::vector<RebuildInfo> RebuildManager::list() {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<RebuildInfo> out;
    for (const auto& r : tx.exec(detail::select_rebuilds() + "ORDER BY id DESC LIMIT 100")) {
      out.push_back(detail::rebuild_from_row(r));
    }
    return out;
  });
}

std::optional<RebuildInfo> RebuildManager::running(const std::string& projection) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<RebuildInfo> {
    pqxx::read_transaction tx{conn};
    auto r = tx.exec_params(detail::select_rebuilds() + "WHERE projection = $1 AND state IN " +
                                detail::kRunningStates,
                            projection);
    if (r.empty()) return std::nullopt;
    return detail::rebuild_from_row(r[0]);
  });
}

std::optional<int> RebuildManager::rollback_version(const std::string& projection) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<int> {
    pqxx::read_transaction tx{conn};
    auto r = tx.exec_params("SELECT retired_version FROM reproj.rebuilds WHERE projection = $1 "
                            "AND retired_version IS NOT NULL ORDER BY id DESC LIMIT 1",
                            projection);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<int>();
  });
}

RebuildInfo RebuildManager::cancel(std::int64_t id) {
  auto info = pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    auto before = detail::load_rebuild(tx, id);
    if (!before) throw NotFound("no rebuild " + std::to_string(id));
    if (!detail::mark_cancelled(tx, id)) {
      throw StateConflict("rebuild " + std::to_string(id) + " is not running (it is " +
                          std::string{to_string(before->state)} + ")");
    }
    auto after = detail::load_rebuild(tx, id);
    tx.commit();
    return *after;
  });
  spdlog::info("rebuild {} cancelled", id);
  drop_orphans();  // its shadow, unless its runner is mid-write: then the runner drops it
  return info;
}






void RebuildManager::start_supervisor(std::chrono::milliseconds poll) {
  {
    std::scoped_lock lock{supervisors_mutex_};
    poll_ = poll;
  }
  add_supervisors();
}

void RebuildManager::add_supervisors() {
  std::scoped_lock lock{supervisors_mutex_};
  if (!poll_ || stopping_) return;
  for (const auto& name : live_.registry().names()) {
    if (!supervised_.insert(name).second) continue;
    supervisors_.emplace_back([this, name, poll = *poll_](std::stop_token stop) { supervise(stop, name, poll); });
  }
}

void RebuildManager::supervise(std::stop_token stop, std::string projection, std::chrono::milliseconds poll) {
  bool swept = false;
  auto next_prune = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    try {
      if (!swept) {
        drop_orphans();  // tables left by a crash or a failed start
        swept = true;
      }
      if (std::chrono::steady_clock::now() >= next_prune) {  // history past its retention
        prune_history(pool_, live_.registry(), projection);
        next_prune = std::chrono::steady_clock::now() + std::chrono::seconds{10};
      }
      if (auto r = running(projection)) run(r->id, stop);
      add_supervisors();  // projections deployed meanwhile, here or by another instance
    } catch (const std::exception& e) {
      spdlog::warn("rebuild supervisor for {}: {}", projection, e.what());
    }
    std::unique_lock lock{wake_mutex_};
    wake_.wait_for(lock, stop, poll, [] { return false; });
  }
}

void RebuildManager::wake() {
  add_supervisors();
  wake_.notify_all();
}

}  // namespace reproj::engine
