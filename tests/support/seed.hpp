#pragma once
// Seeding a log quickly: generated events written through the real import path.

#include <sstream>

#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "tests/support/oracle.hpp"

namespace reproj::test {

/// Imports `count` generated events spread over `writers` generators (deterministic).
inline void seed_events(engine::EventStore& store, int count, int writers = 8, unsigned seed = 1) {
  std::vector<EventGenerator> gens;
  for (int w = 0; w < writers; ++w) gens.emplace_back(w + 100, seed + static_cast<unsigned>(w));
  std::stringstream out;
  projections::write_ndjson(out, gens, count);
  store.import_ndjson(out);
}

/// The whole served table of a projection, page by page, strongly consistent. Brings the
/// projection to the tail first, in batches, as the catch-up worker would: a strong read applies
/// only a bounded number of events itself.
inline std::vector<engine::Row> all_rows(engine::LiveProjections& live, const std::string& projection,
                                         std::int64_t* position = nullptr) {
  const std::int64_t tail = engine::EventStore{live.pool()}.safe_tail();
  for (engine::Applied a; !a.failed && a.watermark < tail;) {
    a = live.catch_up(projection, tail, engine::ApplyMode::kWorker, 20'000);
  }
  std::vector<engine::Row> rows;
  std::string after;
  while (true) {
    auto page = live.list(projection, after, 1000, {});
    if (position) *position = page.watermark;
    rows.insert(rows.end(), page.rows.begin(), page.rows.end());
    if (page.rows.size() < 1000) return rows;
    after = page.rows.back().key();
  }
}

/// The fold of the whole log (up to `up_to`) for a cars version.
inline Oracle fold(engine::EventStore& store, int cars_version, std::int64_t up_to) {
  Oracle o{cars_version};
  std::int64_t pos = 0;
  while (pos < up_to) {
    auto batch = store.read(pos, up_to, 50'000);
    if (batch.empty()) break;
    for (const auto& e : batch) o.apply(e);
    pos = batch.back().global_position;
  }
  return o;
}

/// Table rows equal the oracle's cars, or a message naming the first difference.
inline ::testing::AssertionResult cars_match(const std::vector<engine::Row>& rows, const Oracle& oracle) {
  if (rows.size() != oracle.cars().size()) {
    return ::testing::AssertionFailure() << rows.size() << " cars in the table, " << oracle.cars().size()
                                         << " in the fold";
  }
  for (const auto& row : rows) {
    if (std::optional<engine::Row>{row} != oracle.car(row.key())) {
      return ::testing::AssertionFailure() << "car " << row.key() << " differs from the fold";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace reproj::test
