#include "engine/detail/table_sql.hpp"

#include <cstdio>
#include <functional>

#include <nlohmann/json.hpp>

#include "engine/column_value.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/copy_writer.hpp"
#include "engine/detail/history_sql.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/unique_clash.hpp"

namespace reproj::engine::detail {

namespace {

// A value as jsonb_to_recordset takes it: numeric and timestamptz as their text (exact), jsonb
// as the document itself.
nlohmann::json record_value(ColumnType type, const Value& v) {
  if (type == ColumnType::kJsonb) return value_to_json(type, v);
  if (auto text = value_to_text(v); text && type != ColumnType::kDouble) {
    if (type == ColumnType::kText || type == ColumnType::kNumeric || type == ColumnType::kTimestamptz) return *text;
  }
  return value_to_json(type, v);
}

// The column types, which decide a SELECT's result type.
std::string shape_of(const TableSpec& spec) {
  std::string out;
  for (const auto& c : spec.columns) out += std::to_string(static_cast<int>(c.type)) + ",";
  return out;
}

std::vector<Row> select_rows(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                             std::size_t column, const std::vector<std::string>& values) {
  if (values.empty()) return {};
  // ANY over an array, not IN (SELECT ...): a set-returning function counts as 100 rows, so the
  // generic plan of the IN form hash-joins over a full scan of any table under ~100k rows.
  const std::string sql = "SELECT " + column_list(tx, spec) + " FROM " + qualified(tx, physical) + " WHERE " +
                          tx.quote_name(spec.columns[column].name) +
                          " = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))";
  std::vector<Row> out;
  for (const auto& r : exec_prepared_once(tx, sql, shape_of(spec), nlohmann::json(values).dump())) {
    out.push_back(decode_row(r, spec));
  }
  return out;
}

}  // namespace

std::string quote_ident(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string live_columns_json(const Projection& projection) {
  auto out = nlohmann::json::object();
  for (const auto& t : projection.tables()) {
    auto& columns = out[table_name(projection, t)] = nlohmann::json::object();
    for (const auto& c : t.columns) columns[c.name] = std::string{sql_type(c.type)};
    if (t.history) {  // a reader of the history is carried across a swap like one of the rows
      auto history = columns;
      history[kHistoryPosition] = "bigint";
      history[kHistoryDeleted] = "boolean";
      out[history_table_name(projection, t)] = std::move(history);
    }
  }
  return out.dump();
}

std::string qualified(pqxx::transaction_base& tx, const std::string& physical) {
  return std::string{kDataSchema} + "." + tx.quote_name(physical);
}

std::string column_list(pqxx::transaction_base& tx, const TableSpec& spec) {
  std::string out;
  for (const auto& c : spec.columns) {
    if (!out.empty()) out += ", ";
    out += tx.quote_name(c.name);
  }
  return out;
}

void drop_tables(pqxx::transaction_base& tx, const std::vector<std::string>& physical) {
  for (const auto& t : physical) tx.exec0("DROP TABLE IF EXISTS " + qualified(tx, t));
}

void create_table(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical, Durability durability) {
  std::string sql = std::string{"CREATE "} + (durability == Durability::kUnlogged ? "UNLOGGED " : "") + "TABLE " + qualified(tx, physical) + " (";
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    if (i) sql += ", ";
    sql += tx.quote_name(spec.columns[i].name) + " " + std::string{sql_type(spec.columns[i].type)};
    if (i == 0) sql += " PRIMARY KEY";
  }
  tx.exec0(sql + ")");
}

void create_indexes(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical, KeyIndex key) {
  const auto plan = index_plan(tx, spec, physical, key);
  for (const auto& sql : plan.build) tx.exec0(sql);
  for (const auto& sql : plan.attach) tx.exec0(sql);
}

// PostgreSQL cuts identifiers at 63 bytes: a long name keeps its index names distinct (from each
// other's and from another copy's) by a hash of the whole name it would have had.
std::string index_name(const std::string& physical, const std::string& suffix) {
  constexpr std::size_t kMax = 63;
  if (physical.size() + suffix.size() <= kMax) return physical + suffix;
  char hash[10];
  std::snprintf(hash, sizeof hash, "_%08zx", std::hash<std::string>{}(physical + suffix) & 0xffffffffu);
  const std::string name = physical.substr(0, kMax > suffix.size() + 9 ? kMax - suffix.size() - 9 : 0) + hash + suffix;
  return name.substr(0, kMax);
}

IndexPlan index_plan(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical, KeyIndex key) {
  IndexPlan plan;
  const auto table = qualified(tx, physical);
  const auto columns = [&](const std::vector<std::size_t>& cols, const char* separator) {
    std::string out;
    for (auto c : cols) out += (out.empty() ? "" : separator) + spec.columns[c].name;
    return out;
  };
  const auto quoted = [&](const std::vector<std::size_t>& cols) {
    std::string out;
    for (auto c : cols) out += (out.empty() ? "" : ", ") + tx.quote_name(spec.columns[c].name);
    return out;
  };
  if (key == KeyIndex::kBuild) {
    const auto pk = tx.quote_name(index_name(physical, "_pkey"));
    plan.build.push_back("CREATE UNIQUE INDEX " + pk + " ON " + table + " (" + quoted({0}) + ")");
    plan.attach.push_back("ALTER TABLE " + table + " ADD PRIMARY KEY USING INDEX " + pk);
  }
  for (auto c : spec.indexed) plan.build.push_back("CREATE INDEX ON " + table + " (" + quoted({c}) + ")");
  // The fold checks unique rules after every event; the constraint is what SQL readers see, and
  // its index answers load_unique. Deferred to commit: a flush writes rows in no particular order,
  // so a value released by one row and taken by another may clash between two of its statements.
  for (const auto& rule : spec.unique) {
    const auto name = tx.quote_name(index_name(physical, "_" + columns(rule, "_") + "_key"));
    plan.build.push_back("CREATE UNIQUE INDEX " + name + " ON " + table + " (" + quoted(rule) + ")");
    plan.attach.push_back("ALTER TABLE " + table + " ADD UNIQUE USING INDEX " + name + " DEFERRABLE INITIALLY DEFERRED");
  }
  return plan;
}

Row decode_row(const pqxx::row& r, const TableSpec& spec, pqxx::row::size_type offset) {
  Row row;
  row.values.reserve(spec.columns.size());
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    const auto& f = r[offset + static_cast<pqxx::row::size_type>(i)];
    if (f.is_null()) {
      row.values.emplace_back(std::monostate{});
      continue;
    }
    switch (spec.columns[i].type) {
      case ColumnType::kText: row.values.emplace_back(f.as<std::string>()); break;
      case ColumnType::kBool: row.values.emplace_back(f.as<bool>()); break;
      case ColumnType::kBigint: row.values.emplace_back(f.as<std::int64_t>()); break;
      default: row.values.push_back(value_from_text(spec.columns[i].type, std::string_view{f.c_str(), f.size()})); break;
    }
  }
  return row;
}

namespace {
std::string update_set(pqxx::transaction_base& tx, const TableSpec& spec);
}  // namespace

namespace {
// Rows as the one jsonb parameter jsonb_to_recordset reads, and that record's column types.
std::string rows_doc(const TableSpec& spec, const std::vector<const Row*>& rows) {
  auto doc = nlohmann::json::array();
  for (const Row* row : rows) {
    auto obj = nlohmann::json::object();
    for (std::size_t i = 0; i < spec.columns.size(); ++i) {
      obj[spec.columns[i].name] = record_value(spec.columns[i].type, row->values[i]);
    }
    doc.push_back(std::move(obj));
  }
  return doc.dump();
}
// "a text, b bigint" for the record jsonb_to_recordset reads: `columns` of spec, or all of them.
std::string record_type_of(pqxx::transaction_base& tx, const TableSpec& spec, std::vector<std::size_t> columns = {}) {
  if (columns.empty()) {
    for (std::size_t i = 0; i < spec.columns.size(); ++i) columns.push_back(i);
  }
  std::string record_type;
  for (auto c : columns) {
    record_type += (record_type.empty() ? "" : ", ") + tx.quote_name(spec.columns[c].name) + " " +
                   std::string{sql_type(spec.columns[c].type)};
  }
  return record_type;
}
// "t.a = x.a AND t.b = x.b": a stored row (t) equals a given record (x) in `columns`.
std::string equal_on(pqxx::transaction_base& tx, const TableSpec& spec, const std::vector<std::size_t>& columns) {
  std::string match;
  for (auto c : columns) {
    const auto name = tx.quote_name(spec.columns[c].name);
    match += (match.empty() ? "" : " AND ") + std::string{"t."} + name + " = x." + name;
  }
  return match;
}
}  // namespace

void upsert_rows(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                 const std::vector<const Row*>& rows) {
  if (rows.empty()) return;
  const auto cols = column_list(tx, spec);
  std::string sql = "INSERT INTO " + qualified(tx, physical) + " (" + cols + ") SELECT " + cols +
                    " FROM jsonb_to_recordset($1::jsonb) AS x(" + record_type_of(tx, spec) + ") ON CONFLICT (" +
                    tx.quote_name(spec.columns[0].name) + ") DO " + update_set(tx, spec);
  exec_prepared_once(tx, sql, "", rows_doc(spec, rows));
}

std::optional<StoredClash> upsert_rows_unless_held(pqxx::transaction_base& tx, const TableSpec& spec,
                                                   const std::string& physical, const std::vector<const Row*>& rows,
                                                   const std::vector<std::string>& written) {
  if (rows.empty()) return std::nullopt;
  const auto cols = column_list(tx, spec);
  const auto key = tx.quote_name(spec.columns[0].name);
  std::string clashes;
  for (std::size_t r = 0; r < spec.unique.size(); ++r) {
    clashes += (clashes.empty() ? "" : " UNION ALL ") + std::string{"SELECT "} + std::to_string(r) + " AS rule, t." + key +
               " AS existing, x." + key + " AS key FROM x CROSS JOIN LATERAL (SELECT t." + key + " FROM " +
               qualified(tx, physical) + " t WHERE " + equal_on(tx, spec, spec.unique[r]) +
               " OFFSET 0) t WHERE t." + key + " <> ALL (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))";
  }
  // One statement sees the table once (an index probe per value, OFFSET 0 as in load_unique): a
  // holder outside what this flush writes or deletes makes it write nothing and name the holder.
  const std::string sql = "WITH x AS MATERIALIZED (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(" +
                          record_type_of(tx, spec) + ")), clash AS (SELECT * FROM (" + clashes +
                          ") c LIMIT 1), ins AS (INSERT INTO " + qualified(tx, physical) + " (" + cols + ") SELECT " +
                          cols + " FROM x WHERE NOT EXISTS (SELECT 1 FROM clash) ON CONFLICT (" + key + ") DO " +
                          update_set(tx, spec) + ") SELECT rule, existing, key FROM clash";
  const auto r = exec_prepared_once(tx, sql, "", rows_doc(spec, rows), nlohmann::json(written).dump());
  if (r.empty()) return std::nullopt;
  return StoredClash{r[0][0].as<std::size_t>(), r[0][1].as<std::string>(), r[0][2].as<std::string>()};
}

void append_copy_value(std::string& line, const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    append_copy_field(line, *s);
  } else if (const auto* b = std::get_if<bool>(&v)) {
    line += *b ? 't' : 'f';
  } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
    line += std::to_string(*n);
  } else if (auto text = value_to_text(v)) {
    line += *text;
  } else {
    line += "\\N";
  }
}

void copy_rows(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
               const std::vector<const Row*>& rows, TableHome home) {
  if (rows.empty()) return;
  std::vector<std::string> columns;
  for (const auto& c : spec.columns) columns.push_back(tx.quote_name(c.name));
  CopyWriter out{tx, home == TableHome::kProjectionSchema ? qualified(tx, physical) : tx.quote_name(physical), columns};
  std::string line;
  for (const Row* row : rows) {
    line.clear();
    for (std::size_t i = 0; i < row->values.size(); ++i) {
      if (i) line += '\t';
      append_copy_value(line, row->values[i]);
    }
    out.write_line(line);
  }
  out.complete();
}

namespace {
// Above this many rows an upsert goes through COPY into a staging table: one jsonb parameter is
// cheaper for the few rows of a live batch, COPY for a rebuild checkpoint (measured: 25k rows
// via jsonb_to_recordset took ~400 ms a checkpoint on the 1M-event benchmark).
constexpr std::size_t kStagedUpsertRows = 2000;

std::string update_set(pqxx::transaction_base& tx, const TableSpec& spec) {
  std::string updates;
  for (std::size_t i = 1; i < spec.columns.size(); ++i) {
    const auto col = tx.quote_name(spec.columns[i].name);
    if (i > 1) updates += ", ";
    updates += col + " = EXCLUDED." + col;
  }
  return updates.empty() ? std::string{"NOTHING"} : "UPDATE SET " + updates;
}
}  // namespace

void staged_upsert(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical,
                   const std::vector<const Row*>& rows) {
  const std::string stage = "reproj_stage_" + physical;
  tx.exec0("CREATE TEMP TABLE " + tx.quote_name(stage) + " (LIKE " + qualified(tx, physical) + ") ON COMMIT DROP");
  copy_rows(tx, spec, stage, rows, TableHome::kTemporary);
  const auto cols = column_list(tx, spec);
  tx.exec0("INSERT INTO " + qualified(tx, physical) + " (" + cols + ") SELECT " + cols + " FROM " +
           tx.quote_name(stage) + " ON CONFLICT (" + tx.quote_name(spec.columns[0].name) + ") DO " +
           update_set(tx, spec));
  tx.exec0("DROP TABLE " + tx.quote_name(stage));
}

std::size_t flush(pqxx::transaction_base& tx, const Projection& projection, RowSet& set,
                  const std::vector<std::string>& physical, NewRows new_rows,
                  std::optional<std::int64_t> check_unique_at) {
  std::size_t written = 0;
  const auto& specs = projection.tables();
  for (std::size_t t = 0; t < specs.size(); ++t) {
    std::vector<const Row*> fresh, existing;
    set.for_each_dirty(t, [&](const Row& row, bool persisted) {
      (new_rows == NewRows::kCopy && !persisted ? fresh : existing).push_back(&row);
    });
    std::vector<std::string> erased;
    set.for_each_erased(t, [&](const std::string& key) { erased.push_back(key); });
    if (!erased.empty()) {
      exec_prepared_once(tx, "DELETE FROM " + qualified(tx, physical[t]) + " WHERE " +
                                 tx.quote_name(specs[t].columns[0].name) +
                                 " = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
                         "", nlohmann::json(erased).dump());
    }
    copy_rows(tx, specs[t], physical[t], fresh);
    if (check_unique_at && !specs[t].unique.empty()) {
      std::vector<std::string> keys = erased;  // what this flush writes or deletes
      for (const Row* row : existing) keys.push_back(row->key());
      if (auto held = upsert_rows_unless_held(tx, specs[t], physical[t], existing, keys)) {
        UniqueClash clash{.table = t, .rule = held->rule, .values = {}, .key = held->key, .position = *check_unique_at,
                          .existing_key = held->existing_key, .existing_position = 0};
        for (const Row* row : existing) {
          if (row->key() != held->key) continue;
          for (auto c : specs[t].unique[held->rule]) clash.values.push_back(row->values[c]);
        }
        throw violation(projection, clash);
      }
    } else if (existing.size() > kStagedUpsertRows) {
      staged_upsert(tx, specs[t], physical[t], existing);
    } else {
      upsert_rows(tx, specs[t], physical[t], existing);
    }
    written += fresh.size() + existing.size() + erased.size();
  }
  append_versions(tx, projection, physical, set.take_versions());  // with the rows they describe
  set.mark_flushed();
  return written;
}

std::vector<Row> SqlRowSource::load(std::size_t table, const std::vector<std::string>& keys) {
  return select_rows(tx_, projection_.tables()[table], physical_[table], 0, keys);
}

std::vector<Row> SqlRowSource::load_unique(std::size_t table, const std::vector<std::size_t>& columns,
                                           const std::vector<std::vector<Value>>& tuples) {
  if (tuples.empty()) return {};
  const TableSpec& spec = projection_.tables()[table];
  auto doc = nlohmann::json::array();
  for (const auto& tuple : tuples) {
    auto obj = nlohmann::json::object();
    for (std::size_t i = 0; i < columns.size(); ++i) {
      obj[spec.columns[columns[i]].name] = record_value(spec.columns[columns[i]].type, tuple.at(i));
    }
    doc.push_back(std::move(obj));
  }
  // One index probe per tuple, whatever the planner would guess for a set-returning function (100
  // rows) and a table whose statistics predate its growth: OFFSET 0 keeps the LATERAL from being
  // flattened into a join, which a generic plan made a hash join over the whole table (6 ms a
  // group commit at 60k rows, measured).
  std::string cols;
  for (const auto& c : spec.columns) cols += (cols.empty() ? "" : ", ") + std::string{"t."} + tx_.quote_name(c.name);
  const std::string sql = "SELECT y.* FROM jsonb_to_recordset($1::jsonb) AS x(" + record_type_of(tx_, spec, columns) +
                          ") CROSS JOIN LATERAL (SELECT " + cols + " FROM " + qualified(tx_, physical_[table]) +
                          " t WHERE " + equal_on(tx_, spec, columns) + " OFFSET 0) y";
  std::vector<Row> out;
  for (const auto& r : exec_prepared_once(tx_, sql, shape_of(spec), doc.dump())) out.push_back(decode_row(r, spec));
  return out;
}

std::vector<Row> SqlRowSource::load_where(std::size_t table, std::size_t column,
                                          const std::vector<std::string>& values) {
  return select_rows(tx_, projection_.tables()[table], physical_[table], column, values);
}

}  // namespace reproj::engine::detail
