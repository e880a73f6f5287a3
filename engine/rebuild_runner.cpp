// The rebuild runner: replays the log into a shadow, checkpoints, catches up and promotes.
// (Past ~400 lines because the replay loop, its checkpoints and the promote share the runner's
// state: the in-memory row set, the shadow's names and what was last written.)
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <thread>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/rebuild_record.hpp"
#include "engine/detail/sleep.hpp"
#include "engine/detail/swap.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/detail/apply_range.hpp"
#include "engine/detail/diff.hpp"
#include "engine/detail/unique_clash.hpp"
#include "engine/detail/quarantine.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/read_ahead.hpp"
#include "engine/detail/shadow_indexes.hpp"
#include "engine/event_store.hpp"
#include "engine/rebuild.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine {

namespace {

using Clock = std::chrono::steady_clock;

// Batches a replay reads ahead of its fold: memory for four more batches (~25 MB each at 50,000
// generated events) against PostgreSQL idling while the fold checkpoints or meets a slow batch.
// Held to a memory budget, it reads one ahead unless the rows and four batches fit the budget.
constexpr std::size_t kReadAheadBatches = 4;

std::string runner_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string{host} + ":" + std::to_string(getpid());
}

}  // namespace

// Runs one rebuild while holding its projection's session advisory lock on `conn_`.
class RebuildManager::Runner {
 public:
  Runner(RebuildManager& m, pqxx::connection& conn, RebuildInfo info)
      : m_(m),
        conn_(conn),
        info_(std::move(info)),
        projection_(m.live_.registry().get(info_.projection, info_.version)),
        shadow_(detail::table_names(projection_, detail::TableKind::kShadow, info_.id)),
        rows_(projection_.tables(), nullptr) {}

  // A replay's rows (millions at 10M events) take about a second to free, and nothing waits for
  // it: the rebuild is promoted or stopped. They go on a thread of their own.
  ~Runner() {
    std::thread([gone = std::move(rows_)] {}).detach();
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  void run(std::stop_token stop) {
    std::int64_t position = resume();
    RebuildState state = info_.state == RebuildState::kPromoting ? RebuildState::kCatchingUp : info_.state;
    auto reader = detail::connect(m_.pool_.database_url());
    detail::exec_session(*reader, "SET application_name = 'reproj rebuild " + std::to_string(info_.id) + " reader'");
    const auto started = Clock::now();
    auto last_checkpoint = started;
    Clock::duration last_checkpoint_cost{};
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
    // While replaying to a fixed target, the batches ahead stream in on their own thread
    // (PostgreSQL and the reader on one core) while this thread folds and checkpoints.
    std::optional<detail::ReadAhead> ahead;
    std::vector<Event> batch;
    while (!stop.stop_requested()) {
      const std::int64_t up_to = state == RebuildState::kReplaying ? info_.target : tail(*reader);
      const auto t_read = Clock::now();
      if (state == RebuildState::kReplaying && !ahead) {
        ahead.emplace(fetch, position, up_to, m_.options_.batch_events, bounded_ ? 1 : kReadAheadBatches);
      }
      batch = ahead ? ahead->next().value() : fetch(position, up_to);
      const bool full = batch.size() >= m_.options_.batch_events;
      if (ahead && (!full || batch.back().global_position >= up_to)) ahead.reset();  // that was its last
      if (ahead && bounded_) {
        const bool room = !spilled_ && rows_.approx_bytes() + kReadAheadBatches * detail::approx_bytes(batch) <=
                                           m_.options_.memory_budget;
        ahead->set_depth(room ? kReadAheadBatches : 1);
      }
      const auto t_fold = Clock::now();
      // Over its memory budget, the fold reads the rows this batch touches back from the shadow.
      std::optional<pqxx::read_transaction> shadow_tx;
      std::optional<detail::SqlRowSource> shadow_rows;
      if (spilled_) {
        RowSet recorded{projection_.tables(), nullptr, true};
        for (const auto& e : batch) {
          try {
            projection_.apply(e, recorded);
          } catch (const PoisonEvent&) {  // the fold below decides
          }
        }
        shadow_tx.emplace(conn_);
        shadow_rows.emplace(*shadow_tx, projection_, shadow_);
        rows_.set_source(&*shadow_rows);
        rows_.prefetch(recorded);
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        const Event& e = batch[i];
        rows_.warm_ahead(batch, i);
        rows_.begin_event(e.global_position);  // (no-ops without unique rules)
        try {
          projection_.apply(e, rows_);
        } catch (const PoisonEvent& poison) {
          rows_.undo_event();
          if (policy_ == PoisonPolicy::kStop) throw;
          skipped_.emplace_back(e, poison);  // recorded with the next checkpoint
          continue;
        }
        if (!checks_unique_) continue;
        if (auto clash = rows_.clash()) {
          // The history breaks a unique rule: this version must never promote. The event is
          // left out (as an append would have been refused) and the fold goes on, without
          // checkpoints, until the report holds kMaxDuplicates or the log ends.
          rows_.undo_event();
          if (duplicates_.size() < kMaxDuplicates) duplicates_.push_back(detail::describe(projection_, *clash));
        }
      }
      if (spilled_) {
        rows_.set_source(nullptr);
        shadow_rows.reset();
        shadow_tx.reset();
      }
      const auto t_flush = Clock::now();
      const std::int64_t next = full ? batch.back().global_position : up_to;
      events_since_start += static_cast<std::int64_t>(batch.size());
      unflushed += static_cast<std::int64_t>(batch.size());
      position = next;
      if (!duplicates_.empty()) {
        if (duplicates_.size() >= kMaxDuplicates || !full) throw UniqueViolation(info_.projection, duplicates_);
        continue;
      }
      spdlog::debug("rebuild {}: {} events read {:.0f} ms, fold {:.0f} ms", info_.id, batch.size(),
                    std::chrono::duration<double, std::milli>(t_fold - t_read).count(),
                    std::chrono::duration<double, std::milli>(t_flush - t_fold).count());
      const bool replay_done = state == RebuildState::kReplaying && position >= info_.target;
      const auto every = m_.options_.checkpoint_events;
      const bool over_budget = bounded_ && rows_.approx_bytes() > m_.options_.memory_budget;
      // A checkpoint costs in proportion to the projection (a rewrite or an upsert of its rows),
      // not to the events since the last one: spaced at least 4x its last cost apart, checkpoints
      // take at most a fifth of the replay however large the projection grows (at 10M events
      // every 5 s meant rewriting 2.2M rows every few seconds).
      const auto spacing =
          std::max(std::chrono::duration_cast<Clock::duration>(m_.options_.checkpoint_every), 4 * last_checkpoint_cost);
      // Nor is one written when the replay should end within that spacing at its rate so far: the
      // replay's own last checkpoint comes sooner than the next one would (at 10M events one had
      // rewritten 2.2M rows 200,000 events before the end).
      using Seconds = std::chrono::duration<double>;
      const double left = static_cast<double>(info_.target - position) /
                          static_cast<double>(std::max<std::int64_t>(events_since_start, 1));
      const bool ending = state == RebuildState::kReplaying &&
                          Seconds(Clock::now() - started).count() * left < Seconds(spacing).count();
      const bool due = (Clock::now() - last_checkpoint >= spacing && !ending) ||
                       (every > 0 && unflushed >= static_cast<std::int64_t>(every)) || over_budget;
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
      if (over_budget) spill();
      last_checkpoint = Clock::now();
      last_checkpoint_cost = last_checkpoint - t_checkpoint;
      spdlog::debug("rebuild {}: checkpoint at {} took {:.0f} ms", info_.id, position,
                    std::chrono::duration<double, std::milli>(Clock::now() - t_checkpoint).count());
      fault(state == RebuildState::kReplaying ? "checkpoint" : "catch_up_checkpoint", ++checkpoints);
      if (replay_done) {  // that checkpoint made the shadow logged and indexed, and switched state
        state = RebuildState::kCatchingUp;
        fault("catching_up", 0);
      }
      const bool following = state == RebuildState::kCatchingUp || state == RebuildState::kReady;
      if (following && tail(*reader) - position <= m_.options_.promote_lag && Clock::now() >= next_promote_) {
        if ((info_.promote == PromoteMode::kAuto || verified(position, state)) && promote(position)) return;
      }
      if (following && batch.empty()) {
        detail::sleep_unless_stopped(stop, std::chrono::milliseconds{50});  // waiting to promote again
      }
    }
  }

 private:
  // A promote mode other than auto, caught up: on entering `ready` (or when asked) compares live
  // and shadow at one position and stores the report; then tells whether to promote now (asked
  // to, or if_expected with only expected changes). The shadow keeps following meanwhile.
  bool verified(std::int64_t position, RebuildState& state) {
    auto flags = [&] {
      pqxx::read_transaction tx{conn_};
      return tx.exec_params1("SELECT promote_requested, diff_requested, diff IS NULL FROM reproj.rebuilds WHERE id = $1",
                             info_.id);
    }();
    if (state != RebuildState::kReady || flags[1].as<bool>() || flags[2].as<bool>()) {
      const auto t0 = Clock::now();
      auto outcome = detail::diff_at(conn_, m_.live_, projection_, shadow_, info_.id, position, info_.expect_changes);
      if (!outcome) return false;  // live is past this position: fold on and compare at the next
      const bool gated = info_.promote == PromoteMode::kIfExpected && !outcome->expected;
      pqxx::work tx{conn_};
      if (tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'ready', diff = $2::jsonb, diff_at = now(), "
                                     "diff_requested = false, gate = $3, updated_at = now() WHERE id = $1 AND state IN "} +
                             detail::kRunningStates + " RETURNING id",
                         info_.id, outcome->report, gated ? std::optional<std::string>{"unexpected_changes"} : std::nullopt)
              .empty()) {
        return false;  // cancelled meanwhile
      }
      tx.commit();
      if (state != RebuildState::kReady) fault("ready", 0);
      state = RebuildState::kReady;
      spdlog::info("rebuild {} of {} is ready at position {} (diff {:.0f} ms{})", info_.id, info_.projection, position,
                   std::chrono::duration<double, std::milli>(Clock::now() - t0).count(),
                   gated ? ", unexpected changes: waits for a promote" : "");
      if (info_.promote == PromoteMode::kIfExpected && outcome->expected) return true;
    }
    return flags[0].as<bool>();
  }

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
      } else if (bounded_ && shadow_bytes(tx) > m_.options_.memory_budget / 2) {
        // In memory it would take about twice its size on disk: read it back as the fold needs it.
        start_spilled(tx);
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
    tx.exec_params("UPDATE reproj.rebuilds SET runner = $2, waiting = NULL, updated_at = now() WHERE id = $1", info_.id,
                   runner_name());
    policy_ = tx.exec_params1("SELECT poison_policy = 'stop' FROM reproj.projections WHERE name = $1", info_.projection)[0]
                      .as<bool>()
                  ? PoisonPolicy::kStop
                  : PoisonPolicy::kSkip;
    tx.commit();
    return position;
  }

  // Flushes memory to the shadow and records the position, in one transaction. The checkpoint
  // that ends the replay also makes the shadow durable and indexed and switches to catching up.
  bool checkpoint(std::int64_t position, std::int64_t events, RebuildState state, double rate, bool last_replay) {
    pqxx::work tx{conn_};
    std::int64_t rows = 0;
    if (spilled_) {
      // Memory holds only what changed lately: upsert it, count what the shadow holds.
      detail::flush(tx, projection_, rows_, shadow_, detail::NewRows::kUpsert);
      for (const auto& t : shadow_) {
        if (last_replay) tx.exec0("ALTER TABLE " + detail::qualified(tx, t) + " SET LOGGED");
        rows += tx.exec1("SELECT count(*) FROM " + detail::qualified(tx, t))[0].as<std::int64_t>();
      }
    } else {
      if (state == RebuildState::kReplaying) {  // (last_replay is a replaying checkpoint too)
        rewrite_shadow(tx, last_replay);
      } else {
        detail::flush(tx, projection_, rows_, shadow_, detail::NewRows::kCopy);
      }
      for (std::size_t i = 0; i < shadow_.size(); ++i) rows += static_cast<std::int64_t>(rows_.size(i));
    }
    // Shadow rows, skipped events and the rebuild's watermark commit together: a resume starts
    // exactly here. A rewritten shadow is indexed after this commit (index_shadow), and only then
    // catches up: a resume in between finds it replaying at the target and writes it again.
    const bool indexed = last_replay && spilled_;
    detail::record_quarantine(tx, info_.projection, info_.version, skipped_, info_.id);
    auto r = tx.exec_params(
        "UPDATE reproj.rebuilds SET position = $2, events_replayed = events_replayed + $3, shadow_rows = $4, "
        "events_per_second = $5, updated_at = now(), state = CASE WHEN $7 THEN 'catching_up' ELSE state END, "
        "events_skipped = events_skipped + $8 WHERE id = $1 AND state = $6 RETURNING id",
        info_.id, position, events, rows, rate, std::string{to_string(state)}, indexed,
        static_cast<std::int64_t>(skipped_.size()));
    if (r.empty()) {
      tx.abort();
      drop_shadow();
      return false;
    }
    tx.commit();
    skipped_.clear();
    return !last_replay || indexed || index_shadow();
  }

  // The end of the replay, after its checkpoint wrote the shadow as logged heaps: builds every
  // index side by side on sessions of their own, then makes the key and the unique rules
  // constraints over them and switches to catching up, in one transaction. False if cancelled.
  bool index_shadow() {
    const auto& specs = projection_.tables();
    std::vector<std::size_t> order(specs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return rows_.size(a) > rows_.size(b); });
    std::vector<std::string> build, attach;
    {
      pqxx::read_transaction tx{conn_};
      for (auto i : order) {
        auto plan = detail::index_plan(tx, specs[i], shadow_[i], true);
        build.insert(build.end(), plan.build.begin(), plan.build.end());
        attach.insert(attach.end(), plan.attach.begin(), plan.attach.end());
      }
    }
    detail::build_side_by_side(m_.pool_.database_url(), build, m_.options_.index_build_sessions,
                               m_.options_.index_build_workers);
    fault("indexed", 1);  // built, not yet attached: a resume must drop them and index again
    pqxx::work tx{conn_};
    for (const auto& sql : attach) tx.exec0(sql);
    if (tx.exec_params("UPDATE reproj.rebuilds SET state = 'catching_up', updated_at = now() WHERE id = $1 AND state = "
                       "'replaying' RETURNING id",
                       info_.id)
            .empty()) {
      tx.abort();
      drop_shadow();
      return false;
    }
    tx.commit();
    return true;
  }

  // Memory holds the whole projection during a replay: writing the shadow anew with COPY beats
  // upserting most of its rows (measured ~5x per row). Until the replay ends nothing reads the
  // shadow but a resume (a full scan), so every checkpoint writes bare heaps: no key, no sort (at
  // 10M events keys and ordering took ~40% of those checkpoints). The last one makes the emptied
  // table LOGGED before its COPY (rows written once, not again by SET LOGGED) and writes the rows
  // in key order, so the key's index then builds from presorted input (index_shadow). A spilled
  // rebuild upserts, so start_spilled() adds the key back first.
  void rewrite_shadow(pqxx::work& tx, bool last_replay) {
    const auto& specs = projection_.tables();
    // Every table is put in order on its own thread meanwhile (memory is only read here).
    std::vector<std::future<std::vector<const Row*>>> ordered;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      ordered.push_back(std::async(std::launch::async, [this, i, last_replay] {
        return last_replay ? in_key_order(i) : in_memory_order(i);
      }));
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto table = detail::qualified(tx, shadow_[i]);
      tx.exec0("TRUNCATE " + table);
      detail::drop_indexes(tx, shadow_[i]);
      if (last_replay) tx.exec0("ALTER TABLE " + table + " SET LOGGED");
      detail::copy_rows(tx, specs[i], shadow_[i], ordered[i].get());
    }
    rows_.mark_flushed();
  }

  bool has_primary_key(pqxx::transaction_base& tx, std::size_t i) {
    return tx.exec_params1("SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p')",
                           detail::qualified(tx, shadow_[i]))[0]
        .as<bool>();
  }

  std::vector<const Row*> in_memory_order(std::size_t i) const {
    std::vector<const Row*> out;
    out.reserve(rows_.size(i));
    rows_.for_each_row(i, [&](const std::string&, const Row& r) { out.push_back(&r); });
    return out;
  }

  // The rows of table i in key order: the primary key then builds from presorted input, ~2x
  // faster for the 220k cars of the 1M-event bench (byte order is the C collation's; under another
  // collation the input is merely less sorted). Sorted by a 16-byte prefix held inline, so most
  // comparisons touch no row (sorting the pointers by key cost more than it saved), and the
  // prefixes come from the set's keys, read in memory order (from the rows, a cache miss each:
  // the last checkpoint at 10M events waited ~570 ms for its sort then, ~360 ms now).
  std::vector<const Row*> in_key_order(std::size_t i) const {
    struct Keyed {
      std::uint64_t hi = 0, lo = 0;  // the key's first 16 bytes, big-endian, zero-padded
      const Row* row;
    };
    std::vector<Keyed> keyed;
    keyed.reserve(rows_.size(i));
    rows_.for_each_row(i, [&](const std::string& key, const Row& r) {
      unsigned char b[16] = {};
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

  // Over the memory budget, just after a checkpoint: every row is in the shadow, so memory lets
  // them go; the fold reads back what it needs from then on (the shadow gets its secondary
  // indexes now, for the reads by indexed column).
  void spill() {
    if (!spilled_) {
      pqxx::work tx{conn_};
      start_spilled(tx);
      tx.commit();
      spdlog::info("rebuild {}: past its memory budget ({} MiB): rows are read back from the shadow from now on",
                   info_.id, m_.options_.memory_budget >> 20);
    }
    rows_.evict();
    fault("spill", ++spills_);
  }

  void start_spilled(pqxx::transaction_base& tx) {
    const auto& specs = projection_.tables();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      if (!has_primary_key(tx, i)) {
        // A replaying checkpoint's bare heap, maybe holding indexes an interrupted end of the
        // replay built but never attached: index it from scratch.
        detail::drop_indexes(tx, shadow_[i]);
        detail::create_indexes(tx, specs[i], shadow_[i], true);
        continue;
      }
      const auto indexes = tx.exec_params1("SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass",
                                           detail::qualified(tx, shadow_[i]))[0]
                               .as<int>();
      if (indexes <= 1) detail::create_indexes(tx, specs[i], shadow_[i]);  // only the key's so far
    }
    spilled_ = true;
  }

  std::size_t shadow_bytes(pqxx::transaction_base& tx) {
    std::int64_t bytes = 0;
    for (const auto& t : shadow_) {
      bytes += tx.exec_params1("SELECT pg_table_size($1::regclass)", detail::qualified(tx, t))[0].as<std::int64_t>();
    }
    return static_cast<std::size_t>(bytes);
  }

  void drop_shadow() {
    pqxx::work tx{conn_};
    detail::drop_tables(tx, shadow_);
    tx.commit();
  }

  // Returns false when the swap's lock budget ran out: the rebuild catches up on and tries again
  // later, saying so in its status.
  bool promote(std::int64_t position) {
    bool cancelled = false;
    try {
    detail::retry_on_lock_timeout(m_.options_.swap_budget, "the swap of rebuild " + std::to_string(info_.id),
                                  [&](std::int64_t attempt) {
      const auto t_swap = Clock::now();
      pqxx::work tx{conn_};
      detail::set_lock_timeout(tx, m_.options_.lock_timeout);
      if (tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'promoting', updated_at = now() "
                                     "WHERE id = $1 AND state IN "} +
                             detail::kRunningStates + " RETURNING id",
                         info_.id)
              .empty()) {
        cancelled = true;
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
      // The last catch-up happens here, holding the metadata row lock that every live applier
      // and sync read takes: nothing can commit to P between "caught up" and the swap, so no
      // event falls between the two versions.
      const std::int64_t tail = log::safe_tail(tx);
      // A clash here (an event the live version let in breaks the new version's unique rule)
      // fails the rebuild: it must never promote.
      auto applied = detail::apply_range(tx, projection_, shadow_, position, tail,
                                         std::numeric_limits<std::size_t>::max(), m_.live_.options().chunk_events,
                                         meta.poison_policy, detail::OnClash::kThrow);
      detail::record_quarantine(tx, info_.projection, info_.version, applied.skipped, info_.id);
      fault("promote", attempt);
      const Projection& old = m_.live_.registry().get(info_.projection, meta.active_version);
      if (meta.active_version != expected_version) detail::check_dependents(tx, old, projection_, info_.dependent_views);
      detail::swap_tables(tx, old, detail::table_names(old, detail::TableKind::kRetired, info_.id), projection_,
                          shadow_, info_.dependent_views);
      detail::make_live(tx, info_.projection, info_.version, tail);
      tx.exec_params("UPDATE reproj.rebuilds SET state = 'done', position = $2, events_replayed = events_replayed + $3, "
                     "retired_version = $4, retired_position = $5, finished_at = now(), updated_at = now(), "
                     "events_skipped = events_skipped + $6, waiting = NULL WHERE id = $1",
                     info_.id, tail, applied.events, meta.active_version, meta.watermark,
                     static_cast<std::int64_t>(applied.skipped.size()));
      tx.commit();
      spdlog::info("rebuild {} promoted {} version {} at position {} (attempt {}, {} events under the lock, {:.1f} ms; "
                   "{:.1f} ms in all)",
                   info_.id, info_.projection, info_.version, tail, attempt, applied.events,
                   std::chrono::duration<double, std::milli>(Clock::now() - t_locked).count(),
                   std::chrono::duration<double, std::milli>(Clock::now() - t_swap).count());
    });
    } catch (const LockTimeout& busy) {
      const auto retry = std::min(swap_retry_, m_.options_.swap_retry_after * 10);
      swap_retry_ *= 2;
      next_promote_ = Clock::now() + retry;
      spdlog::warn("rebuild {}: {}; catching up and trying again in {} ms", info_.id, busy.what(), retry.count());
      pqxx::work tx{conn_};
      tx.exec_params("UPDATE reproj.rebuilds SET waiting = $2, updated_at = now() WHERE id = $1", info_.id,
                     std::string{busy.what()} + "; catching up and trying again in " + std::to_string(retry.count()) +
                         " ms");
      tx.commit();
      return false;
    }
    if (cancelled) {
      drop_shadow();
      return true;
    }
    m_.retire_old(info_.projection);
    return true;
  }

  RebuildManager& m_;
  pqxx::connection& conn_;
  RebuildInfo info_;
  const Projection& projection_;
  const std::vector<std::string> shadow_;
  RowSet rows_;  // the whole projection, memory authoritative during a replay (unless spilled_)
  PoisonPolicy policy_ = PoisonPolicy::kSkip;     // the projection's, read when the runner starts
  std::vector<detail::SkippedEvent> skipped_;     // quarantined since the last checkpoint
  Clock::time_point next_promote_{};              // after a swap that ran out of budget
  std::chrono::milliseconds swap_retry_ = m_.options_.swap_retry_after;
  const bool checks_unique_ = has_unique_rules(projection_);
  // Held to the memory budget (RebuildOptions::memory_budget); spilled_: past it, memory holds only
  // what the fold touched since the last checkpoint.
  const bool bounded_ = m_.options_.memory_budget > 0 && !checks_unique_;
  bool spilled_ = false;
  std::int64_t spills_ = 0;
  static constexpr std::size_t kMaxDuplicates = 20;
  std::vector<UniqueViolation::Clash> duplicates_;  // the history breaks a unique rule: fails at the end
};

namespace {

// Errors a later attempt can get past: a cancelled statement (pg_cancel_backend, statement_timeout),
// a serialization failure or deadlock, a lock timeout, and insufficient resources (disk full, out
// of memory, too many connections). Anything else (a bug, a poison event under stop) is final.
bool is_transient(const pqxx::sql_error& e) {
  const std::string& s = e.sqlstate();
  return s == "57014" || s == "40001" || s == "40P01" || s == "55P03" || s.rfind("53", 0) == 0;
}

}  // namespace

std::optional<RebuildInfo> RebuildManager::run(std::int64_t id, std::stop_token stop) {
  auto conn = detail::connect(pool_.database_url());
  std::optional<RebuildInfo> info;
  int live_version = 0;
  {
    pqxx::read_transaction tx{*conn};
    info = detail::load_rebuild(tx, id);
    if (info) {
      auto v = tx.exec_params("SELECT active_version FROM reproj.projections WHERE name = $1", info->projection);
      if (!v.empty()) live_version = v[0][0].as<int>();
    }
  }
  if (!info) throw NotFound("no rebuild " + std::to_string(id));
  if (!is_running(info->state)) return info;
  // An instance of another release (a rolling deploy) may not know the version: it must not take
  // the rebuild, let alone fail it.
  const auto known = live_.registry().versions(info->projection);
  for (int v : {info->version, live_version}) {
    if (std::find(known.begin(), known.end(), v) == known.end()) {
      spdlog::info("rebuild {}: leaving it to an instance that knows {} version {}", id, info->projection, v);
      return std::nullopt;
    }
  }
  // Session-level: held while this connection lives, so a runner that dies releases it and
  // another process picks the rebuild up from its checkpoint.
  {
    pqxx::nontransaction tx{*conn};
    if (!tx.exec_params1("SELECT pg_try_advisory_lock(hashtext('reproj.rebuild:' || $1))", info->projection)[0]
             .as<bool>()) {
      return std::nullopt;
    }
  }
  // Named in pg_stat_activity from here on (operators, and the tests that cancel it, find it so).
  detail::exec_session(*conn, "SET application_name = 'reproj rebuild " + std::to_string(id) + "'");
  auto backoff = options_.transient_retry_after;
  std::int64_t failed_at = -1;  // the checkpoint the last transient error resumed from
  while (true) {
    try {
      const bool go_on = detail::translate_errors([&] {
        {
          pqxx::read_transaction tx{*conn};
          info = detail::load_rebuild(tx, id);  // it may have moved on before we got the lock
        }
        if (info->position > failed_at && failed_at >= 0) backoff = options_.transient_retry_after;  // got further
        if (!is_running(info->state) || stop.stop_requested()) return false;
        Runner runner{*this, *conn, *info};
        runner.run(stop);
        return true;
      });
      if (!go_on) return info;
      break;
    } catch (const DatabaseUnavailable&) {
      throw;  // resumable: the next runner continues from the checkpoint
    } catch (const pqxx::sql_error& e) {
      if (!is_transient(e)) {
        fail(id, e);
        break;
      }
      // The runner and its memory are gone; the next one resumes from the last checkpoint.
      const std::string why = std::string{"transient error ("} + e.sqlstate() + "): " + e.what();
      spdlog::warn("rebuild {}: {}; resuming from its checkpoint in {} ms", id, why, backoff.count());
      pool_.run([&](pqxx::connection& c) {
        pqxx::work tx{c};
        tx.exec_params("UPDATE reproj.rebuilds SET waiting = $2, updated_at = now() WHERE id = $1", id,
                       why + "; resuming from the last checkpoint in " + std::to_string(backoff.count()) + " ms");
        tx.commit();
      });
      detail::sleep_unless_stopped(stop, backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds{30'000});
      failed_at = info->position;
    } catch (const std::exception& e) {
      fail(id, e);
      break;
    }
  }
  return get(id);
}

void RebuildManager::fail(std::int64_t id, const std::exception& e) {
  if (auto now = get(id); now && now->state == RebuildState::kCancelled) {
    spdlog::info("rebuild {} stopped: it was cancelled", id);
    drop_orphans();
    return;
  }
  // A poison event under stop or an error retrying cannot fix: record it, drop the shadow, leave
  // live untouched.
  spdlog::error("rebuild {} failed: {}", id, e.what());
  const auto* duplicates = dynamic_cast<const UniqueViolation*>(&e);
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'failed', error = $2, waiting = NULL, "
                               "duplicates = $3::jsonb, finished_at = now(), updated_at = now() "
                               "WHERE id = $1 AND state IN "} +
                       detail::kRunningStates,
                   id, std::string{e.what()},
                   duplicates ? std::optional<std::string>{detail::clashes_json(*duplicates)} : std::nullopt);
    tx.commit();
  });
  drop_orphans();
}

}  // namespace reproj::engine
