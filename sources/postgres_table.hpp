#pragma once
// Kind 1: a PostgreSQL table another application writes ("kind": "postgres_table").
//
// Gap safety without controlling the writers. A sequence or identity column commits out of order:
// reading `position > last` skips a row whose transaction commits after a later one was read. With
// "order": {"xid": COLUMN} -- the writing transaction's id, pg_current_xact_id(), stored per row
// (Emmett's emt_messages.transaction_id; `reproj source prepare` adds one) -- rows are read in
// (xid, position) order and only below pg_snapshot_xmin(pg_current_snapshot()): every transaction
// below it has ended and none can start below it, so such a row is committed and no row still to
// commit can sort before it. "order": "unsafe_position" reads by position alone and can skip rows
// under concurrent writers; it must be asked for by name.

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sources/mapping.hpp"
#include "sources/source_reader.hpp"

namespace reproj::sources {

struct PostgresTableConfig {
  std::string table;           // as given: "public.emt_messages", "events"
  std::string position;        // an integer column, unique, increasing with inserts
  std::string xid;             // the transaction id column ("order": {"xid": …}); empty: unsafe_position
};

/// The references of this kind: $col.NAME and $record.
std::vector<ReferenceRoot> postgres_table_references();

/// Checks the kind's members of `doc` (table, position, order), adding problems; nullopt if any.
std::optional<PostgresTableConfig> parse_postgres_table(const nlohmann::json& doc, std::vector<Problem>& problems);

/// Reads the table over its own connection. `columns` (what the mapping reads with $col) are
/// checked to exist when connecting. A record holds those columns only, unless `whole_row` (the
/// mapping reads $record): then every column.
std::unique_ptr<SourceReader> postgres_table_reader(PostgresTableConfig config, std::string url,
                                                    std::set<std::string> columns, bool whole_row);

/// The statements `reproj source prepare` runs for a table without a transaction id column: a
/// column `COLUMN xid8 NOT NULL DEFAULT pg_current_xact_id()` (rows already there get the id of
/// the ALTER, so they are read first) and an index on (COLUMN, position).
std::vector<std::string> prepare_statements(const PostgresTableConfig& config);
/// Runs prepare_statements() in one transaction on the database at `url`. Throws InvalidInput
/// when the table already has the column, DatabaseUnavailable when it cannot be reached.
void prepare_table(const PostgresTableConfig& config, const std::string& url);

}  // namespace reproj::sources
