#pragma once
// Online rebuilds: replay the log into shadow tables of a projection version while the live one
// serves, then promote the shadow in one short transaction.
//
// Lifecycle: replaying -> catching_up -> promoting -> done; failed or cancelled from any running
// state. A failed or cancelled rebuild changes nothing live and leaves no table behind.

#include <chrono>
#include <cstdint>
#include <functional>
#include <condition_variable>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pqxx/connection>

#include "engine/live_projections.hpp"

namespace reproj::engine {

class ConnectionPool;

/// What a swap does with a user's view that cannot read the new version's tables (a column it uses
/// is dropped or retyped): refuse the rebuild or rollback (409 naming it), or drop the view.
enum class DependentViews { kRefuse, kDrop };

enum class RebuildState { kReplaying, kCatchingUp, kReady, kPromoting, kDone, kFailed, kCancelled };
std::string_view to_string(RebuildState state);
bool is_running(RebuildState state);

struct RebuildOptions {
  // Events per batch and checkpoint. Larger batches replay faster and make checkpoints (so
  // resumes) coarser; the projection's rows are held in memory either way.
  std::size_t batch_events = 50'000;
  // While replaying, a checkpoint is written every `checkpoint_every` of replay, or every
  // `checkpoint_events` events when that is set (tests, for many checkpoints); catching up
  // checkpoints every batch. Each checkpoint rewrites the shadow (or upserts what changed), a cost
  // that grows with the projection, not the log: bounding the interval in time bounds both that
  // overhead and the replay work a crash loses (BENCH.md: "Tuning choices").
  std::chrono::milliseconds checkpoint_every{5'000};
  std::size_t checkpoint_events = 0;
  // Promote once the shadow is at most this many positions behind the tail; what is left is
  // applied inside the swap, under the lock.
  std::int64_t promote_lag = 100;
  // Memory the fold's rows may take (RowSet::approx_bytes; 0: no limit). Past it the rebuild
  // checkpoints, forgets its rows and from then on reads the rows each batch touches back from
  // the shadow (one query per table and batch, after a pass that learns which) and upserts what
  // it changed: slower, in bounded memory. Projections with unique rules are not bounded (their
  // fold needs every holder); they hold their rows whatever the budget.
  std::size_t memory_budget = std::size_t{4} << 30;
  // Parallel workers PostgreSQL may add to each index build of the shadow (its
  // max_parallel_maintenance_workers, 2 by default). An online rebuild shares the machine with the
  // serving path, so its index builds run on the backend alone unless told otherwise (the A/B is in
  // BENCH.md: "Tuning choices").
  int index_build_workers = 0;
  // Sessions building the shadow's indexes side by side at the end of the replay (1: one after
  // another). Each is a sort on one core of PostgreSQL, for the few seconds of that step.
  int index_build_sessions = 2;
  // maintenance_work_mem of each of those sessions, MiB. Small on purpose: PostgreSQL 15 then sorts
  // in runs that fit the CPU's cache and merges them, which here built a 1M-row history key in
  // 0.75 s against 1.45 s at its default 64 MB (BENCH.md "Time travel"), with less memory taken
  // from the server. With index_build_workers > 0 a session gets at least the 32 MB per participant
  // PostgreSQL needs to use them.
  int index_build_memory_mib = 2;
  // Per attempt to take the swap's locks: a waiting ACCESS EXCLUSIVE request blocks every later
  // reader of the table, so it must give up quickly and retry.
  std::chrono::milliseconds lock_timeout{100};
  // Total time one swap attempt keeps retrying its locks. When it runs out (readers never leave
  // a gap), the rebuild goes back to catching up and tries again after `swap_retry_after`
  // (doubling up to 10x); live stays untouched meanwhile.
  std::chrono::milliseconds swap_budget{60'000};
  std::chrono::milliseconds swap_retry_after{5'000};
  // After a transient database error (a cancelled statement, statement_timeout, a serialization
  // failure or deadlock, disk full) the rebuild resumes from its last checkpoint after this
  // (doubling up to 30 s) instead of failing.
  std::chrono::milliseconds transient_retry_after{1'000};
  // Retired table sets kept per projection for rollback.
  int retain_retired = 1;
  // Test hook: called at named points ("checkpoint", "catch_up_checkpoint", "catching_up", "promote",
  // "rollback", "spill") with a count.
  std::function<void(std::string_view point, std::int64_t count)> fault;
};

/// When a caught-up rebuild promotes (issue 16): at once (auto); when asked (manual: it waits at
/// `ready`, its shadow following the tail, across restarts); or by itself only when the diff of
/// live and shadow shows changes in the expected columns alone (if_expected), else it waits at
/// `ready` with the gate "unexpected_changes".
enum class PromoteMode { kAuto, kManual, kIfExpected };
std::string_view to_string(PromoteMode mode);
std::optional<PromoteMode> parse_promote_mode(std::string_view text);

/// A rebuild's record and progress.
struct RebuildInfo {
  std::int64_t id = 0;
  std::string projection;
  int version = 0;
  RebuildState state = RebuildState::kReplaying;
  std::int64_t position = 0;
  std::int64_t target = 0;
  std::int64_t events_replayed = 0;
  double events_per_second = 0;
  std::optional<double> eta_seconds;
  int resumes = 0;
  std::optional<std::int64_t> resumed_from;
  std::string runner;
  std::string error;
  std::optional<int> retired_version;
  DependentViews dependent_views = DependentViews::kRefuse;
  std::optional<int> from_version;  // live when it started (unknown for rebuilds of older releases)
  std::int64_t events_skipped = 0;  // poison events quarantined under the skip policy
  std::string waiting;              // while running: why it is waiting (a transient error, a busy swap)
  std::string started_at;           // ISO 8601, UTC
  std::string finished_at;          // empty while running
  double duration_seconds = 0;      // so far, while running
  PromoteMode promote = PromoteMode::kAuto;
  std::vector<std::string> expect_changes;  // columns; "rows_added", "rows_removed"
  std::string gate;                         // why a ready rebuild does not promote by itself
  bool has_diff = false;                    // a diff report is stored (diff())
  // Failed on unique rules the history breaks: a JSON array of at most 20 duplicates, each
  // {"table", "columns", "value", "key", "position", "existing_key", "existing_position"}.
  std::string duplicates = "[]";
};

/// Starts, runs, cancels and rolls back rebuilds. Thread-safe. Any process sharing the database
/// may run a rebuild; a session advisory lock per projection makes exactly one of them do it.
class RebuildManager {
 public:
  RebuildManager(ConnectionPool& pool, LiveProjections& live, RebuildOptions options = {});
  ~RebuildManager();
  RebuildManager(const RebuildManager&) = delete;
  RebuildManager& operator=(const RebuildManager&) = delete;

  /// Records a rebuild of `projection` to `version` (target = the safe tail now) and creates its
  /// shadow tables. Throws UnknownProjection, StateConflict carrying the running rebuild's id,
  /// IncompatibleDependents when the swap would break a user's object (checked before any replay;
  /// the swap checks again, since objects may be created meanwhile). Wakes this process's
  /// supervisors, so the rebuild starts now rather than at their next poll.
  RebuildInfo start(const std::string& projection, int version, DependentViews views = DependentViews::kRefuse,
                    PromoteMode promote = PromoteMode::kAuto, std::vector<std::string> expect_changes = {});
  /// Asks a `ready` rebuild to promote (its runner does, at once). Throws NotFound, StateConflict
  /// unless it is ready.
  RebuildInfo request_promote(std::int64_t id);
  /// Asks a `ready` rebuild to compare live and shadow again. Throws as request_promote().
  RebuildInfo request_diff(std::int64_t id);
  /// The last diff report of a rebuild, as JSON text ({"position", "tables": {…}}); nullopt
  /// before its first. Throws NotFound.
  std::optional<std::string> diff(std::int64_t id);
  std::optional<RebuildInfo> get(std::int64_t id);
  std::vector<RebuildInfo> list();
  /// The running rebuild of `projection`, if any.
  std::optional<RebuildInfo> running(const std::string& projection);
  /// The version rollback() would bring back for `projection`, if one is retained.
  std::optional<int> rollback_version(const std::string& projection);
  /// Stops a running rebuild and drops its shadow. Throws StateConflict if it is not running.
  RebuildInfo cancel(std::int64_t id);
  /// Swaps back to the retained previous version, caught up first. Throws StateConflict when
  /// nothing is retained, IncompatibleDependents as start() does.
  RebuildInfo rollback(const std::string& projection, DependentViews views = DependentViews::kRefuse);

  /// Runs rebuild `id` on this thread until it is done, failed or cancelled, or `stop` is asked
  /// (then it stays resumable). Returns nullopt when another process holds the projection's
  /// rebuild lock, or when this one's registry lacks the rebuild's version or the live one (an
  /// instance of another release: it leaves the rebuild to one that knows them).
  std::optional<RebuildInfo> run(std::int64_t id, std::stop_token stop = {});

  /// Drops every table in the projection schema that is not live, a running rebuild's shadow or a
  /// retained retired set. Returns the names dropped.
  std::vector<std::string> drop_orphans();

  /// Background: one thread per projection that picks up running rebuilds (new or interrupted
  /// anywhere) and runs them when it gets the lock. Stops on destruction.
  void start_supervisor(std::chrono::milliseconds poll = std::chrono::milliseconds{500});
  /// Makes the supervisors look for work now (after a start) instead of at their next poll.
  void wake();

 private:
  class Runner;
  // One attempt at rebuild `info` on `conn`, which holds its projection's rebuild lock.
  void run_attempt(pqxx::connection& conn, const RebuildInfo& info, std::stop_token stop);
  void retire_old(const std::string& projection);
  void fail(std::int64_t id, const std::exception& error);  // or notes the cancel that caused it
  void supervise(std::stop_token stop, std::string projection, std::chrono::milliseconds poll);

  ConnectionPool& pool_;
  LiveProjections& live_;
  const RebuildOptions options_;
  std::mutex wake_mutex_;
  std::condition_variable_any wake_;
  // One supervisor per projection, added as projections are deployed (add_supervisors()).
  void add_supervisors();
  std::mutex supervisors_mutex_;
  std::optional<std::chrono::milliseconds> poll_;  // set by start_supervisor
  bool stopping_ = false;
  std::set<std::string> supervised_;
  std::vector<std::jthread> supervisors_;  // last: joined before the members above go
};

}  // namespace reproj::engine
