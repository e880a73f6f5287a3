#include "engine/detail/apply_range.hpp"

#include "engine/detail/table_sql.hpp"
#include "engine/detail/unique_clash.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine::detail {

namespace {

void fold_chunk(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& physical,
                SqlRowSource& source, const std::vector<Event>& chunk, PoisonPolicy policy, OnClash on_clash,
                RangeApplied& out) {
  // A speculative pass learns which rows the chunk touches (by key, by indexed column, by unique
  // value), so they load in one query per table instead of one round trip per event.
  RowSet recorded{projection.tables(), nullptr, true};
  for (const auto& e : chunk) {
    try {
      recorded.begin_event(e.global_position);
      projection.apply(e, recorded);
      recorded.clash();
    } catch (const PoisonEvent&) {  // the real pass below reports it
    }
  }
  // One event whose clash refuses everything (an append of one event, the common case): its rows
  // are checked against the stored ones as they are written, one round trip less than loading the
  // holders of its values first. The state after the one event is all its verdict needs.
  const bool at_flush = on_clash == OnClash::kThrow && chunk.size() == 1;
  RowSet rows{projection.tables(), &source};
  if (at_flush) rows.check_stored_holders_at_flush();
  rows.prefetch(recorded);
  for (const auto& e : chunk) {
    auto leave_out = [&](const PoisonEvent& poison) {  // with its writes undone
      if (policy == PoisonPolicy::kStop) throw poison;
      out.skipped.emplace_back(e, poison);
    };
    rows.begin_event(e.global_position);
    try {
      projection.apply(e, rows);
    } catch (const PoisonEvent& poison) {
      rows.undo_event();
      leave_out(poison);
      continue;
    }
    if (auto clash = rows.clash()) {
      rows.undo_event();
      if (on_clash == OnClash::kThrow) throw violation(projection, *clash);
      leave_out(PoisonEvent(e.global_position, e.event_id, e.type, violation(projection, *clash).what()));
    }
  }
  flush(tx, projection, rows, physical, NewRows::kUpsert,
        at_flush ? std::optional<std::int64_t>{chunk.front().global_position} : std::nullopt);
  out.events += static_cast<std::int64_t>(chunk.size());
}

}  // namespace

RangeApplied apply_range(pqxx::transaction_base& tx, const Projection& projection,
                         const std::vector<std::string>& physical, std::int64_t from, std::int64_t up_to,
                         std::size_t max_events, std::size_t chunk_events, PoisonPolicy policy, OnClash on_clash) {
  RangeApplied out{from, 0, {}};
  SqlRowSource source{tx, projection, physical};
  std::vector<Event> chunk;
  while (out.watermark < up_to && static_cast<std::size_t>(out.events) < max_events) {
    const std::size_t want = std::min(chunk_events, max_events - static_cast<std::size_t>(out.events));
    chunk.clear();
    log::stream_events(tx, out.watermark, up_to, want, [&](Event& e) { chunk.push_back(std::move(e)); });
    fold_chunk(tx, projection, physical, source, chunk, policy, on_clash, out);
    out.watermark = chunk.size() < want ? up_to : chunk.back().global_position;
  }
  return out;
}

RangeApplied apply_events(pqxx::transaction_base& tx, const Projection& projection,
                          const std::vector<std::string>& physical, const std::vector<Event>& events,
                          PoisonPolicy policy, OnClash on_clash) {
  RangeApplied out{0, 0, {}};
  if (events.empty()) return out;
  SqlRowSource source{tx, projection, physical};
  fold_chunk(tx, projection, physical, source, events, policy, on_clash, out);
  out.watermark = events.back().global_position;
  return out;
}

}  // namespace reproj::engine::detail
