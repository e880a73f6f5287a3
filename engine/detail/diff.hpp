#pragma once
// What a new version changes, measured before it is promoted (issue 16): live and shadow tables
// compared at one position, in one snapshot, set-based in PostgreSQL (reproj.diff_table, migration
// 0007). Holds no lock a reader, the live applier or an appender waits on: the live projection is
// brought to the position through the usual door, then a read-only snapshot does the comparing.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/live_projections.hpp"

namespace reproj::engine::detail {

struct DiffOutcome {
  std::string report;    // {"position", "tables": {name: {...}}, "tables_added", "tables_dropped", "expected"}
  bool expected = true;  // in the served table only expected columns changed; rows added/removed only where allowed
};

/// Compares the live tables of `projection` with `shadow` (the physical tables of `version`,
/// rebuild `rebuild_id`, committed at `position`) at `position`. nullopt when the live projection
/// is past `position` (the shadow must catch up first) or moved before the snapshot: call again.
std::optional<DiffOutcome> diff_at(pqxx::connection& conn, LiveProjections& live, const Projection& version,
                                   const std::vector<std::string>& shadow, std::int64_t rebuild_id, std::int64_t position,
                                   const std::vector<std::string>& expect_changes);

}  // namespace reproj::engine::detail
