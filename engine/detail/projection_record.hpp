#pragma once
// The reproj.projections record: its metadata lock and every statement that moves its watermark
// (last_replayed). Each writer runs in the transaction that writes the rows the watermark
// describes, under the metadata row lock (docs/DESIGN.md, invariants 2 and 3): a caller that moves
// the watermark without writing those rows in the same transaction breaks both.
#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "engine/live_projections.hpp"

namespace reproj::engine::detail {

/// Locks P's metadata row (FOR UPDATE: the watermark is re-read once the lock is granted) and
/// returns it. Throws UnknownProjection when P has no row.
ProjectionStatus lock_projection(pqxx::transaction_base& tx, const std::string& name);

/// P's rows now reflect the log up to `watermark`.
void advance_watermark(pqxx::transaction_base& tx, const std::string& name, std::int64_t watermark);

/// The inline append's case in one statement: when P is live, healthy, not building and one of
/// `inline_versions` (a text int[] such as "{1,2}") is active, locks its row, moves the watermark to
/// `watermark` and returns the row as it was (watermark and policy before the move). nullopt:
/// P is not in that case, nothing moved, and the lock may or may not be held.
std::optional<ProjectionStatus> lock_and_advance(pqxx::transaction_base& tx, const std::string& name,
                                                 std::int64_t watermark, const std::string& inline_versions);

/// A swap or rollback made `version` live with rows at `watermark` (clears a failed state).
void make_live(pqxx::transaction_base& tx, const std::string& name, int version, std::int64_t watermark);

}  // namespace reproj::engine::detail
