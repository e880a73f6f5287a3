#pragma once
// Time travel (docs/DESIGN.md invariant 14): a projection's served rows as of any log position,
// and the versions of one row with the events that made them -- for versions whose served table
// keeps history (TableSpec::history). Reads come after the live path has applied at least the
// position asked for, and read the history in one statement with the projection's metadata, so a
// swap is seen wholly or not at all (as LiveProjections' reads).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/live_projections.hpp"

namespace reproj::engine {

/// One version of a row: valid for [from_position, to_position), made by the event at
/// from_position.
struct RowHistoryItem {
  std::int64_t from_position = 0;
  std::optional<std::int64_t> to_position;  // nullopt while current
  std::string event_id;
  std::string type;
  std::string recorded_at;  // RFC 3339
  std::optional<Row> row;   // nullopt: the event deleted the row
  nlohmann::json changed;   // {"column": {"old": v, "new": v}}
};

struct RowHistory {
  const TableSpec* table = nullptr;
  int version = 0;
  std::int64_t watermark = 0;  // the versions reflect the log up to here
  std::vector<RowHistoryItem> items;  // newest first
  std::optional<std::int64_t> next;   // pass as `before` for the next page
};

class HistoryReads {
 public:
  explicit HistoryReads(LiveProjections& live) : live_(live) {}

  /// The row with `key` right after the event at `position` (ReadResult::watermark = position; no
  /// row if it did not exist then). Throws InvalidInput past the tail, HistoryNotKept when the live
  /// version keeps none, HistoryPruned before the retention's horizon, and what a read with
  /// min_position = position throws.
  ReadResult get_as_of(const std::string& name, const std::string& key, std::int64_t position);
  /// A page of the rows as of `position`, by key after `after`; with `column`, those whose value
  /// of it then was `value`.
  ReadResult list_as_of(const std::string& name, const std::string& after, std::size_t limit, std::int64_t position,
                        const std::optional<std::pair<std::string, std::string>>& filter = std::nullopt);
  /// The versions of the row with `key` (also a deleted one), newest first, those made before the
  /// position `before` (0: from the newest), after a read with `options` caught the projection up.
  RowHistory history(const std::string& name, const std::string& key, std::int64_t before, std::size_t limit,
                     const ReadOptions& options);
  /// The position of the last event recorded at or before `rfc3339` (0: none). InvalidInput when
  /// it is not an RFC 3339 timestamp.
  std::int64_t position_at(const std::string& rfc3339);

 private:
  LiveProjections& live_;
};

}  // namespace reproj::engine
