#pragma once
// A projection version as data (issue 15): the spec document, parsed and checked. A spec runs no
// SQL and no code; this is its whole grammar. parse() reports every problem it finds, each with
// the JSON pointer of the part at fault, and never returns a half-checked spec.
//
//   {"projection": "cars", "version": 3, "description"?: "...", "mode"?: "async" | "inline",
//    "tables": {NAME: {"key": COLUMN, "columns": {COLUMN: TYPE}, "defaults"?: {COLUMN: literal},
//                      "indexes"?: [COLUMN], "unique"?: [[COLUMN]], "private"?: bool}},
//    "on": {EVENT_TYPE: [OPERATION]}}
//
// Operations: upsert, update (if_missing create|skip), update_where (on an indexed column),
// delete, increment/decrement (numeric columns), push/pull (jsonb array columns).
// Values: JSON literals, references ($stream, $position, $event_id, $type, $recorded_at,
// $data.a.b, $metadata.a), {"optional": REF}, {"lookup": TABLE, "key": VALUE, "column": COLUMN},
// {"coalesce": [VALUE, ...]}. A required reference missing from an event, or of the wrong JSON
// type for its column, makes the event a poison event.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/projection.hpp"

namespace reproj::engine::spec {

inline constexpr std::size_t kMaxSpecBytes = 256 * 1024;
inline constexpr std::size_t kMaxTables = 32;
inline constexpr std::size_t kMaxColumns = 64;

enum class Type { kText, kBoolean, kBigint, kNumeric, kDouble, kJsonb, kTimestamptz };
std::string_view to_string(Type type);

struct Column {
  std::string name;
  Type type = Type::kText;
};

struct Table {
  std::string name;
  std::string key;                      // a text column
  std::vector<Column> columns;          // in document order
  std::map<std::string, nlohmann::ordered_json> defaults;
  std::vector<std::string> indexes;     // columns update_where may look rows up by
  std::vector<std::vector<std::string>> unique;
  bool is_private = false;              // not served over HTTP (a lookup table)
  std::optional<HistorySpec> history;   // "history": true | {"retain_events": N} | {"retain_days": D}
  const Column* column(std::string_view name) const;
};

/// Where a reference reads from.
struct Ref {
  enum class Source { kStream, kPosition, kEventId, kType, kRecordedAt, kData, kMetadata };
  Source source = Source::kStream;
  std::vector<std::string> path;  // for kData and kMetadata: member names, outermost first
  std::string text;               // as written, e.g. "$data.to"
};

struct Expr;
struct Optional {
  Ref ref;
};
struct Lookup {
  std::string table;
  std::unique_ptr<Expr> key;
  std::string column;
};
struct Coalesce {
  std::vector<Expr> values;
};

/// A value an operation writes or looks up by.
struct Expr {
  std::variant<nlohmann::ordered_json, Ref, Optional, Lookup, Coalesce> v;
};

struct Operation {
  enum class Kind { kUpsert, kUpdate, kUpdateWhere, kDelete, kIncrement, kDecrement, kPush, kPull };
  Kind kind = Kind::kUpsert;
  std::string table;
  std::optional<Expr> key;                         // all but update_where
  std::vector<std::pair<std::string, Expr>> set;   // upsert, update, update_where
  std::pair<std::string, std::optional<Expr>> where;  // update_where: the indexed column and its value
  bool create_if_missing = true;                    // update
  std::string column;                               // increment, decrement, push, pull
  std::optional<Expr> by;                          // increment, decrement (default 1)
  std::optional<Expr> value;                       // push, pull
};

struct Spec {
  std::string projection;
  int version = 0;
  std::string description;
  bool inline_mode = false;
  std::vector<Table> tables;
  std::map<std::string, std::vector<Operation>> on;  // event type -> operations, in order
  const Table* table(std::string_view name) const;
};

/// One thing wrong with a spec: where (a JSON pointer into the document) and what.
struct Problem {
  std::string path;
  std::string message;
  bool operator==(const Problem&) const = default;
};

/// Parses and checks a spec document. Returns the spec, or every problem found (never both).
std::variant<Spec, std::vector<Problem>> parse(std::string_view text);

/// What the spec requires of each event type's data: every reference that is not optional (nor
/// inside a coalesce with a later fallback), with the JSON type its use needs.
std::vector<FieldRequirement> requirements(const Spec& spec);

/// Names a projection may not take: the first path segments routes already use.
bool is_reserved_name(std::string_view name);

}  // namespace reproj::engine::spec
