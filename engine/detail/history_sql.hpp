#pragma once
// The history of a projection table (TableSpec::history; docs/DESIGN.md invariant 14), as SQL.
// A history table has the table's columns (nullable) and two of its own:
//   _position  bigint   the event that made the version: it is valid from here...
//   _deleted   boolean  the version is a deletion (its columns NULL but the key)
// ...to the next version's _position (exclusive), so a version is never updated: history is
// insert-only, its key (key, _position) refuses a change recorded twice, and "as of P" is one
// probe of that key for the newest version at or before P. What an event changed is the
// difference from the key's previous version (read with it), so a version costs one row of the
// table and nothing more. Tables made before that carry a third, `_changed` json (nullable since
// migration 0014), which a read of such an old version still uses.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "engine/detail/table_sql.hpp"
#include "engine/projection.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine::detail {

inline constexpr const char* kHistoryPosition = "_position";
inline constexpr const char* kHistoryDeleted = "_deleted";
inline constexpr const char* kHistoryChanged = "_changed";  // old tables only, see above

/// CREATE TABLE for the history of `spec`, always LOGGED (it is appended to, never rewritten). With
/// KeyIndex::kBuild its key is built later by history_index_plan (a rebuild's replay).
void create_history_table(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical, KeyIndex key);

/// The key of a history table built after its replay: a unique index, then the constraint over it.
IndexPlan history_index_plan(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical);

/// Builds the key of each history among `names` that has none yet, in `tx`.
void index_histories(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& names);

/// Creates every table of a copy of `projection` named by `names` (a table_names() list): rows
/// with `durability` and their key (`key`), secondary indexes too when the key exists, and history.
void create_copy(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& names,
                 Durability durability, KeyIndex key);

/// Appends `versions` (RowSet::take_versions) to the history tables among `names` (a
/// table_names() list of the copy the rows were written to), with COPY.
void append_versions(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& names,
                     const std::vector<RowVersion>& versions);

/// The event that made the version of `key` current at `position` in the history `physical`:
/// {"position", "event_id", "type"}, or null when the key had no version then.
nlohmann::json made_by(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                       const std::string& key, std::int64_t position);

}  // namespace reproj::engine::detail
