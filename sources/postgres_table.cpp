#include "sources/postgres_table.hpp"

#include <map>
#include <type_traits>

#include <pqxx/pqxx>

#include "engine/errors.hpp"

namespace reproj::sources {

namespace {

bool identifier(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return !std::isdigit(static_cast<unsigned char>(s[0]));
}

bool table_name(const std::string& s) {
  const auto dot = s.find('.');
  if (dot == std::string::npos) return identifier(s);
  return identifier(s.substr(0, dot)) && identifier(s.substr(dot + 1));
}

class PostgresTableReader final : public SourceReader {
 public:
  PostgresTableReader(PostgresTableConfig config, std::string url, std::set<std::string> columns, bool whole_row)
      : config_(std::move(config)), url_(std::move(url)), columns_(std::move(columns)), whole_row_(whole_row) {}

  void connect() override {
    if (conn_ && conn_->is_open()) return;
    conn_.reset();
    try {
      conn_ = std::make_unique<pqxx::connection>(url_);
    } catch (const std::exception& e) {
      throw engine::DatabaseUnavailable(std::string{"cannot connect to the source database: "} + e.what());
    }
    check();
  }

  std::int64_t tail() override {
    return guarded([&] {
      pqxx::nontransaction tx{*conn_};
      return tx.exec("SELECT coalesce(max(" + pos_ + "), 0)::bigint FROM " + table_ + " t")[0][0].as<std::int64_t>();
    });
  }

  nlohmann::json end_checkpoint() override {
    return guarded([&] {
      pqxx::nontransaction tx{*conn_};
      if (config_.xid.empty()) return nlohmann::json{{"position", tail_in(tx)}};
      // Rows of transactions that end later sort at or after the oldest one still running.
      const auto xmin = tx.exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")[0][0].as<std::string>();
      return nlohmann::json{{"xid", xmin}, {"position", -1}};
    });
  }

  std::vector<SourceRecord> read(const nlohmann::json& checkpoint, std::size_t limit) override {
    return guarded([&] {
      pqxx::nontransaction tx{*conn_};
      const auto n = static_cast<std::int64_t>(limit);
      pqxx::result rows;
      if (config_.xid.empty()) {
        const std::int64_t after = checkpoint.is_null() ? std::numeric_limits<std::int64_t>::min() : checkpoint["position"].get<std::int64_t>();
        rows = prepared(tx, "reproj_source_read_unsafe",
                        "SELECT NULL::text, " + pos_ + "::bigint, " + values_ + " FROM " + table_ + " t WHERE " +
                            pos_ + " > $1 ORDER BY " + pos_ + " LIMIT $2",
                        after, n);
      } else {
        // Below the oldest running transaction: committed, and nothing still to commit sorts before.
        const std::string safe = xid_ + " < " + xmin_;
        const std::string select = "SELECT " + xid_ + "::text, " + pos_ + "::bigint, " + values_ + " FROM " + table_ + " t WHERE ";
        const std::string order = " ORDER BY " + xid_ + ", " + pos_ + " LIMIT ";
        if (checkpoint.is_null()) {
          rows = prepared(tx, "reproj_source_read_first", select + safe + order + "$1", n);
        } else {
          rows = prepared(tx, "reproj_source_read_after",
                          select + "(" + xid_ + ", " + pos_ + ") > ($1::" + xid_type_ + ", $2::bigint) AND " + safe + order + "$3",
                          checkpoint["xid"].get<std::string>(), checkpoint["position"].get<std::int64_t>(), n);
        }
      }
      std::vector<SourceRecord> out;
      out.reserve(rows.size());
      for (const auto& r : rows) {
        SourceRecord rec;
        rec.position = r[1].as<std::int64_t>();
        rec.coordinate = std::to_string(rec.position);
        rec.checkpoint = r[0].is_null() ? nlohmann::json{{"position", rec.position}}
                                        : nlohmann::json{{"xid", r[0].as<std::string>()}, {"position", rec.position}};
        if (whole_row_) {
          rec.record = nlohmann::json::parse(r[2].c_str());
        } else {
          rec.record = nlohmann::json::object();
          for (std::size_t i = 0; i < value_columns_.size(); ++i) {
            const auto& field = r[static_cast<pqxx::row::size_type>(i + 2)];
            const auto& [name, as_text] = value_columns_[i];
            if (field.is_null()) {
              rec.record[name] = nullptr;
            } else if (as_text) {
              rec.record[name] = std::string{field.c_str(), field.size()};
            } else {
              rec.record[name] = nlohmann::json::parse(field.c_str(), field.c_str() + field.size());
            }
          }
        }
        out.push_back(std::move(rec));
      }
      return out;
    });
  }

  bool committed_after(const nlohmann::json& checkpoint) override {
    if (config_.xid.empty()) return false;
    return guarded([&] {
      pqxx::nontransaction tx{*conn_};
      if (checkpoint.is_null()) return !tx.exec("SELECT 1 FROM " + table_ + " t LIMIT 1").empty();
      // A row or none, ordered like the index, and not inside EXISTS: the planner drops an EXISTS
      // subquery's ORDER BY and LIMIT and then chose a scan of the whole table, which reads every
      // row when none matches -- the usual case, on every sync read (8.4 ms at 100,000 rows, 0.07
      // ms by the index).
      return !prepared(tx, "reproj_source_committed_after",
                       "SELECT 1 FROM " + table_ + " t WHERE (" + xid_ + ", " + pos_ + ") > ($1::" + xid_type_ +
                           ", $2::bigint) ORDER BY " + xid_ + ", " + pos_ + " LIMIT 1",
                       checkpoint["xid"].get<std::string>(), checkpoint["position"].get<std::int64_t>())
                  .empty();
    });
  }

  const nlohmann::json* resolve(const SourceRecord& record, std::string_view root, std::string_view name) const override {
    if (root == "record") return &record.record;
    auto it = record.record.find(std::string{name});
    return it == record.record.end() || it->is_null() ? nullptr : &*it;
  }

  std::int64_t position_of(const nlohmann::json& checkpoint) const override {
    if (!checkpoint.is_object() || !checkpoint.contains("position")) return 0;
    return std::max<std::int64_t>(0, checkpoint["position"].get<std::int64_t>());
  }

 private:
  // Prepared on this reader's own connection (re-prepared after a reconnect; the same definition
  // again is a no-op): a sync read runs these on every strong read, where planning each time cost
  // more than running them.
  template <class... Args>
  pqxx::result prepared(pqxx::transaction_base& tx, const std::string& name, const std::string& sql, Args&&... args) {
    tx.conn().prepare(name, sql);
    return tx.exec_prepared(name, std::forward<Args>(args)...);
  }

  template <class Work>
  std::invoke_result_t<Work&> guarded(Work work) {
    connect();
    try {
      return work();
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      throw engine::DatabaseUnavailable(std::string{"the source database connection broke: "} + e.what());
    }
  }

  std::int64_t tail_in(pqxx::transaction_base& tx) {
    return tx.exec("SELECT coalesce(max(" + pos_ + "), 0)::bigint FROM " + table_ + " t")[0][0].as<std::int64_t>();
  }

  // Resolves the table and its columns; what does not fit is an InvalidSource naming it.
  void check() {
    std::vector<Problem> problems;
    try {
      pqxx::nontransaction tx{*conn_};
      auto rel = tx.exec_params("SELECT to_regclass($1)::text", config_.table);
      if (rel[0][0].is_null()) {
        problems.push_back({"/table", "no table " + config_.table + " in the source database"});
        throw engine::InvalidSource(problems);
      }
      table_ = rel[0][0].as<std::string>();
      std::map<std::string, std::string> types;
      for (const auto& r : tx.exec_params("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                          "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
                                          config_.table)) {
        types[r[0].as<std::string>()] = r[1].as<std::string>();
      }
      auto integer = [](const std::string& t) { return t == "bigint" || t == "integer" || t == "smallint" || t.starts_with("numeric"); };
      if (!types.count(config_.position)) {
        problems.push_back({"/position", "the table has no column " + config_.position});
      } else if (!integer(types[config_.position])) {
        problems.push_back({"/position", "column " + config_.position + " is " + types[config_.position] + ", not an integer"});
      }
      if (!config_.xid.empty()) {
        if (!types.count(config_.xid)) {
          problems.push_back({"/order/xid", "the table has no column " + config_.xid +
                                                "; add one with `reproj source prepare`, or name \"order\": \"unsafe_position\""});
        } else if (types[config_.xid] == "xid8") {
          xid_type_ = "xid8";
          xmin_ = "pg_snapshot_xmin(pg_current_snapshot())";
        } else if (types[config_.xid] == "bigint") {
          xid_type_ = "bigint";
          xmin_ = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";
        } else {
          problems.push_back({"/order/xid", "column " + config_.xid + " is " + types[config_.xid] +
                                                "; a transaction id column is xid8 (pg_current_xact_id()) or bigint"});
        }
      }
      for (const auto& c : columns_) {
        if (!types.count(c)) problems.push_back({"/mapping", "$col." + c + ": the table has no column " + c});
      }
      pos_ = "t." + tx.quote_name(config_.position);
      if (!config_.xid.empty()) xid_ = "t." + tx.quote_name(config_.xid);
      // Only the columns the mapping reads, each as row_to_json would give it (text as is, the
      // rest through to_json): the whole row as JSON cost the source database ~2 us a row and
      // reproj as much again to parse (BENCH.md, "Sources").
      values_.clear();
      value_columns_.clear();
      if (whole_row_) {
        values_ = "row_to_json(t)::text";
      } else {
        for (const auto& c : columns_) {
          if (!types.count(c)) continue;
          const auto& type = types[c];
          const bool as_text = type == "text" || type.starts_with("character varying");
          const auto column = "t." + tx.quote_name(c);
          values_ += (values_.empty() ? "" : ", ") +
                     (as_text ? column : type == "json" || type == "jsonb" ? column + "::text" : "to_json(" + column + ")::text");
          value_columns_.emplace_back(c, as_text);
        }
        if (values_.empty()) values_ = "NULL::text";
      }
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      throw engine::DatabaseUnavailable(std::string{"the source database connection broke: "} + e.what());
    }
    if (!problems.empty()) {
      conn_.reset();
      throw engine::InvalidSource(problems);
    }
  }

  const PostgresTableConfig config_;
  const std::string url_;
  const std::set<std::string> columns_;
  const bool whole_row_;  // the mapping reads $record
  std::unique_ptr<pqxx::connection> conn_;
  std::string values_;    // the select list of the record's values, set by check()
  std::vector<std::pair<std::string, bool>> value_columns_;  // its columns: name, read as text (else JSON)
  std::string table_, pos_, xid_, xid_type_, xmin_;  // SQL text, set by check()
};

}  // namespace

std::vector<ReferenceRoot> postgres_table_references() {
  return {{"col", ReferenceRoot::Form::kNamed}, {"record", ReferenceRoot::Form::kWhole}};
}

std::optional<PostgresTableConfig> parse_postgres_table(const nlohmann::json& doc, std::vector<Problem>& problems) {
  const auto before = problems.size();
  PostgresTableConfig c;
  auto text = [&](const char* key) -> std::string {
    auto it = doc.find(key);
    if (it == doc.end()) {
      problems.push_back({std::string{"/"} + key, "missing"});
      return {};
    }
    if (!it->is_string()) {
      problems.push_back({std::string{"/"} + key, "must be a string"});
      return {};
    }
    return it->get<std::string>();
  };
  c.table = text("table");
  if (!c.table.empty() && !table_name(c.table)) {
    problems.push_back({"/table", "\"" + c.table + "\" is not a table name (NAME or SCHEMA.NAME, letters, digits, _)"});
  }
  c.position = text("position");
  if (!c.position.empty() && !identifier(c.position)) problems.push_back({"/position", "not a column name"});
  auto order = doc.find("order");
  const std::string choices =
      "name the transaction id column, {\"xid\": COLUMN} (run `reproj source prepare NAME` to add one), or "
      "\"unsafe_position\", which can skip rows under concurrent writers";
  if (order == doc.end()) {
    problems.push_back({"/order", "missing: reading by position alone can skip rows that commit late; " + choices});
  } else if (order->is_string() && *order == "unsafe_position") {
    // explicitly asked for
  } else if (order->is_object() && order->size() == 1 && order->contains("xid") && (*order)["xid"].is_string()) {
    c.xid = (*order)["xid"].get<std::string>();
    if (!identifier(c.xid)) problems.push_back({"/order/xid", "not a column name"});
  } else {
    problems.push_back({"/order", choices});
  }
  if (problems.size() != before) return std::nullopt;
  return c;
}

std::unique_ptr<SourceReader> postgres_table_reader(PostgresTableConfig config, std::string url,
                                                    std::set<std::string> columns, bool whole_row) {
  return std::make_unique<PostgresTableReader>(std::move(config), std::move(url), std::move(columns), whole_row);
}

std::vector<std::string> prepare_statements(const PostgresTableConfig& c) {
  const auto column = c.xid.empty() ? std::string{"reproj_xid"} : c.xid;
  const auto bare = c.table.substr(c.table.find('.') == std::string::npos ? 0 : c.table.find('.') + 1);
  return {"ALTER TABLE " + c.table + " ADD COLUMN " + column + " xid8 NOT NULL DEFAULT pg_current_xact_id()",
          "CREATE INDEX " + bare + "_" + column + "_order ON " + c.table + " (" + column + ", " + c.position + ")"};
}

void prepare_table(const PostgresTableConfig& config, const std::string& url) {
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    throw engine::DatabaseUnavailable(std::string{"cannot connect to the source database: "} + e.what());
  }
  pqxx::work tx{*conn};
  const auto column = config.xid.empty() ? std::string{"reproj_xid"} : config.xid;
  if (!tx.exec_params("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
                      config.table, column)
           .empty()) {
    throw engine::InvalidInput(config.table + " already has a column " + column);
  }
  if (tx.exec_params("SELECT to_regclass($1)", config.table)[0][0].is_null()) {
    throw engine::InvalidInput("no table " + config.table + " in the source database");
  }
  for (const auto& sql : prepare_statements(config)) tx.exec0(sql);
  tx.commit();
}

}  // namespace reproj::sources
