#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/event_requirements.hpp"
#include "engine/poison.hpp"
#include "engine/projection.hpp"
#include "engine/registry.hpp"
#include "engine/watermark_board.hpp"

namespace pqxx {
class transaction_base;
class result;
}

namespace reproj::engine {

class ConnectionPool;
class ReplicaSet;

/// Who applied events, for counters and metrics.
enum class ApplyMode { kWorker, kRead };

struct LiveOptions {
  // Events folded per chunk: one COPY out, one prefetch and one flush per chunk. Larger chunks
  // mean fewer round trips and more memory per applier.
  std::size_t chunk_events = 5000;
  // A read applies at most this many pending events itself, holding the metadata row lock that
  // other reads of the projection and a promote wait for. Further behind (after a large import,
  // a stalled worker) it throws ProjectionBehind naming the watermark from which it could (the
  // API waits for the catch-up worker, which closes the gap in batches that release the lock in
  // between, to publish it).
  std::int64_t max_read_apply = 10'000;
  // Test hook: called at named points ("poison_met": a poison event rolled an apply back, before
  // the projection's policy is carried out).
  std::function<void(std::string_view point)> fault;
};

/// What an apply left behind: the projection's version and watermark after it.
struct Applied {
  int version = 0;
  std::int64_t watermark = 0;
  std::int64_t events = 0;    // applied by this call (skipped ones included)
  std::int64_t skipped = 0;   // of those, quarantined under the skip policy
  bool failed = false;        // stopped at a poison event; serves what it has
  std::string error;
  bool building = false;      // deployed new, first build not live: nothing is applied to it
};

/// A projection's metadata row.
struct ProjectionStatus {
  std::string name;
  int active_version = 0;
  std::int64_t watermark = 0;  // the global_position its rows reflect (column last_replayed)
  bool failed = false;
  std::string error;
  PoisonPolicy poison_policy = PoisonPolicy::kSkip;
  std::int64_t quarantined = 0;  // events the active version skipped (status() only)
  bool building = false;         // deployed new; serves once its first build is promoted
};

/// Read consistency: strong applies pending events first; eventual answers from what is there.
struct ReadOptions {
  bool strong = true;
  std::int64_t min_position = 0;  // read-your-writes: the answer reflects at least this position
};

/// An answer: rows of the served table (named like the projection) and what they reflect.
struct ReadResult {
  const TableSpec* table = nullptr;  // columns of the version that answered
  std::vector<Row> rows;
  int version = 0;
  std::int64_t watermark = 0;  // the position the rows reflect
  bool failed = false;  // the projection stopped at a poison event; rows are as of `position`
  std::string error;
  std::string replica;  // the replica that answered (ReplicaSet::Info::name); empty: the primary
};

/// The live projections: their metadata, the one door through which events reach live tables,
/// and the read path. Thread-safe; every call leases its own connection.
class LiveProjections {
 public:
  LiveProjections(ConnectionPool& pool, const ProjectionRegistry& registry, LiveOptions options = {});

  /// Creates P's live tables at `version` with its metadata row, unless P exists (then its active
  /// version stays). Safe to call from several processes at once. kBuildFirst: P is new and is
  /// about to be rebuilt from the whole log; until that rebuild promotes, its reads throw
  /// ProjectionBuilding and catch-up leaves it alone. Returns whether P was created.
  enum class Created { kServing, kBuildFirst };
  bool ensure(const std::string& name, int version, Created created = Created::kServing);

  /// The one door: applies the events in (last_replayed, up_to], at most `max_events`, to P's live
  /// tables in one transaction that holds P's metadata row lock, commits rows and watermark
  /// together, and runs `then` inside that transaction (sees exactly what was applied). A poison
  /// event is quarantined under P's skip policy; under stop P applies what precedes it and stops
  /// (failed) -- unless P changed meanwhile (a promote, a rollback) -- and the call answers as failed.
  Applied catch_up(const std::string& name, std::int64_t up_to, ApplyMode mode,
                   std::size_t max_events = std::numeric_limits<std::size_t>::max(),
                   const std::function<void(pqxx::transaction_base&, const Applied&)>& then = {});

  /// The door itself: locks P's metadata row inside `tx` (FOR UPDATE, waiting at most the
  /// transaction's lock_timeout) and returns the version and watermark read after the lock.
  /// Whoever changes P's live tables or their metadata holds this lock until commit.
  /// Throws UnknownProjection when P is not set up.
  ProjectionStatus lock_metadata(pqxx::transaction_base& tx, const std::string& name);

  /// The door's body: applies (locked.watermark, up_to], at most `max_events`, in `tx`, which took
  /// the lock with lock_metadata() and got `locked`; moves the watermark with the rows.
  Applied apply_locked(pqxx::transaction_base& tx, const ProjectionStatus& locked, std::int64_t up_to,
                       std::size_t max_events = std::numeric_limits<std::size_t>::max());

  /// Eventual reads (ReadOptions::strong false) are asked of these replicas first (set before
  /// serving; null: none). The set must outlive this object.
  void set_replicas(ReplicaSet* replicas) { replicas_ = replicas; }

  /// One row by key, or a page of rows ordered by key after `after` (empty: from the start).
  /// Strong reads first catch P up to the safe tail read at the moment of the request (one round
  /// trip when already there); any read first catches P up to min_position. The answer never
  /// reflects less than what was asked. An eventual read goes to a replica in rotation first, the
  /// same statement there: answered when that replica's watermark, read in the same snapshot as
  /// the rows, is at least min_position; otherwise (behind, building there, unreachable) the
  /// primary answers it as if no replica existed. Throws UnknownProjection, InvalidInput (min_position past
  /// the tail), ProjectionBehind (more than max_read_apply events to apply, or P stopped before
  /// min_position).
  ReadResult get(const std::string& name, const std::string& key, const ReadOptions& options);
  ReadResult list(const std::string& name, const std::string& after, std::size_t limit, const ReadOptions& options);
  /// A page of the rows whose `column` equals `value`, by key after `after`. The column must be
  /// indexed in some registered version of P (InvalidInput otherwise, or when the live version
  /// lacks it or `value` is not of its type).
  ReadResult list_where(const std::string& name, const std::string& column, const std::string& value,
                        const std::string& after, std::size_t limit, const ReadOptions& options);
  /// Rows for several keys in one statement (absent keys have none), reflecting one position: what
  /// get() promises for each key, at the cost of one round trip when caught up.
  ReadResult get_many(const std::string& name, const std::vector<std::string>& keys, const ReadOptions& options);

  std::vector<ProjectionStatus> status();
  /// Sets P's poison policy (engine/poison.hpp); a projection stopped at a poison event resumes
  /// under skip. Returns P's status after it.
  ProjectionStatus set_poison_policy(const std::string& name, PoisonPolicy policy);
  /// Events version `version` of P skipped, by position, after `after`.
  std::vector<QuarantinedEvent> quarantined(const std::string& name, int version, std::int64_t after,
                                            std::size_t limit);
  /// Events applied to P's live tables (committed), by mode.
  std::int64_t applied_events(const std::string& name, ApplyMode mode) const;
  const ProjectionRegistry& registry() const { return registry_; }
  /// What the registered versions require of appended events (the API checks appends with it).
  const EventRequirements& requirements() const { return requirements_; }
  const LiveOptions& options() const { return options_; }
  /// Every watermark an apply of this process committed or found (catch_up()), as it happens.
  WatermarkBoard& watermarks() { return watermarks_; }
  ConnectionPool& pool() { return pool_; }

 private:
  struct ReadStatement {
    std::string name;  // prepared statement name
    std::string sql;
  };
  // `reads`: the requests the statement answers (a batch of point reads is one statement).
  ReadResult read(const std::string& name, const ReadStatement& statement, const std::vector<std::string>& args,
                  const ReadOptions& options, std::size_t reads = 1);
  std::optional<ReadResult> read_replica(const std::string& name, const ReadStatement& statement,
                                         const std::vector<std::string>& args, const ReadOptions& options,
                                         std::size_t reads);
  ReadResult answer(const std::string& name, const pqxx::result& r) const;

  ConnectionPool& pool_;
  ReplicaSet* replicas_ = nullptr;
  const ProjectionRegistry& registry_;
  const LiveOptions options_;
  const EventRequirements requirements_;
  struct Counters {
    std::atomic<std::int64_t> worker{0};
    std::atomic<std::int64_t> read{0};
  };
  struct ReadStatements {
    ReadStatement get, list, get_many;
    std::map<std::string, ReadStatement> list_where;  // by column
    Counters counters;
  };
  // Per projection, made on first use: the registry grows while serving (specs deployed over
  // HTTP). Entries are never removed, so references to them stay valid.
  ReadStatements& statements(const std::string& name);
  const ReadStatement& list_where_statement(const std::string& name, const std::string& column);
  WatermarkBoard watermarks_;
  mutable std::mutex statements_mutex_;
  std::map<std::string, ReadStatements> reads_;
};

}  // namespace reproj::engine
