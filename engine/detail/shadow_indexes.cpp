#include "engine/detail/shadow_indexes.hpp"

#include <atomic>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "engine/detail/connect.hpp"
#include "engine/detail/table_sql.hpp"

namespace reproj::engine::detail {

namespace {

// PostgreSQL truncates identifiers at 63 bytes: a long table name keeps its index names distinct
// (from each other and from another copy's) by a hash of the whole name.
std::string index_name(const std::string& physical, const std::string& suffix) {
  constexpr std::size_t kMax = 63;
  if (physical.size() + suffix.size() <= kMax) return physical + suffix;
  char hash[10];
  std::snprintf(hash, sizeof hash, "_%08zx", std::hash<std::string>{}(physical) & 0xffffffffu);
  return physical.substr(0, kMax - suffix.size() - 9) + hash + suffix;
}

std::string columns_of(pqxx::transaction_base& tx, const TableSpec& spec, const std::vector<std::size_t>& columns) {
  std::string out;
  for (auto c : columns) out += (out.empty() ? "" : ", ") + tx.quote_name(spec.columns[c].name);
  return out;
}

}  // namespace

IndexPlan index_plan(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical) {
  IndexPlan plan;
  const auto table = qualified(tx, physical);
  const auto pk = index_name(physical, "_pkey");
  plan.build.push_back("CREATE UNIQUE INDEX " + tx.quote_name(pk) + " ON " + table + " (" + columns_of(tx, spec, {0}) +
                       ")");
  plan.attach.push_back("ALTER TABLE " + table + " ADD PRIMARY KEY USING INDEX " + tx.quote_name(pk));
  for (auto c : spec.indexed) plan.build.push_back("CREATE INDEX ON " + table + " (" + columns_of(tx, spec, {c}) + ")");
  for (std::size_t r = 0; r < spec.unique.size(); ++r) {
    const auto name = index_name(physical, "_key" + std::to_string(r));
    plan.build.push_back("CREATE UNIQUE INDEX " + tx.quote_name(name) + " ON " + table + " (" +
                         columns_of(tx, spec, spec.unique[r]) + ")");
    plan.attach.push_back("ALTER TABLE " + table + " ADD UNIQUE USING INDEX " + tx.quote_name(name) +
                          " DEFERRABLE INITIALLY DEFERRED");
  }
  return plan;
}

void drop_indexes(pqxx::transaction_base& tx, const std::string& physical) {
  const auto table = qualified(tx, physical);
  for (const auto& r : tx.exec_params("SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype "
                                      "IN ('p', 'u')",
                                      table)) {
    tx.exec0("ALTER TABLE " + table + " DROP CONSTRAINT " + tx.quote_name(r[0].as<std::string>()));
  }
  for (const auto& r : tx.exec_params("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = $1::regclass",
                                      table)) {
    tx.exec0("DROP INDEX " + r[0].as<std::string>());  // regclass text: already qualified and quoted as needed
  }
}

void build_side_by_side(const std::string& database_url, const std::vector<std::string>& statements, int sessions,
                        int workers) {
  std::atomic<std::size_t> next{0};
  std::mutex failed_mutex;
  std::exception_ptr failed;
  auto builder = [&] {
    try {
      auto conn = connect(database_url);
      exec_session(*conn, "SET application_name = 'reproj index build'");
      exec_session(*conn, "SET max_parallel_maintenance_workers = " + std::to_string(workers));
      for (std::size_t i = next++; i < statements.size(); i = next++) {
        {
          std::lock_guard lock{failed_mutex};
          if (failed) return;
        }
        exec_session(*conn, statements[i]);
      }
    } catch (...) {
      std::lock_guard lock{failed_mutex};
      if (!failed) failed = std::current_exception();
    }
  };
  const auto n = std::min<std::size_t>(static_cast<std::size_t>(std::max(sessions, 1)), statements.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < n; ++i) threads.emplace_back(builder);
  if (n > 0) builder();
  for (auto& t : threads) t.join();
  if (failed) std::rethrow_exception(failed);
}

}  // namespace reproj::engine::detail
