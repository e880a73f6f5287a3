#include "engine/detail/shadow_indexes.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "engine/detail/connect.hpp"
#include "engine/detail/table_sql.hpp"

namespace reproj::engine::detail {

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

std::vector<std::string> index_session_settings(const IndexBuild& how) {
  // PostgreSQL drops parallel workers until each participant has 32 MB.
  const int memory = how.workers > 0 ? std::max(how.memory_mib, 32 * (how.workers + 1)) : how.memory_mib;
  return {"SET max_parallel_maintenance_workers = " + std::to_string(how.workers),
          "SET maintenance_work_mem = '" + std::to_string(memory) + "MB'"};
}

void build_side_by_side(const std::string& database_url, const std::vector<std::string>& statements,
                        const IndexBuild& how) {
  std::atomic<std::size_t> next{0};
  std::mutex failed_mutex;
  std::exception_ptr failed;
  auto builder = [&] {
    try {
      auto conn = connect(database_url);
      exec_session(*conn, "SET application_name = 'reproj index build'");
      for (const auto& sql : index_session_settings(how)) exec_session(*conn, sql);
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
  const auto n = std::min<std::size_t>(static_cast<std::size_t>(std::max(how.sessions, 1)), statements.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < n; ++i) threads.emplace_back(builder);
  if (n > 0) builder();
  for (auto& t : threads) t.join();
  if (failed) std::rethrow_exception(failed);
}

}  // namespace reproj::engine::detail
