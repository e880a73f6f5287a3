// The rebuild runner: replays the log into a shadow, checkpoints, catches up and promotes. How
// the shadow is written is detail/shadow_tables, when a checkpoint is due detail/checkpoint_pacer,
// the swap promote.cpp, the history's stream detail/history_writer; the runner holds the state they
// share (the in-memory rows, the shadow). (Past ~400 lines because it is one class whose steps all
// read and move that state: split, each part would take the whole of it as arguments.)
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/history_sql.hpp"
#include "engine/detail/history_writer.hpp"
#include "engine/detail/checkpoint_pacer.hpp"
#include "engine/detail/promote.hpp"
#include "engine/detail/rebuild_record.hpp"
#include "engine/detail/shadow_tables.hpp"
#include "engine/detail/sleep.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/detail/apply_range.hpp"
#include "engine/detail/diff.hpp"
#include "engine/detail/unique_clash.hpp"
#include "engine/detail/quarantine.hpp"
#include "engine/detail/read_ahead.hpp"
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
    if (state == RebuildState::kReplaying && rows_.keeps_history()) {  // the history streams out beside the fold
      history_ = std::make_unique<detail::HistoryWriter>(
          m_.pool_.database_url(), "reproj rebuild " + std::to_string(info_.id) + " history", projection_, shadow_);
    }
    detail::CheckpointPacer pacer{std::chrono::duration_cast<Clock::duration>(m_.options_.checkpoint_every),
                                  static_cast<std::int64_t>(m_.options_.checkpoint_events), Clock::now()};
    std::int64_t checkpoints = 0;
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
      fold(batch);
      if (history_ && state == RebuildState::kReplaying) {
        history_->push(rows_.take_versions());
        fault("history_pushed", ++history_batches_);  // the writer may commit past the next checkpoint
      }
      pacer.folded(static_cast<std::int64_t>(batch.size()));
      position = full ? batch.back().global_position : up_to;
      if (!duplicates_.empty()) {
        if (duplicates_.size() >= kMaxDuplicates || !full) throw UniqueViolation(info_.projection, duplicates_);
        continue;
      }
      spdlog::debug("rebuild {}: {} events read {:.0f} ms, fold {:.0f} ms", info_.id, batch.size(),
                    Ms(t_fold - t_read).count(), Ms(Clock::now() - t_fold).count());
      const bool replaying = state == RebuildState::kReplaying;
      const bool replay_done = replaying && position >= info_.target;
      const bool over_budget = bounded_ && rows_.approx_bytes() > m_.options_.memory_budget;
      if (replaying && !replay_done && !pacer.due(Clock::now(), replaying, position, info_.target, over_budget)) {
        continue;  // fold on in memory; the next checkpoint writes these rows once
      }
      const auto t_checkpoint = Clock::now();
      if (!checkpoint(position, pacer.unflushed(), state, pacer.rate(t_checkpoint),
                      replay_done ? Ending::kLastOfReplay : Ending::kNone)) {
        return;  // cancelled meanwhile
      }
      if (over_budget) spill();
      pacer.checkpointed(t_checkpoint, Clock::now());
      spdlog::debug("rebuild {}: checkpoint at {} took {:.0f} ms", info_.id, position,
                    Ms(Clock::now() - t_checkpoint).count());
      fault(replaying ? "checkpoint" : "catch_up_checkpoint", ++checkpoints);
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
  using Ms = std::chrono::duration<double, std::milli>;
  enum class Ending { kNone, kLastOfReplay };

  // Folds one batch into memory. Over its memory budget, the fold reads the rows this batch
  // touches back from the shadow first.
  void fold(const std::vector<Event>& batch) {
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
    if (spilled_) rows_.set_source(nullptr);
  }

  // A promote mode other than auto, caught up: on entering `ready` (or when asked) compares live
  // and shadow at one position and stores the report; then tells whether to promote now (asked
  // to, or if_expected with only expected changes). The shadow keeps following meanwhile.
  bool verified(std::int64_t position, RebuildState& state) {
    const auto asks = [&] {
      pqxx::read_transaction tx{conn_};
      return detail::read_asks(tx, info_.id);
    }();
    if (state != RebuildState::kReady || asks.diff || !asks.has_diff) {
      const auto t0 = Clock::now();
      auto outcome = detail::diff_at(conn_, m_.live_, projection_, shadow_, info_.id, position, info_.expect_changes);
      if (!outcome) return false;  // live is past this position: fold on and compare at the next
      const bool gated = info_.promote == PromoteMode::kIfExpected && !outcome->expected;
      pqxx::work tx{conn_};
      if (!detail::mark_ready(tx, info_.id, outcome->report, gated)) return false;  // cancelled meanwhile
      tx.commit();
      if (state != RebuildState::kReady) fault("ready", 0);
      state = RebuildState::kReady;
      spdlog::info("rebuild {} of {} is ready at position {} (diff {:.0f} ms{})", info_.id, info_.projection, position,
                   Ms(Clock::now() - t0).count(), gated ? ", unexpected changes: waits for a promote" : "");
      if (info_.promote == PromoteMode::kIfExpected && outcome->expected) return true;
    }
    return asks.promote;
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
      const std::int64_t rows = detail::shadow_rows(tx, detail::row_tables(projection_, shadow_));
      const std::int64_t recorded = detail::recorded_shadow_rows(tx, info_.id);
      if (rows != recorded) {
        // UNLOGGED shadows are emptied when PostgreSQL restarts after a crash: start over.
        spdlog::warn("rebuild {}: shadow holds {} rows, checkpoint recorded {}: replaying from 0", info_.id, rows,
                     recorded);
        for (const auto& t : shadow_) tx.exec0("TRUNCATE " + detail::qualified(tx, t));
        detail::restart_replay(tx, info_.id);
        info_.state = RebuildState::kReplaying;
        position = 0;
      } else if (bounded_ && detail::shadow_bytes(tx, detail::row_tables(projection_, shadow_)) > m_.options_.memory_budget / 2) {
        // In memory it would take about twice its size on disk: read it back as the fold needs it.
        detail::index_for_reads(tx, projection_.tables(), shadow_);
        spilled_ = true;
      } else {
        const auto& specs = projection_.tables();
        for (std::size_t i = 0; i < specs.size(); ++i) {
          for (const auto& r : tx.exec("SELECT " + detail::column_list(tx, specs[i]) + " FROM " +
                                       detail::qualified(tx, shadow_[i]))) {
            rows_.load_persisted(i, detail::decode_row(r, specs[i]));
          }
        }
      }
      detail::trim_history(tx, projection_, shadow_, position);  // a history writer may have gone past it
      detail::record_resume(tx, info_.id, position);
      spdlog::info("rebuild {} resumes from checkpoint {}", info_.id, position);
    }
    detail::claim(tx, info_.id, runner_name());
    policy_ = tx.exec_params1("SELECT poison_policy = 'stop' FROM reproj.projections WHERE name = $1", info_.projection)[0]
                      .as<bool>()
                  ? PoisonPolicy::kStop
                  : PoisonPolicy::kSkip;
    tx.commit();
    return position;
  }

  // Flushes memory to the shadow and records the position, in one transaction. The checkpoint
  // that ends the replay also makes the shadow durable and indexed and switches to catching up.
  bool checkpoint(std::int64_t position, std::int64_t events, RebuildState state, double rate, Ending ending) {
    const bool last_replay = ending == Ending::kLastOfReplay;
    if (history_) history_->drain();  // every version up to `position` committed (the rest: below)
    if (last_replay && history_) {
      if (spilled_) {
        history_.reset();  // the key is built in the checkpoint's transaction (index_histories)
      } else {  // the history's key is built meanwhile (index_shadow waits for it)
        history_->build_key(detail::history_key_build(conn_, projection_, shadow_, index_build()));
      }
    }
    pqxx::work tx{conn_};
    std::int64_t rows = 0;
    if (spilled_) {
      // Memory holds only what changed lately: upsert it, count what the shadow holds.
      detail::flush(tx, projection_, rows_, shadow_, detail::NewRows::kUpsert);
      if (last_replay) {
        for (const auto& t : shadow_) tx.exec0("ALTER TABLE " + detail::qualified(tx, t) + " SET LOGGED");
        detail::index_histories(tx, projection_, shadow_);
      }
      rows = detail::shadow_rows(tx, detail::row_tables(projection_, shadow_));
    } else {
      if (state == RebuildState::kReplaying) {  // (last_replay is a replaying checkpoint too)
        detail::rewrite_shadow(tx, projection_.tables(), shadow_, rows_,
                               last_replay ? detail::ShadowWrite::kLastOfReplay : detail::ShadowWrite::kCheckpoint);
        detail::append_versions(tx, projection_, shadow_, rows_.take_versions());  // appended, never rewritten
        rows_.mark_flushed();
      } else {
        detail::flush(tx, projection_, rows_, shadow_, detail::NewRows::kCopy);
      }
      // Present rows, as the shadow holds them (an erased row stays in memory as known-absent).
      for (std::size_t i = 0; i < projection_.tables().size(); ++i) rows += static_cast<std::int64_t>(rows_.present(i));
    }
    // Shadow rows, skipped events and the rebuild's watermark commit together. A rewritten shadow
    // is indexed after this commit (index_shadow), and only then catches up: a resume in between
    // finds it replaying at the target and writes it again.
    const bool indexed = last_replay && spilled_;
    detail::record_quarantine(tx, info_.projection, info_.version, skipped_, info_.id);
    if (!detail::record_checkpoint(tx, info_.id,
                                   {.position = position,
                                    .events = events,
                                    .shadow_rows = rows,
                                    .events_per_second = rate,
                                    .state = state,
                                    .to_catching_up = indexed,
                                    .skipped = static_cast<std::int64_t>(skipped_.size())})) {
      tx.abort();
      drop_shadow();
      return false;
    }
    tx.commit();
    skipped_.clear();
    return !last_replay || indexed || index_shadow();
  }

  // The end of the replay, after its checkpoint wrote the shadow as logged heaps: builds every
  // index side by side, then makes the key and the unique rules constraints over them and
  // switches to catching up, in one transaction. False if cancelled.
  bool index_shadow() {
    const auto t_index = Clock::now();
    const auto attach = detail::build_shadow_indexes(
        conn_, m_.pool_.database_url(), projection_, shadow_, rows_, index_build(),
        history_ ? detail::HistoryKeys::kBuiltElsewhere : detail::HistoryKeys::kBuild);
    if (history_) {
      history_->drain();  // its key built too
      history_.reset();
    }
    spdlog::debug("rebuild {}: indexes built in {:.0f} ms", info_.id, Ms(Clock::now() - t_index).count());
    fault("indexed", 1);  // built, not yet attached: a resume must drop them and index again
    pqxx::work tx{conn_};
    for (const auto& sql : attach) tx.exec0(sql);
    if (!detail::mark_catching_up(tx, info_.id)) {
      tx.abort();
      drop_shadow();
      return false;
    }
    tx.commit();
    return true;
  }

  detail::IndexBuild index_build() const {
    return {.sessions = m_.options_.index_build_sessions,
            .workers = m_.options_.index_build_workers,
            .memory_mib = m_.options_.index_build_memory_mib};
  }

  // Over the memory budget, just after a checkpoint: every row is in the shadow, so memory lets
  // them go; the fold reads back what it needs from then on (the shadow gets its secondary
  // indexes now, for the reads by indexed column).
  void spill() {
    if (!spilled_) {
      pqxx::work tx{conn_};
      detail::index_for_reads(tx, projection_.tables(), shadow_);
      tx.commit();
      spilled_ = true;
      spdlog::info("rebuild {}: past its memory budget ({} MiB): rows are read back from the shadow from now on",
                   info_.id, m_.options_.memory_budget >> 20);
    }
    rows_.evict();
    fault("spill", ++spills_);
  }

  void drop_shadow() {
    history_.reset();  // stops writing to (or indexing) what is dropped
    pqxx::work tx{conn_};
    detail::drop_tables(tx, shadow_);
    tx.commit();
  }

  // Returns false when the swap's lock budget ran out: the rebuild catches up on and tries again
  // later, saying so in its status.
  bool promote(std::int64_t position) {
    try {
      if (detail::promote(conn_, m_.live_, m_.options_, info_, projection_, shadow_, position) ==
          detail::Promotion::kCancelled) {
        drop_shadow();
        return true;
      }
    } catch (const LockTimeout& busy) {
      const auto retry = std::min(swap_retry_, m_.options_.swap_retry_after * 10);
      swap_retry_ *= 2;
      next_promote_ = Clock::now() + retry;
      spdlog::warn("rebuild {}: {}; catching up and trying again in {} ms", info_.id, busy.what(), retry.count());
      pqxx::work tx{conn_};
      detail::record_waiting(tx, info_.id,
                             std::string{busy.what()} + "; catching up and trying again in " +
                                 std::to_string(retry.count()) + " ms");
      tx.commit();
      return false;
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
  std::unique_ptr<detail::HistoryWriter> history_;  // while replaying a version keeping history
  std::int64_t history_batches_ = 0;
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

void RebuildManager::run_attempt(pqxx::connection& conn, const RebuildInfo& info, std::stop_token stop) {
  Runner runner{*this, conn, info};
  runner.run(stop);
}

}  // namespace reproj::engine
