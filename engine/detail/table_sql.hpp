#pragma once
// SQL for projection tables: physical names, DDL, batched loads and set-based writes.
// Identifiers always go through quote_name; values always travel as parameters or COPY data.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/projection.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine::detail {

inline constexpr const char* kDataSchema = "reproj_data";

/// An SQL identifier, double-quoted (quote_name without needing a connection).
std::string quote_ident(const std::string& name);

/// {"<live physical name>": {"<column>": "<SQL type>"}} for every table of `projection`.
std::string live_columns_json(const Projection& projection);
/// Schema-qualified and quoted.
std::string qualified(pqxx::transaction_base& tx, const std::string& physical);

/// DROP TABLE IF EXISTS for each (names in the projection schema).
void drop_tables(pqxx::transaction_base& tx, const std::vector<std::string>& physical);

/// CREATE TABLE for one table, with its primary key only (create_indexes adds the secondary ones
/// and the unique rules' constraints).
/// Whether a table's writes go to the WAL: a shadow is UNLOGGED while it replays (its checkpoints
/// are rewritten anyway), LOGGED from the end of the replay on.
enum class Durability { kLogged, kUnlogged };
void create_table(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical, Durability durability);
/// Whether a table's primary key index exists (created with the table) or is to be built with the
/// others (a rebuild's shadow, written as a bare heap).
enum class KeyIndex { kExists, kBuild };
/// Runs index_plan in `tx`.
void create_indexes(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                    KeyIndex key = KeyIndex::kExists);

/// The indexes of a projection table, as statements: `build` creates them (any order, each may run
/// in a transaction of its own), then `attach` (one transaction) makes the key and the unique rules
/// constraints over them, deferrable to commit. Names follow PostgreSQL's ("<table>_pkey",
/// "<table>_<columns>_key"), with a hash of the table's name when they would pass 63 bytes.
struct IndexPlan {
  std::vector<std::string> build;
  std::vector<std::string> attach;
};
/// The name of an index of `physical`: physical + suffix, cut to 63 bytes with a hash of the whole.
std::string index_name(const std::string& physical, const std::string& suffix);
/// What indexes `physical`: KeyIndex::kBuild adds the primary key's.
IndexPlan index_plan(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical, KeyIndex key);

/// "c1, c2, ..." quoted.
std::string column_list(pqxx::transaction_base& tx, const TableSpec& spec);
/// Decodes one result row (columns in spec order starting at `offset`) into a Row.
Row decode_row(const pqxx::row& r, const TableSpec& spec, pqxx::row::size_type offset = 0);

/// Upserts rows (one statement, rows passed as one jsonb parameter).
void upsert_rows(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                 const std::vector<const Row*>& rows);
/// A stored row holding a unique value of the rows an upsert was given (TableSpec::unique).
struct StoredClash {
  std::size_t rule = 0;
  std::string existing_key;  // the stored row
  std::string key;           // the row given
};
/// Upserts rows, unless a stored row whose key is not in `written` holds a unique value of one of
/// them: then nothing is written and the first such clash is returned.
std::optional<StoredClash> upsert_rows_unless_held(pqxx::transaction_base& tx, const TableSpec& spec,
                                                   const std::string& physical, const std::vector<const Row*>& rows,
                                                   const std::vector<std::string>& written);
/// Where copy_rows writes: a table of the projection schema, or a temporary (staging) table.
enum class TableHome { kProjectionSchema, kTemporary };
/// Appends `v` as a COPY text field (\N for NULL).
void append_copy_value(std::string& line, const Value& v);
/// Appends rows with COPY (none may exist yet).
void copy_rows(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
               const std::vector<const Row*>& rows, TableHome home = TableHome::kProjectionSchema);
/// Upserts many rows: COPY into a temporary staging table, then one INSERT ... ON CONFLICT.
void staged_upsert(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                   const std::vector<const Row*>& rows);

/// How flush writes rows never persisted: COPY (a shadow, where no other writer can have them) or
/// upsert like the rest (live tables).
enum class NewRows { kCopy, kUpsert };
/// Writes every dirty row of `set`. Marks the set flushed. Returns rows written.
/// `check_unique_at`: the set holds one event's changes at that position, checked against memory
/// only (RowSet::check_stored_holders_at_flush): tables with unique rules are upserted by
/// upsert_rows_unless_held, and a clash with a stored row throws UniqueViolation.
std::size_t flush(pqxx::transaction_base& tx, const Projection& projection, RowSet& set,
                  const std::vector<std::string>& physical, NewRows new_rows,
                  std::optional<std::int64_t> check_unique_at = std::nullopt);

/// A RowSource reading the given physical tables inside `tx`.
class SqlRowSource final : public RowSource {
 public:
  SqlRowSource(pqxx::transaction_base& tx, const Projection& projection, std::vector<std::string> physical)
      : tx_(tx), projection_(projection), physical_(std::move(physical)) {}
  std::vector<Row> load(std::size_t table, const std::vector<std::string>& keys) override;
  std::vector<Row> load_where(std::size_t table, std::size_t column, const std::vector<std::string>& values) override;
  std::vector<Row> load_unique(std::size_t table, const std::vector<std::size_t>& columns,
                               const std::vector<std::vector<Value>>& tuples) override;

 private:
  pqxx::transaction_base& tx_;
  const Projection& projection_;
  std::vector<std::string> physical_;
};

}  // namespace reproj::engine::detail
