#include "engine/migrations.hpp"

#include <pqxx/pqxx>

#include "engine/detail/connect.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

namespace {
constexpr std::int64_t kMigrationLockKey = 7239000;
}

MigrationReport migrate(const std::string& database_url, const std::vector<MigrationSource>& migrations) {
  auto conn = detail::connect(database_url);
  MigrationReport report;
  return detail::translate_errors([&] {
    // Session-level: held across the per-file transactions below, released on every exit path
    // (a crashed runner's session ends, and its lock with it).
    detail::exec_session(*conn, "SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
    struct Unlock {
      pqxx::connection& c;
      ~Unlock() {
        try {
          detail::exec_session(c, "SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
        } catch (...) {  // the session is gone, and its lock with it
        }
      }
    } unlock{*conn};
    detail::exec_session(*conn,
                         "CREATE SCHEMA IF NOT EXISTS reproj;"
                         "CREATE TABLE IF NOT EXISTS reproj.schema_migrations ("
                         "  version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                         "  applied_at timestamptz NOT NULL DEFAULT now())");

    for (const auto& m : migrations) {
      pqxx::work tx{*conn};
      auto row = tx.exec_params("SELECT checksum = md5($2) FROM reproj.schema_migrations WHERE version = $1",
                                m.version, m.sql);
      if (!row.empty()) {
        if (!row[0][0].as<bool>()) throw MigrationChecksumMismatch(m.name);
      } else {
        tx.exec(m.sql);
        tx.exec_params("INSERT INTO reproj.schema_migrations (version, name, checksum) VALUES ($1, $2, md5($3))",
                       m.version, m.name, m.sql);
        report.applied.push_back(m.name);
      }
      tx.commit();
      report.latest_version = m.version;
    }
    return report;
  });
}

}  // namespace reproj::engine
