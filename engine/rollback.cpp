// Rollback and retention: swapping back to the retained version, and how many are kept.
#include <limits>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/projection_record.hpp"
#include "engine/detail/rebuild_record.hpp"
#include "engine/detail/swap.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/detail/apply_range.hpp"
#include "engine/event_store.hpp"
#include "engine/rebuild.hpp"

namespace reproj::engine {

void RebuildManager::retire_old(const std::string& projection) {
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    detail::trim_retired(tx, projection, options_.retain_retired);
    tx.commit();
  });
  drop_orphans();
}

RebuildInfo RebuildManager::rollback(const std::string& projection, DependentViews views) {
  if (!live_.registry().has(projection)) throw UnknownProjection("unknown projection '" + projection + "'");
  RebuildInfo out;
  detail::retry_on_lock_timeout(options_.swap_budget, "the rollback of " + projection, [&](std::int64_t) {
    out = pool_.run([&](pqxx::connection& conn) {
      pqxx::work tx{conn};
      detail::set_lock_timeout(tx, options_.lock_timeout);
      const auto meta = live_.lock_metadata(tx, projection);
      auto rec = tx.exec_params(detail::select_rebuilds() +
                                "WHERE projection = $1 AND retired_version IS NOT NULL ORDER BY id DESC LIMIT 1",
                                projection);
      if (rec.empty()) throw StateConflict("projection '" + projection + "' has no retained version to roll back to");
      auto info = detail::rebuild_from_row(rec[0]);
      const Projection& current = live_.registry().get(projection, meta.active_version);
      const Projection& retired = live_.registry().get(projection, *info.retired_version);
      const auto retired_tables = detail::table_names(retired, detail::TableKind::kRetired, info.id);
      detail::check_dependents(tx, current, retired, views);
      // Catch the retired version up under the same lock the swap takes, then swap names.
      const std::int64_t tail = log::safe_tail(tx);
      auto applied = detail::apply_range(tx, retired, retired_tables, rec[0]["retired_position"].as<std::int64_t>(),
                                         tail, std::numeric_limits<std::size_t>::max(), live_.options().chunk_events,
                                         meta.poison_policy);
      detail::record_quarantine(tx, projection, retired.version(), applied.skipped, std::nullopt);
      const auto parked = detail::table_names(retired, detail::TableKind::kParked, info.id);
      detail::rename_tables(tx, retired_tables, parked);  // frees the retired names for `current`
      detail::swap_tables(tx, current, detail::table_names(current, detail::TableKind::kRetired, info.id), retired,
                          parked, views);
      detail::make_live(tx, projection, *info.retired_version, tail);
      detail::record_rollback(tx, info.id, meta.active_version, meta.watermark);
      auto after = detail::load_rebuild(tx, info.id);
      if (options_.fault) options_.fault("rollback", 1);
      tx.commit();
      spdlog::info("{} rolled back to version {} at position {}", projection, *info.retired_version, tail);
      return *after;
    });
  });
  return out;
}

}  // namespace reproj::engine
