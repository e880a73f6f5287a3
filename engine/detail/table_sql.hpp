#pragma once
// SQL for projection tables: physical names, DDL, batched loads and set-based writes.
// Identifiers always go through quote_name; values always travel as parameters or COPY data.

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/projection.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine::detail {

inline constexpr const char* kDataSchema = "reproj_data";

/// An SQL identifier, double-quoted (quote_name without needing a connection).
std::string quote_ident(const std::string& name);

/// Unqualified physical name of `table` of `projection`; `suffix` is empty for live tables.
/// The table named like its projection keeps the bare name ("cars"), others get "cars__name".
std::string physical_table(const Projection& projection, const TableSpec& table, const std::string& suffix = "");
/// {"<live physical name>": {"<column>": "<SQL type>"}} for every table of `projection`.
std::string live_columns_json(const Projection& projection);
/// Schema-qualified and quoted.
std::string qualified(pqxx::transaction_base& tx, const std::string& physical);

/// CREATE TABLE (+ secondary indexes unless `defer_indexes`) for one table.
void create_table(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical, bool unlogged);
void create_indexes(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical);

/// "c1, c2, ..." quoted.
std::string column_list(pqxx::transaction_base& tx, const TableSpec& spec);
/// Decodes one result row (columns in spec order starting at `offset`) into a Row.
Row decode_row(const pqxx::row& r, const TableSpec& spec, pqxx::row::size_type offset = 0);

/// Upserts rows (one statement, rows passed as one jsonb parameter).
void upsert_rows(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                 const std::vector<const Row*>& rows);
/// Appends rows with COPY (none may exist yet). `in_data_schema` false: `physical` is a temp table.
void copy_rows(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
               const std::vector<const Row*>& rows, bool in_data_schema = true);
/// Upserts many rows: COPY into a temporary staging table, then one INSERT ... ON CONFLICT.
void staged_upsert(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                   const std::vector<const Row*>& rows);

/// Writes every dirty row of `set`: inserts through COPY when `copy_new` (rows never persisted),
/// everything else through upsert. Marks the set flushed. Returns rows written.
std::size_t flush(pqxx::transaction_base& tx, const Projection& projection, RowSet& set,
                  const std::vector<std::string>& physical, bool copy_new);

/// A RowSource reading the given physical tables inside `tx`.
class SqlRowSource final : public RowSource {
 public:
  SqlRowSource(pqxx::transaction_base& tx, const Projection& projection, std::vector<std::string> physical)
      : tx_(tx), projection_(projection), physical_(std::move(physical)) {}
  std::vector<Row> load(std::size_t table, const std::vector<std::string>& keys) override;
  std::vector<Row> load_where(std::size_t table, std::size_t column, const std::vector<std::string>& values) override;

 private:
  pqxx::transaction_base& tx_;
  const Projection& projection_;
  std::vector<std::string> physical_;
};

}  // namespace reproj::engine::detail
