#pragma once
// What a kind of source does: read records in the order to ingest them, past a checkpoint, never a
// record that a record still to commit could precede (docs/DESIGN.md, invariant 13).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace reproj::sources {

/// One record of a source.
struct SourceRecord {
  nlohmann::json checkpoint;  // where reading goes on from once this record is ingested
  std::int64_t position = 0;  // its place in the source (the table's position column)
  std::string coordinate;     // what makes it unique in the source: the default event id is "{source}:{coordinate}"
  nlohmann::json record;      // the record as JSON ($record)
  nlohmann::json derived;     // what else the kind's references resolve to (fields parsed as JSON)
  // Not a record but records missing (a Redis stream trimmed past the checkpoint): why. The source
  // stops here in state `gap`, or quarantines it and goes on ("on_gap": "skip").
  std::string gap;
};

/// A connection to one source. Not thread-safe: one caller at a time (the Ingester's lock), but
/// resolve() and position_of() must be pure: they run while read() fetches the next batch on
/// another thread.
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  /// Opens the connection if it is not open and checks the configuration against the source.
  /// Throws InvalidSource for a mismatch (a missing table or column), DatabaseUnavailable when
  /// the source cannot be reached.
  virtual void connect() = 0;
  /// The source's tail now (its highest position), 0 when empty.
  virtual std::int64_t tail() = 0;
  /// The checkpoint of a source that starts at its end ("start": "end").
  virtual nlohmann::json end_checkpoint() = 0;
  /// Up to `limit` records after `checkpoint` (null: from the beginning), in ingestion order.
  virtual std::vector<SourceRecord> read(const nlohmann::json& checkpoint, std::size_t limit) = 0;
  /// Whether records after `checkpoint` have committed, readable now or held back because a
  /// transaction still open could precede them (false for a kind without such a wait).
  virtual bool committed_after(const nlohmann::json& checkpoint) = 0;
  /// The value `$root.name` names in `record`, or null.
  virtual const nlohmann::json* resolve(const SourceRecord& record, std::string_view root, std::string_view name) const = 0;
  /// The position a checkpoint stands at (for lag), 0 for null.
  virtual std::int64_t position_of(const nlohmann::json& checkpoint) const = 0;
};

}  // namespace reproj::sources
