#include "engine/detail/history_sql.hpp"

#include <nlohmann/json.hpp>

#include "engine/column_value.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/copy_writer.hpp"
#include "engine/detail/table_names.hpp"

namespace reproj::engine::detail {

void create_history_table(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical, KeyIndex key) {
  std::string sql = "CREATE TABLE " + qualified(tx, physical) + " (";
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    sql += tx.quote_name(spec.columns[i].name) + " " + std::string{sql_type(spec.columns[i].type)} +
           (i == 0 ? " NOT NULL, " : ", ");
  }
  sql += std::string{kHistoryPosition} + " bigint NOT NULL, " + kHistoryDeleted + " boolean NOT NULL";
  if (key == KeyIndex::kExists) sql += ", PRIMARY KEY (" + tx.quote_name(spec.columns[0].name) + ", " + kHistoryPosition + ")";
  tx.exec0(sql + ")");
}

IndexPlan history_index_plan(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical) {
  const auto table = qualified(tx, physical);
  const auto pk = tx.quote_name(index_name(physical, "_pkey"));
  return {{"CREATE UNIQUE INDEX IF NOT EXISTS " + pk + " ON " + table + " (" + tx.quote_name(spec.columns[0].name) +
           ", " + kHistoryPosition + ")"},
          {"ALTER TABLE " + table + " ADD PRIMARY KEY USING INDEX " + pk}};
}

void index_histories(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& names) {
  for (std::size_t i = 0; i < projection.tables().size(); ++i) {
    const auto h = history_of(projection, i);
    if (!h) continue;
    const bool keyed = !tx.exec_params("SELECT 1 FROM pg_index WHERE indrelid = $1::regclass AND indisprimary",
                                       qualified(tx, names.at(*h)))
                            .empty();
    if (keyed) continue;
    const auto plan = history_index_plan(tx, projection.tables()[i], names[*h]);
    for (const auto& sql : plan.build) tx.exec0(sql);
    for (const auto& sql : plan.attach) tx.exec0(sql);
  }
}

void create_copy(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& names,
                 Durability durability, KeyIndex key) {
  const auto& tables = projection.tables();
  for (std::size_t i = 0; i < tables.size(); ++i) {
    create_table(tx, tables[i], names.at(i), durability);
    if (key == KeyIndex::kExists) create_indexes(tx, tables[i], names[i]);
    if (auto h = history_of(projection, i)) create_history_table(tx, tables[i], names.at(*h), key);
  }
}

void append_versions(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& names,
                     const std::vector<RowVersion>& versions) {
  if (versions.empty()) return;
  const auto& tables = projection.tables();
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const auto h = history_of(projection, t);
    if (!h) continue;
    const TableSpec& spec = tables[t];
    std::vector<std::string> columns;
    for (const auto& c : spec.columns) columns.push_back(tx.quote_name(c.name));
    for (const char* c : {kHistoryPosition, kHistoryDeleted}) columns.emplace_back(c);
    std::optional<CopyWriter> out;
    std::string line;
    for (const auto& v : versions) {
      if (v.table != t) continue;
      if (!out) out.emplace(tx, qualified(tx, names.at(*h)), columns);
      line.clear();
      for (std::size_t c = 0; c < spec.columns.size(); ++c) {
        if (c) line += '\t';
        if (c == 0) append_copy_field(line, v.key);
        else if (v.row) append_copy_value(line, v.row->values[c]);
        else line += "\\N";
      }
      line += '\t' + std::to_string(v.position) + (v.row ? "\tf" : "\tt");
      out->write_line(line);
    }
    if (out) out->complete();
  }
}

nlohmann::json made_by(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                       const std::string& key, std::int64_t position) {
  const auto r = tx.exec_params("SELECT h._position, e.event_id, e.event_type FROM " + qualified(tx, physical) +
                                    " h LEFT JOIN reproj.events e ON e.global_position = h._position WHERE h." +
                                    tx.quote_name(spec.columns[0].name) +
                                    " = $1 AND h._position <= $2 ORDER BY h._position DESC LIMIT 1",
                                key, position);
  if (r.empty()) return nullptr;
  return {{"position", r[0][0].as<std::int64_t>()},
          {"event_id", r[0][1].is_null() ? "" : r[0][1].as<std::string>()},
          {"type", r[0][2].is_null() ? "" : r[0][2].as<std::string>()}};
}

}  // namespace reproj::engine::detail
