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
#include "engine/detail/apply_range.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/swap.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kInfoColumns =
    "id, projection, version, state, position, target, events_replayed, events_per_second, resumes, "
    "resumed_from, coalesce(runner, ''), coalesce(error, ''), retired_version, drop_dependent_views, "
    "from_version, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS started_at, "
    "coalesce(to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '') AS finished_at, "
    "extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8 AS duration_seconds";
constexpr const char* kRunningStates = "('replaying', 'catching_up', 'promoting')";

RebuildState parse_state(const std::string& s) {
  if (s == "replaying") return RebuildState::kReplaying;
  if (s == "catching_up") return RebuildState::kCatchingUp;
  if (s == "promoting") return RebuildState::kPromoting;
  if (s == "done") return RebuildState::kDone;
  if (s == "failed") return RebuildState::kFailed;
  return RebuildState::kCancelled;
}

RebuildInfo info_from(const pqxx::row& r) {
  RebuildInfo i;
  i.id = r[0].as<std::int64_t>();
  i.projection = r[1].as<std::string>();
  i.version = r[2].as<int>();
  i.state = parse_state(r[3].as<std::string>());
  i.position = r[4].as<std::int64_t>();
  i.target = r[5].as<std::int64_t>();
  i.events_replayed = r[6].as<std::int64_t>();
  i.events_per_second = r[7].as<double>();
  i.resumes = r[8].as<int>();
  if (!r[9].is_null()) i.resumed_from = r[9].as<std::int64_t>();
  i.runner = r[10].as<std::string>();
  i.error = r[11].as<std::string>();
  if (!r[12].is_null()) i.retired_version = r[12].as<int>();
  i.dependent_views = r[13].as<bool>() ? DependentViews::kDrop : DependentViews::kRefuse;
  if (!r["from_version"].is_null()) i.from_version = r["from_version"].as<int>();
  i.started_at = r["started_at"].as<std::string>();
  i.finished_at = r["finished_at"].as<std::string>();
  i.duration_seconds = r["duration_seconds"].as<double>();
  if (is_running(i.state) && i.events_per_second > 0) {
    i.eta_seconds = static_cast<double>(std::max<std::int64_t>(i.target - i.position, 0)) / i.events_per_second;
  }
  return i;
}

std::optional<RebuildInfo> load(pqxx::transaction_base& tx, std::int64_t id) {
  auto r = tx.exec_params(std::string{"SELECT "} + kInfoColumns + " FROM reproj.rebuilds WHERE id = $1", id);
  if (r.empty()) return std::nullopt;
  return info_from(r[0]);
}

std::string runner_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string{host} + ":" + std::to_string(getpid());
}

std::string shadow_suffix(std::int64_t id) { return "s" + std::to_string(id); }
std::string retired_suffix(std::int64_t id) { return "r" + std::to_string(id); }

void drop_tables(pqxx::transaction_base& tx, const std::vector<std::string>& tables) {
  for (const auto& t : tables) tx.exec0("DROP TABLE IF EXISTS " + detail::qualified(tx, t));
}

bool is_lock_timeout(const pqxx::sql_error& e) { return e.sqlstate() == "55P03"; }


}  // namespace

std::string_view to_string(RebuildState state) {
  switch (state) {
    case RebuildState::kReplaying: return "replaying";
    case RebuildState::kCatchingUp: return "catching_up";
    case RebuildState::kPromoting: return "promoting";
    case RebuildState::kDone: return "done";
    case RebuildState::kFailed: return "failed";
    case RebuildState::kCancelled: return "cancelled";
  }
  return "failed";
}

bool is_running(RebuildState state) {
  return state == RebuildState::kReplaying || state == RebuildState::kCatchingUp || state == RebuildState::kPromoting;
}

RebuildManager::RebuildManager(ConnectionPool& pool, LiveProjections& live, RebuildOptions options)
    : pool_(pool), live_(live), options_(std::move(options)) {}

RebuildManager::~RebuildManager() {
  for (auto& t : supervisors_) t.request_stop();
  supervisors_.clear();  // joins
}

RebuildInfo RebuildManager::start(const std::string& projection, int version, DependentViews views) {
  const Projection& p = live_.registry().get(projection, version);
  auto conflict = [&]() -> std::optional<StateConflict> {
    if (auto r = running(projection)) {
      return StateConflict("rebuild " + std::to_string(r->id) + " of " + projection + " is already running", r->id);
    }
    return std::nullopt;
  };
  if (auto c = conflict()) throw *c;
  try {
    return pool_.run([&](pqxx::connection& conn) {
      pqxx::work tx{conn};
      auto active = tx.exec_params("SELECT active_version FROM reproj.projections WHERE name = $1", projection);
      if (active.empty()) throw UnknownProjection("projection '" + projection + "' is not set up");
      detail::check_dependents(tx, live_.registry().get(projection, active[0][0].as<int>()), p, views);
      const std::int64_t target = log::safe_tail(tx);
      auto row = tx.exec_params1(
          "INSERT INTO reproj.rebuilds (projection, version, target, drop_dependent_views, from_version) "
          "VALUES ($1, $2, $3, $4, $5) RETURNING id",
          projection, version, target, views == DependentViews::kDrop, active[0][0].as<int>());
      const auto id = row[0].as<std::int64_t>();
      // Shadows are UNLOGGED and carry only their primary keys while replaying: WAL and secondary
      // indexes are paid once, at the switch to catching_up, not per batch.
      for (const auto& t : p.tables()) {
        detail::create_table(tx, t, detail::physical_table(p, t, shadow_suffix(id)), true);
      }
      auto info = load(tx, id);
      tx.commit();
      spdlog::info("rebuild {} of {} to version {} started, target position {}", id, projection, version, target);
      return *info;
    });
  } catch (const pqxx::unique_violation&) {  // lost a race with another start
    if (auto c = conflict()) throw *c;
    throw;
  }
}

std::optional<RebuildInfo> RebuildManager::get(std::int64_t id) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    return load(tx, id);
  });
}

std::vector<RebuildInfo> RebuildManager::list() {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<RebuildInfo> out;
    for (const auto& r : tx.exec(std::string{"SELECT "} + kInfoColumns + " FROM reproj.rebuilds ORDER BY id DESC LIMIT 100")) {
      out.push_back(info_from(r));
    }
    return out;
  });
}

std::optional<RebuildInfo> RebuildManager::running(const std::string& projection) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<RebuildInfo> {
    pqxx::read_transaction tx{conn};
    auto r = tx.exec_params(std::string{"SELECT "} + kInfoColumns + " FROM reproj.rebuilds WHERE projection = $1 AND state IN " +
                                kRunningStates,
                            projection);
    if (r.empty()) return std::nullopt;
    return info_from(r[0]);
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
    auto before = load(tx, id);
    if (!before) throw NotFound("no rebuild " + std::to_string(id));
    auto r = tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'cancelled', finished_at = now(), "
                                        "updated_at = now() WHERE id = $1 AND state IN "} +
                                kRunningStates + " RETURNING id",
                            id);
    if (r.empty()) {
      throw StateConflict("rebuild " + std::to_string(id) + " is not running (it is " +
                          std::string{to_string(before->state)} + ")");
    }
    auto after = load(tx, id);
    tx.commit();
    return *after;
  });
  spdlog::info("rebuild {} cancelled", id);
  drop_orphans();  // its shadow, unless its runner is mid-write: then the runner drops it
  return info;
}

std::vector<std::string> RebuildManager::drop_orphans() {
  const auto& registry = live_.registry();
  auto orphans = pool_.run([&](pqxx::connection& conn) {
    // One snapshot for both lists: a rebuild starting meanwhile commits its record and its shadow
    // together, so it is either wholly visible here or its tables are not listed.
    pqxx::transaction<pqxx::repeatable_read> tx{conn};
    std::set<std::string> keep;
    std::set<std::string> unknown_projections;
    auto keep_all = [&](const std::string& name, int version, const std::string& suffix) {
      if (!registry.has(name) || registry.versions(name).end() == std::find(registry.versions(name).begin(),
                                                                          registry.versions(name).end(), version)) {
        unknown_projections.insert(name);  // not ours to judge: keep everything of it
        return;
      }
      for (const auto& t : detail::physical_tables(registry.get(name, version), suffix)) keep.insert(t);
    };
    for (const auto& r : tx.exec("SELECT name, active_version FROM reproj.projections")) {
      keep_all(r[0].as<std::string>(), r[1].as<int>(), "");
    }
    for (const auto& r : tx.exec(std::string{"SELECT id, projection, version FROM reproj.rebuilds WHERE state IN "} +
                                 kRunningStates)) {
      keep_all(r[1].as<std::string>(), r[2].as<int>(), shadow_suffix(r[0].as<std::int64_t>()));
    }
    for (const auto& r :
         tx.exec("SELECT id, projection, retired_version FROM reproj.rebuilds WHERE retired_version IS NOT NULL")) {
      keep_all(r[1].as<std::string>(), r[2].as<int>(), retired_suffix(r[0].as<std::int64_t>()));
    }
    std::vector<std::string> out;
    for (const auto& r : tx.exec_params("SELECT tablename FROM pg_tables WHERE schemaname = $1", detail::kDataSchema)) {
      auto name = r[0].as<std::string>();
      bool foreign = false;
      for (const auto& u : unknown_projections) foreign = foreign || name.rfind(u, 0) == 0;
      if (!keep.count(name) && !foreign) out.push_back(name);
    }
    tx.commit();
    return out;
  });
  std::vector<std::string> dropped;
  for (const auto& t : orphans) {
    try {
      pool_.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        tx.exec0("SET LOCAL lock_timeout = '" + std::to_string(options_.lock_timeout.count()) + "ms'");
        drop_tables(tx, {t});
        tx.commit();
      });
      dropped.push_back(t);
      spdlog::info("dropped orphan table {}.{}", detail::kDataSchema, t);
    } catch (const pqxx::sql_error& e) {  // in use right now (a runner finishing): next time
      spdlog::debug("orphan {} not dropped yet: {}", t, e.what());
    }
  }
  return dropped;
}

// Runs one rebuild while holding its projection's session advisory lock on `conn_`.
class RebuildManager::Runner {
 public:
  Runner(RebuildManager& m, pqxx::connection& conn, RebuildInfo info)
      : m_(m),
        conn_(conn),
        info_(std::move(info)),
        projection_(m.live_.registry().get(info_.projection, info_.version)),
        shadow_(detail::physical_tables(projection_, shadow_suffix(info_.id))),
        rows_(projection_.tables(), nullptr) {}

  void run(std::stop_token stop) {
    std::int64_t position = resume();
    RebuildState state = info_.state == RebuildState::kPromoting ? RebuildState::kCatchingUp : info_.state;
    auto reader = detail::connect(m_.pool_.database_url());
    const auto started = Clock::now();
    auto last_checkpoint = started;
    std::int64_t events_since_start = 0, checkpoints = 0, unflushed = 0;
    auto fetch = [&](std::int64_t from, std::int64_t up_to) {
      std::vector<Event> events;
      events.reserve(std::min<std::size_t>(m_.options_.batch_events, 1 << 20));
      pqxx::read_transaction rt{*reader};
      log::stream_events(
          rt, from, up_to, m_.options_.batch_events, [&](Event& e) { events.push_back(std::move(e)); },
          projection_.extras());
      return events;
    };
    // While replaying to a fixed target, the next batch streams in (PostgreSQL and the reader
    // thread on one core) while this thread folds the current one.
    std::future<std::vector<Event>> prefetched;
    std::vector<Event> batch;
    while (!stop.stop_requested()) {
      const std::int64_t up_to = state == RebuildState::kReplaying ? info_.target : tail(*reader);
      const auto t_read = Clock::now();
      batch = prefetched.valid() ? prefetched.get() : fetch(position, up_to);
      const bool full = batch.size() >= m_.options_.batch_events;
      if (state == RebuildState::kReplaying && full && batch.back().global_position < up_to) {
        prefetched = std::async(std::launch::async, fetch, batch.back().global_position, up_to);
      }
      const auto t_fold = Clock::now();
      for (const auto& e : batch) projection_.apply(e, rows_);
      const auto t_flush = Clock::now();
      const std::int64_t next = full ? batch.back().global_position : up_to;
      events_since_start += static_cast<std::int64_t>(batch.size());
      unflushed += static_cast<std::int64_t>(batch.size());
      position = next;
      spdlog::debug("rebuild {}: {} events read {:.0f} ms, fold {:.0f} ms", info_.id, batch.size(),
                    std::chrono::duration<double, std::milli>(t_fold - t_read).count(),
                    std::chrono::duration<double, std::milli>(t_flush - t_fold).count());
      const bool replay_done = state == RebuildState::kReplaying && position >= info_.target;
      const auto every = m_.options_.checkpoint_events;
      const bool due = Clock::now() - last_checkpoint >= m_.options_.checkpoint_every ||
                       (every > 0 && unflushed >= static_cast<std::int64_t>(every));
      if (state == RebuildState::kReplaying && !replay_done && !due) {
        continue;  // fold on in memory; the next checkpoint writes these rows once
      }
      const auto t_checkpoint = Clock::now();
      const double seconds = std::chrono::duration<double>(t_checkpoint - started).count();
      if (!checkpoint(position, unflushed, state, seconds > 0 ? static_cast<double>(events_since_start) / seconds : 0,
                      replay_done)) {
        return;  // cancelled meanwhile
      }
      unflushed = 0;
      last_checkpoint = Clock::now();
      spdlog::debug("rebuild {}: checkpoint at {} took {:.0f} ms", info_.id, position,
                    std::chrono::duration<double, std::milli>(Clock::now() - t_checkpoint).count());
      fault(state == RebuildState::kReplaying ? "checkpoint" : "catch_up_checkpoint", ++checkpoints);
      if (replay_done) {  // that checkpoint made the shadow logged and indexed, and switched state
        state = RebuildState::kCatchingUp;
        fault("catching_up", 0);
      }
      if (state == RebuildState::kCatchingUp && tail(*reader) - position <= m_.options_.promote_lag) {
        promote(position);
        return;
      }
    }
  }

 private:
  std::int64_t tail(pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    return log::safe_tail(tx);
  }

  void fault(std::string_view point, std::int64_t n) {
    if (m_.options_.fault) m_.options_.fault(point, n);
  }

  // Reloads the checkpointed shadow into memory (the fold's cross-stream state lives there).
  std::int64_t resume() {
    pqxx::work tx{conn_};
    std::int64_t position = info_.position;
    if (position > 0) {
      std::int64_t rows = 0;
      for (const auto& t : shadow_) {
        rows += tx.exec("SELECT count(*) FROM " + detail::qualified(tx, t))[0][0].as<std::int64_t>();
      }
      const auto recorded = tx.exec_params1("SELECT shadow_rows FROM reproj.rebuilds WHERE id = $1", info_.id)[0]
                                .as<std::int64_t>();
      if (rows != recorded) {
        // UNLOGGED shadows are emptied when PostgreSQL restarts after a crash: start over.
        spdlog::warn("rebuild {}: shadow holds {} rows, checkpoint recorded {}: replaying from 0", info_.id, rows,
                     recorded);
        for (const auto& t : shadow_) tx.exec0("TRUNCATE " + detail::qualified(tx, t));
        tx.exec_params("UPDATE reproj.rebuilds SET position = 0, shadow_rows = 0, events_replayed = 0, "
                       "state = 'replaying' WHERE id = $1",
                       info_.id);
        info_.state = RebuildState::kReplaying;
        position = 0;
      } else {
        const auto& specs = projection_.tables();
        for (std::size_t i = 0; i < specs.size(); ++i) {
          for (const auto& r : tx.exec("SELECT " + detail::column_list(tx, specs[i]) + " FROM " +
                                       detail::qualified(tx, shadow_[i]))) {
            rows_.load_persisted(i, detail::decode_row(r, specs[i]));
          }
        }
      }
      tx.exec_params("UPDATE reproj.rebuilds SET resumes = resumes + 1, resumed_from = $2 WHERE id = $1", info_.id,
                     position);
      spdlog::info("rebuild {} resumes from checkpoint {}", info_.id, position);
    }
    tx.exec_params("UPDATE reproj.rebuilds SET runner = $2, updated_at = now() WHERE id = $1", info_.id, runner_name());
    tx.commit();
    shadow_written_ = position > 0;
    return position;
  }

  // Flushes memory to the shadow and records the position, in one transaction. The checkpoint
  // that ends the replay also makes the shadow durable and indexed and switches to catching up.
  bool checkpoint(std::int64_t position, std::int64_t events, RebuildState state, double rate, bool last_replay) {
    pqxx::work tx{conn_};
    if (last_replay || (state == RebuildState::kReplaying && (!shadow_written_ || mostly_rewritten()))) {
      rewrite_shadow(tx, last_replay);
    } else {
      detail::flush(tx, projection_, rows_, shadow_, true);
    }
    std::int64_t rows = 0;
    for (std::size_t i = 0; i < shadow_.size(); ++i) rows += static_cast<std::int64_t>(rows_.size(i));
    // Shadow rows and the rebuild's watermark commit together: a resume starts exactly here.
    auto r = tx.exec_params(
        "UPDATE reproj.rebuilds SET position = $2, events_replayed = events_replayed + $3, shadow_rows = $4, "
        "events_per_second = $5, updated_at = now(), state = CASE WHEN $7 THEN 'catching_up' ELSE state END "
        "WHERE id = $1 AND state = $6 RETURNING id",
        info_.id, position, events, rows, rate, std::string{to_string(state)}, last_replay);
    if (r.empty()) {
      tx.abort();
      drop_shadow();
      return false;
    }
    tx.commit();
    shadow_written_ = true;
    return true;
  }

  // Memory holds the whole projection during a replay: writing the shadow anew with COPY beats
  // upserting most of its rows (measured ~5x per row). The primary key is dropped and rebuilt
  // around the COPY (one sorted build beats maintaining it row by row, as in the bench's "limit
  // b"). At the end of the replay the emptied table is made LOGGED before the COPY, so the rows are
  // written once rather than again by SET LOGGED, and the secondary indexes are built after it.
  void rewrite_shadow(pqxx::work& tx, bool last_replay) {
    const auto& specs = projection_.tables();
    tx.exec0("SET LOCAL max_parallel_maintenance_workers = " + std::to_string(m_.options_.index_build_workers));
    // Every table is put in key order on its own thread meanwhile (memory is only read here).
    std::vector<std::future<std::vector<const Row*>>> ordered;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      ordered.push_back(std::async(std::launch::async, [this, i] { return in_key_order(i); }));
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto table = detail::qualified(tx, shadow_[i]);
      tx.exec0("TRUNCATE " + table);
      const auto pk = tx.exec_params1("SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass "
                                      "AND contype = 'p'",
                                      table)[0]
                          .as<std::string>();
      tx.exec0("ALTER TABLE " + table + " DROP CONSTRAINT " + tx.quote_name(pk));
      if (last_replay) tx.exec0("ALTER TABLE " + table + " SET LOGGED");
      detail::copy_rows(tx, specs[i], shadow_[i], ordered[i].get());
      tx.exec0("ALTER TABLE " + table + " ADD PRIMARY KEY (" + tx.quote_name(specs[i].columns[0].name) + ")");
      if (last_replay) detail::create_indexes(tx, specs[i], shadow_[i]);
    }
    rows_.mark_flushed();
  }

  // The rows of table i in key order: the primary key then builds from presorted input, ~2x
  // faster for the 220k cars of the 1M-event bench (byte order is the C collation's; under another
  // collation the input is merely less sorted). Sorted by a 16-byte prefix held inline, so most
  // comparisons touch no row (sorting the pointers by key cost more than it saved).
  std::vector<const Row*> in_key_order(std::size_t i) const {
    struct Keyed {
      std::uint64_t hi = 0, lo = 0;  // the key's first 16 bytes, big-endian, zero-padded
      const Row* row;
    };
    std::vector<Keyed> keyed;
    keyed.reserve(rows_.size(i));
    rows_.for_each_row(i, [&](const Row& r) {
      unsigned char b[16] = {};
      const auto& key = r.key();
      std::memcpy(b, key.data(), std::min<std::size_t>(key.size(), sizeof b));
      Keyed k{0, 0, &r};
      for (int j = 0; j < 8; ++j) {
        k.hi = k.hi << 8 | b[j];
        k.lo = k.lo << 8 | b[j + 8];
      }
      keyed.push_back(k);
    });
    std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
      if (a.hi != b.hi) return a.hi < b.hi;
      if (a.lo != b.lo) return a.lo < b.lo;
      return a.row->key() < b.row->key();
    });
    std::vector<const Row*> out;
    out.reserve(keyed.size());
    for (const auto& k : keyed) out.push_back(k.row);
    return out;
  }

  // True when more than a fifth of the persisted rows changed since the last checkpoint.
  bool mostly_rewritten() const {
    std::size_t total = 0, changed = 0;
    for (std::size_t i = 0; i < shadow_.size(); ++i) {
      total += rows_.size(i);
      changed += rows_.dirty_persisted(i);
    }
    return changed * 5 > total;
  }

  void drop_shadow() {
    pqxx::work tx{conn_};
    drop_tables(tx, shadow_);
    tx.commit();
  }

  void promote(std::int64_t position) {
    const auto deadline = Clock::now() + m_.options_.swap_budget;
    auto backoff = std::chrono::milliseconds{20};
    std::mt19937 jitter{std::random_device{}()};
    for (std::int64_t attempt = 1;; ++attempt) {
      try {
        const auto t_swap = Clock::now();
        pqxx::work tx{conn_};
        tx.exec0("SET LOCAL lock_timeout = '" + std::to_string(m_.options_.lock_timeout.count()) + "ms'");
        if (tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'promoting', updated_at = now() "
                                       "WHERE id = $1 AND state IN "} +
                               kRunningStates + " RETURNING id",
                           info_.id)
                .empty()) {
          tx.abort();
          drop_shadow();
          return;
        }
        // Checked before the metadata row lock (readers queue behind it); checked again under it
        // only if a rollback changed the live version meanwhile.
        const int expected_version =
            tx.exec_params1("SELECT active_version FROM reproj.projections WHERE name = $1", info_.projection)[0]
                .as<int>();
        detail::prepare_swap(tx, m_.live_.registry().get(info_.projection, expected_version), projection_,
                             info_.dependent_views);
        const auto meta = m_.live_.lock_metadata(tx, info_.projection);
        const auto t_locked = Clock::now();
        const int old_version = meta.version;
        const std::int64_t old_position = meta.position;
        // The last catch-up happens here, holding the metadata row lock that every live applier
        // and sync read takes: nothing can commit to P between "caught up" and the swap, so no
        // event falls between the two versions.
        const std::int64_t tail = log::safe_tail(tx);
        auto applied = detail::apply_range(tx, projection_, shadow_, position, tail,
                                           std::numeric_limits<std::size_t>::max(), m_.live_.options().chunk_events);
        fault("promote", attempt);
        const Projection& old = m_.live_.registry().get(info_.projection, old_version);
        if (old_version != expected_version) detail::check_dependents(tx, old, projection_, info_.dependent_views);
        detail::swap_tables(tx, old, detail::physical_tables(old, retired_suffix(info_.id)), projection_, shadow_,
                            info_.dependent_views);
        tx.exec_params("UPDATE reproj.projections SET active_version = $2, last_replayed = $3, state = 'live', "
                       "error = NULL, updated_at = now() WHERE name = $1",
                       info_.projection, info_.version, tail);
        tx.exec_params("UPDATE reproj.rebuilds SET state = 'done', position = $2, events_replayed = events_replayed + $3, "
                       "retired_version = $4, retired_position = $5, finished_at = now(), updated_at = now() "
                       "WHERE id = $1",
                       info_.id, tail, applied.events, old_version, old_position);
        tx.commit();
        spdlog::info("rebuild {} promoted {} version {} at position {} (attempt {}, {} events under the lock, {:.1f} ms; "
                     "{:.1f} ms in all)",
                     info_.id, info_.projection, info_.version, tail, attempt, applied.events,
                     std::chrono::duration<double, std::milli>(Clock::now() - t_locked).count(),
                     std::chrono::duration<double, std::milli>(Clock::now() - t_swap).count());
        break;
      } catch (const pqxx::sql_error& e) {
        if (!is_lock_timeout(e)) throw;
        if (Clock::now() + backoff > deadline) {
          throw LockTimeout("could not take the swap locks within " +
                            std::to_string(m_.options_.swap_budget.count()) + " ms; live is unchanged");
        }
        spdlog::info("rebuild {}: swap lock busy (attempt {}), retrying in {} ms", info_.id, attempt, backoff.count());
        std::this_thread::sleep_for(backoff + std::chrono::milliseconds{jitter() % 20});
        backoff = std::min(backoff * 2, std::chrono::milliseconds{1000});
      }
    }
    m_.retire_old(info_.projection);
  }

  RebuildManager& m_;
  pqxx::connection& conn_;
  RebuildInfo info_;
  const Projection& projection_;
  const std::vector<std::string> shadow_;
  RowSet rows_;  // the whole projection: memory is authoritative during a replay
  bool shadow_written_ = false;  // the shadow holds a checkpoint (else the next one rewrites it whole)
};

std::optional<RebuildInfo> RebuildManager::run(std::int64_t id, std::stop_token stop) {
  auto conn = detail::connect(pool_.database_url());
  std::optional<RebuildInfo> info;
  {
    pqxx::read_transaction tx{*conn};
    info = load(tx, id);
  }
  if (!info) throw NotFound("no rebuild " + std::to_string(id));
  if (!is_running(info->state)) return info;
  // Session-level: held while this connection lives, so a runner that dies releases it and
  // another process picks the rebuild up from its checkpoint.
  {
    pqxx::nontransaction tx{*conn};
    if (!tx.exec_params1("SELECT pg_try_advisory_lock(hashtext('reproj.rebuild:' || $1))", info->projection)[0]
             .as<bool>()) {
      return std::nullopt;
    }
  }
  {
    pqxx::read_transaction tx{*conn};
    info = load(tx, id);  // it may have moved on before we got the lock
  }
  if (!is_running(info->state)) return info;
  try {
    detail::translate_errors([&] {
      Runner runner{*this, *conn, *info};
      runner.run(stop);
    });
  } catch (const DatabaseUnavailable&) {
    throw;  // resumable: the next runner continues from the checkpoint
  } catch (const std::exception& e) {
    if (auto now = get(id); now && now->state == RebuildState::kCancelled) {
      spdlog::info("rebuild {} stopped: it was cancelled", id);
      drop_orphans();
      return now;
    }
    // A poison event or an unexpected error: record it, drop the shadow, leave live untouched.
    spdlog::error("rebuild {} failed: {}", id, e.what());
    pool_.run([&](pqxx::connection& c) {
      pqxx::work tx{c};
      tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'failed', error = $2, finished_at = now(), "
                                 "updated_at = now() WHERE id = $1 AND state IN "} +
                         kRunningStates,
                     id, std::string{e.what()});
      tx.commit();
    });
    drop_orphans();
  }
  return get(id);
}

void RebuildManager::retire_old(const std::string& projection) {
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    tx.exec_params(
        "UPDATE reproj.rebuilds SET retired_version = NULL WHERE projection = $1 AND retired_version IS NOT NULL "
        "AND id NOT IN (SELECT id FROM reproj.rebuilds WHERE projection = $1 AND retired_version IS NOT NULL "
        "ORDER BY id DESC LIMIT $2)",
        projection, options_.retain_retired);
    tx.commit();
  });
  drop_orphans();
}

RebuildInfo RebuildManager::rollback(const std::string& projection, DependentViews views) {
  if (!live_.registry().has(projection)) throw UnknownProjection("unknown projection '" + projection + "'");
  const auto deadline = Clock::now() + options_.swap_budget;
  auto backoff = std::chrono::milliseconds{20};
  while (true) {
    try {
      return pool_.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        tx.exec0("SET LOCAL lock_timeout = '" + std::to_string(options_.lock_timeout.count()) + "ms'");
        const auto meta = live_.lock_metadata(tx, projection);
        auto rec = tx.exec_params(std::string{"SELECT "} + kInfoColumns + ", retired_position AS retired_position "
                                  "FROM reproj.rebuilds "
                                  "WHERE projection = $1 AND retired_version IS NOT NULL ORDER BY id DESC LIMIT 1",
                                  projection);
        if (rec.empty()) throw StateConflict("projection '" + projection + "' has no retained version to roll back to");
        auto info = info_from(rec[0]);
        const int current_version = meta.version;
        const std::int64_t current_position = meta.position;
        const Projection& current = live_.registry().get(projection, current_version);
        const Projection& retired = live_.registry().get(projection, *info.retired_version);
        const auto retired_tables = detail::physical_tables(retired, retired_suffix(info.id));
        detail::check_dependents(tx, current, retired, views);
        // Catch the retired version up under the same lock the swap takes, then swap names.
        const std::int64_t tail = log::safe_tail(tx);
        detail::apply_range(tx, retired, retired_tables, rec[0]["retired_position"].as<std::int64_t>(), tail,
                            std::numeric_limits<std::size_t>::max(), live_.options().chunk_events);
        const auto parked = detail::physical_tables(retired, "t" + std::to_string(info.id));
        detail::rename_tables(tx, retired_tables, parked);  // frees the retired names for `current`
        detail::swap_tables(tx, current, detail::physical_tables(current, retired_suffix(info.id)), retired, parked,
                            views);
        tx.exec_params("UPDATE reproj.projections SET active_version = $2, last_replayed = $3, state = 'live', "
                       "error = NULL, updated_at = now() WHERE name = $1",
                       projection, *info.retired_version, tail);
        tx.exec_params("UPDATE reproj.rebuilds SET retired_version = $2, retired_position = $3, updated_at = now() "
                       "WHERE id = $1",
                       info.id, current_version, current_position);
        auto after = load(tx, info.id);
        if (options_.fault) options_.fault("rollback", 1);
        tx.commit();
        spdlog::info("{} rolled back to version {} at position {}", projection, *info.retired_version, tail);
        return *after;
      });
    } catch (const pqxx::sql_error& e) {
      if (!is_lock_timeout(e) || Clock::now() + backoff > deadline) throw;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds{1000});
    }
  }
}

void RebuildManager::start_supervisor(std::chrono::milliseconds poll) {
  for (const auto& name : live_.registry().names()) {
    supervisors_.emplace_back([this, name, poll](std::stop_token stop) { supervise(stop, name, poll); });
  }
}

void RebuildManager::supervise(std::stop_token stop, std::string projection, std::chrono::milliseconds poll) {
  bool swept = false;
  while (!stop.stop_requested()) {
    try {
      if (!swept) {
        drop_orphans();  // tables left by a crash or a failed start
        swept = true;
      }
      if (auto r = running(projection)) run(r->id, stop);
    } catch (const std::exception& e) {
      spdlog::warn("rebuild supervisor for {}: {}", projection, e.what());
    }
    std::unique_lock lock{wake_mutex_};
    wake_.wait_for(lock, stop, poll, [] { return false; });
  }
}

void RebuildManager::wake() { wake_.notify_all(); }

}  // namespace reproj::engine
