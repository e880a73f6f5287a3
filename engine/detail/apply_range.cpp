#include "engine/detail/apply_range.hpp"

#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine::detail {

RangeApplied apply_range(pqxx::transaction_base& tx, const Projection& projection,
                         const std::vector<std::string>& physical, std::int64_t from, std::int64_t up_to,
                         std::size_t max_events, std::size_t chunk_events, PoisonPolicy policy) {
  RangeApplied out{from, 0, {}};
  SqlRowSource source{tx, projection, physical};
  std::vector<Event> chunk;
  while (out.position < up_to && static_cast<std::size_t>(out.events) < max_events) {
    const std::size_t want = std::min(chunk_events, max_events - static_cast<std::size_t>(out.events));
    chunk.clear();
    log::stream_events(tx, out.position, up_to, want, [&](Event& e) { chunk.push_back(std::move(e)); });
    // A speculative pass learns which rows the chunk touches, so they load in one query per table
    // instead of one round trip per event.
    RowSet recorded{projection.tables(), nullptr, true};
    try {
      for (const auto& e : chunk) projection.apply(e, recorded);
    } catch (const PoisonEvent&) {  // the real pass below reports it
    }
    RowSet rows{projection.tables(), &source};
    rows.prefetch(recorded);
    for (const auto& e : chunk) {
      try {
        projection.apply(e, rows);
      } catch (const PoisonEvent& poison) {
        if (policy == PoisonPolicy::kStop) throw;
        out.skipped.emplace_back(e, poison);
      }
    }
    flush(tx, projection, rows, physical, NewRows::kUpsert);
    out.events += static_cast<std::int64_t>(chunk.size());
    out.position = chunk.size() < want ? up_to : chunk.back().global_position;
  }
  return out;
}

}  // namespace reproj::engine::detail
