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
  std::int64_t watermark = 0;  // of those tables, after the apply
  std::int64_t events = 0;      // read, skipped ones included
  std::vector<SkippedEvent> skipped;  // under kSkip: for the caller to record with the watermark
};

/// What an event breaking a unique rule (TableSpec::unique) is to an applier. kPoison: an event
/// already in the log that no check stopped (raw SQL), handled by the poison policy like any event
/// the projection cannot use. kThrow: UniqueViolation, and the caller's transaction must be rolled
/// back (an append's own events, a swap's last catch-up). Either way the event's writes are undone
/// first, so what follows is folded as if it had never been.
enum class OnClash { kPoison, kThrow };

/// Applies the events in (from, up_to], at most `max_events`, to `physical` (one table per
/// projection table, rows already there) inside `tx`, reading and writing set-based in chunks.
/// The caller owns the watermark and the lock that makes this the only applier of those tables.
/// Under kStop throws PoisonEvent; the caller's transaction must then be rolled back. Under kSkip
/// an unusable event is left out and returned in `skipped`.
RangeApplied apply_range(pqxx::transaction_base& tx, const Projection& projection,
                         const std::vector<std::string>& physical, std::int64_t from, std::int64_t up_to,
                         std::size_t max_events, std::size_t chunk_events, PoisonPolicy policy,
                         OnClash on_clash = OnClash::kPoison);

/// The same for events the caller holds (an append's own, just written by `tx`), in position
/// order, the first right after the tables' watermark.
RangeApplied apply_events(pqxx::transaction_base& tx, const Projection& projection,
                          const std::vector<std::string>& physical, const std::vector<Event>& events,
                          PoisonPolicy policy, OnClash on_clash);

}  // namespace reproj::engine::detail
