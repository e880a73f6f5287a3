#pragma once
// The interface projections implement. A projection folds events into rows of its own tables,
// through a Sink; it never knows whether the rows are live tables updated a few events at a time
// or an in-memory set a rebuild flushes with COPY.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/event.hpp"

namespace reproj::engine {

// Values of kNumeric, kJsonb and kTimestamptz are text in a canonical form (engine/column_value.hpp).
enum class ColumnType { kText, kBool, kBigint, kNumeric, kDouble, kJsonb, kTimestamptz };

struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::kText;
};

/// Keeping a table's history (docs/DESIGN.md invariant 14): every change of a row is kept as a
/// version valid for [from_position, to_position), naming the event that made it, so the table can
/// be read as of any log position. Versions older than the retention are pruned by the janitor;
/// both limits 0 keep everything.
struct HistorySpec {
  std::int64_t retain_events = 0;  // keep what is needed to read as of the last N positions
  std::int64_t retain_days = 0;    // ... as of any event recorded in the last D days
  bool operator==(const HistorySpec&) const = default;
};

/// One table of a projection. columns[0] is the text primary key. The engine chooses the physical
/// name (live, shadow or retired), so one definition serves every copy.
struct TableSpec {
  std::string name;                  // logical name; the table named like the projection is the one served
  std::vector<ColumnSpec> columns;
  std::vector<std::size_t> indexed;  // columns Sink::update_where looks rows up by
  // Column sets no two rows may share, checked after every event (a NULL never clashes, as in SQL).
  // Columns of type text, boolean, bigint or timestamptz: their canonical forms compare exactly.
  std::vector<std::vector<std::size_t>> unique;
  // Kept: live apply, rebuilds, promote and rollback keep a version per change of a row.
  std::optional<HistorySpec> history = std::nullopt;
};

/// When a projection version's live tables are written. Async: by the catch-up worker and the
/// read path, after the append committed. Inline: inside every append's transaction (and the
/// catch-up path for events written by raw SQL), so its rows and unique rules commit with the
/// events -- an append breaking a unique rule is refused (engine/inline_projections.hpp).
enum class ProjectionMode { kAsync, kInline };

/// A column value: NULL, text (also numeric, jsonb and timestamptz), boolean, bigint or double.
using Value = std::variant<std::monostate, std::string, bool, std::int64_t, double>;

/// One row: values in TableSpec column order; values[0] is the key.
struct Row {
  std::vector<Value> values;
  const std::string& key() const { return std::get<std::string>(values[0]); }
  bool operator==(const Row&) const = default;
};

/// The JSON type a handler needs a field of an event's data to have.
enum class FieldType { kString, kBoolean, kInteger, kNumber, kObject, kArray, kPresent };  // kPresent: any but null
std::string_view to_string(FieldType type);

/// A field a projection cannot fold an event type without: appends lacking it are refused (422)
/// before anything is written (engine/event_requirements.hpp).
struct FieldRequirement {
  std::string event_type;
  std::string field;  // top-level member of the event's data object
  FieldType type = FieldType::kString;
};

/// Where a projection writes. Not thread-safe: each applier owns its sink.
class Sink {
 public:
  virtual ~Sink() = default;
  /// The row of `table` (index into Projection::tables()) with this key, or nullptr.
  /// The pointer is valid until the next call on the sink.
  virtual const Row* find(std::size_t table, const std::string& key) = 0;
  /// Inserts or replaces the row whose key is row.values[0].
  virtual void put(std::size_t table, Row row) = 0;
  /// Calls `change` on the row of `table` with this key, in place; when there is none, on
  /// `make()` first (its key must be `key`). The same as find, copy, change and put, without the
  /// copy: most events change one or two columns of an existing row.
  virtual void update(std::size_t table, const std::string& key, const std::function<Row()>& make,
                      const std::function<void(Row&)>& change) = 0;
  /// Calls `change` on every row of `table` whose indexed `column` equals `value` (the
  /// cross-stream case: a customer rename reaching each of its cars), and stores the results.
  virtual void update_where(std::size_t table, std::size_t column, const std::string& value,
                            const std::function<void(Row&)>& change) = 0;
  /// Removes the row of `table` with this key, if there is one.
  virtual void erase(std::size_t table, const std::string& key) = 0;
};

/// A projection version. Implementations keep no state and are thread-safe: the catch-up worker,
/// sync reads and a rebuild call apply() at once, each with its own Sink.
class Projection {
 public:
  virtual ~Projection() = default;
  virtual std::string_view name() const = 0;  // "cars"
  virtual int version() const = 0;            // a new version is what a rebuild builds
  virtual const std::vector<TableSpec>& tables() const = 0;
  virtual ProjectionMode mode() const { return ProjectionMode::kAsync; }
  /// What apply() reads of an event beyond position, event_id, stream, type and data. A rebuild
  /// streams nothing else, so PostgreSQL formats less.
  virtual EventExtras extras() const { return {}; }
  /// What apply() requires of each event type's data. Declare every field whose absence makes
  /// apply() throw: appends are checked against it, so such events only enter the log by raw SQL.
  virtual std::vector<FieldRequirement> requirements() const { return {}; }
  /// Folds one event. Unknown types are ignored. Throws PoisonEvent if the event's data is
  /// unusable, and does so before writing to the sink: under the `skip` poison policy the event is
  /// quarantined and the fold goes on with whatever the sink holds (engine/poison.hpp).
  virtual void apply(const Event& event, Sink& sink) const = 0;
};

/// Whether any table of `projection` has a unique rule.
inline bool has_unique_rules(const Projection& projection) {
  for (const auto& t : projection.tables()) {
    if (!t.unique.empty()) return true;
  }
  return false;
}

/// The served table of `projection`: the one named like it (read at /{projection}; its key column
/// keeps its name across versions). Every projection has one (a spec is refused without it).
inline const TableSpec& served_table(const Projection& projection) {
  for (const auto& t : projection.tables()) {
    if (t.name == projection.name()) return t;
  }
  throw std::logic_error("projection " + std::string{projection.name()} + " has no table named like itself");
}

}  // namespace reproj::engine
