// The janitor: drops projection tables nothing needs (left by a crash, a failed start, a cancel
// or retention), and never a table of a projection or version this process does not know.
#include <algorithm>
#include <set>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/rebuild_record.hpp"
#include "engine/detail/swap.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/rebuild.hpp"

namespace reproj::engine {

std::vector<std::string> RebuildManager::drop_orphans() {
  const auto& registry = live_.registry();
  auto orphans = pool_.run([&](pqxx::connection& conn) {
    // One snapshot for both lists: a rebuild starting meanwhile commits its record and its shadow
    // together, so it is either wholly visible here or its tables are not listed.
    pqxx::transaction<pqxx::repeatable_read> tx{conn};
    std::set<std::string> keep;
    std::set<std::string> unknown_projections;
    auto keep_all = [&](const std::string& name, int version, detail::TableKind kind, std::int64_t rebuild_id) {
      const auto versions = registry.versions(name);  // one vector: its begin and end belong together
      if (std::find(versions.begin(), versions.end(), version) == versions.end()) {
        unknown_projections.insert(name);  // not ours to judge: keep everything of it
        return;
      }
      for (const auto& t : detail::table_names(registry.get(name, version), kind, rebuild_id)) keep.insert(t);
    };
    for (const auto& r : tx.exec("SELECT name, active_version FROM reproj.projections")) {
      keep_all(r["name"].as<std::string>(), r["active_version"].as<int>(), detail::TableKind::kLive, 0);
    }
    for (const auto& r : tx.exec(std::string{"SELECT id, projection, version FROM reproj.rebuilds WHERE state IN "} +
                                 detail::kRunningStates)) {
      keep_all(r["projection"].as<std::string>(), r["version"].as<int>(), detail::TableKind::kShadow,
               r["id"].as<std::int64_t>());
    }
    for (const auto& r :
         tx.exec("SELECT id, projection, retired_version FROM reproj.rebuilds WHERE retired_version IS NOT NULL")) {
      keep_all(r["projection"].as<std::string>(), r["retired_version"].as<int>(), detail::TableKind::kRetired,
               r["id"].as<std::int64_t>());
    }
    std::vector<std::string> out;
    for (const auto& r : tx.exec_params("SELECT tablename FROM pg_tables WHERE schemaname = $1", detail::kDataSchema)) {
      auto name = r["tablename"].as<std::string>();
      const auto parsed = detail::parse_table_name(name);
      // Not a name reproj makes (a user's table), or a projection this process does not know.
      if (!parsed || unknown_projections.count(parsed->projection) || !registry.has(parsed->projection)) continue;
      if (!keep.count(name)) out.push_back(name);
    }
    tx.commit();
    return out;
  });
  std::vector<std::string> dropped;
  for (const auto& t : orphans) {
    try {
      pool_.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        tx.exec0("SET LOCAL lock_timeout = '" + std::to_string(options_.lock_timeout.count()) + "ms'");
        detail::drop_tables(tx, {t});
        tx.commit();
      });
      dropped.push_back(t);
      spdlog::info("dropped orphan table {}.{}", detail::kDataSchema, t);
    } catch (const pqxx::sql_error& e) {  // in use right now (a runner finishing): next time
      spdlog::debug("orphan {} not dropped yet: {}", t, e.what());
    }
  }
  return dropped;
}

}  // namespace reproj::engine
