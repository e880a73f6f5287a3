#pragma once
// Retention of projection history (TableSpec::history retain_events / retain_days): the janitor's
// half of time travel. A horizon is recorded (committed) before anything below it is pruned, and
// reads before the recorded horizon answer HistoryPruned, so no read ever finds half a history.

#include <cstdint>
#include <string>

namespace reproj::engine {

class ConnectionPool;
class ProjectionRegistry;

struct Pruned {
  std::int64_t horizon = 0;   // readable as of this position on (0: everything)
  std::int64_t versions = 0;  // deleted by this call
};

/// Raises the horizon of `name`'s live version to what its retention allows, then deletes the
/// versions no read at or past it needs (every version but the one current at the horizon and
/// the one before it, what that one changed from, per key), `batch` per transaction, so appliers
/// and swaps wait at most one batch. A no-op for a version that keeps everything.
Pruned prune_history(ConnectionPool& pool, const ProjectionRegistry& registry, const std::string& name,
                     std::int64_t batch = 5000);

}  // namespace reproj::engine
