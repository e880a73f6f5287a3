#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/detail/quarantine.hpp"
#include "engine/poison.hpp"
#include "engine/projection.hpp"

namespace reproj::engine::detail {

struct RangeApplied {
  std::int64_t position = 0;  // the new watermark of those tables
  std::int64_t events = 0;      // read, skipped ones included
  std::vector<SkippedEvent> skipped;  // under kSkip: for the caller to record with the watermark
};

/// Applies the events in (from, up_to], at most `max_events`, to `physical` (one table per
/// projection table, rows already there) inside `tx`, reading and writing set-based in chunks.
/// The caller owns the watermark and the lock that makes this the only applier of those tables.
/// Under kStop throws PoisonEvent; the caller's transaction must then be rolled back. Under kSkip
/// an unusable event is left out and returned in `skipped`.
RangeApplied apply_range(pqxx::transaction_base& tx, const Projection& projection,
                         const std::vector<std::string>& physical, std::int64_t from, std::int64_t up_to,
                         std::size_t max_events, std::size_t chunk_events, PoisonPolicy policy);

}  // namespace reproj::engine::detail
