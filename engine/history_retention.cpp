#include "engine/history_retention.hpp"

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/history_sql.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/event_store.hpp"
#include "engine/registry.hpp"

namespace reproj::engine {

namespace {

// The oldest position a read may ask for under `h`, or 0 (keep all).
std::int64_t horizon_for(pqxx::transaction_base& tx, const HistorySpec& h, std::int64_t recorded) {
  std::int64_t horizon = 0;
  const auto tail = tx.exec1(log::kSafeTailSql)[0].as<std::int64_t>();
  if (h.retain_events > 0) horizon = std::max<std::int64_t>(horizon, tail - h.retain_events);
  if (h.retain_days > 0) {
    // The first event recorded within the window, searched forward from the last horizon: each
    // event is looked at about once over all the janitor's passes.
    const auto r = tx.exec_params(
        "SELECT global_position FROM reproj.events WHERE global_position > $1 AND recorded_at >= now() - "
        "make_interval(days => $2::int) ORDER BY global_position LIMIT 1",
        recorded, h.retain_days);
    horizon = std::max(horizon, r.empty() ? tail : r[0][0].as<std::int64_t>());
  }
  return std::max(horizon, recorded);
}

}  // namespace

Pruned prune_history(ConnectionPool& pool, const ProjectionRegistry& registry, const std::string& name,
                     std::int64_t batch) {
  Pruned out;
  const auto active = pool.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    const auto r = tx.exec_params("SELECT active_version, building FROM reproj.projections WHERE name = $1", name);
    return r.empty() || r[0][1].as<bool>() ? 0 : r[0][0].as<int>();
  });
  if (active == 0) return out;
  const Projection& p = registry.get(name, active);
  const auto& served = served_table(p);
  if (!served.history || (served.history->retain_events == 0 && served.history->retain_days == 0)) return out;

  out.horizon = pool.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    const auto recorded = tx.exec_params("SELECT horizon FROM reproj.history_horizons WHERE projection = $1 AND "
                                         "version = $2 FOR UPDATE",
                                         name, active);
    const std::int64_t before = recorded.empty() ? 0 : recorded[0][0].as<std::int64_t>();
    const std::int64_t horizon = horizon_for(tx, *served.history, before);
    tx.exec_params("INSERT INTO reproj.history_horizons (projection, version, horizon) VALUES ($1, $2, $3) "
                   "ON CONFLICT (projection, version) DO UPDATE SET horizon = greatest(history_horizons.horizon, $3)",
                   name, active, horizon);
    tx.commit();
    return horizon;
  });
  if (out.horizon == 0) return out;

  const auto names = detail::table_names(p);
  for (std::size_t i = 0; i < p.tables().size(); ++i) {
    const auto h = detail::history_of(p, i);
    if (!h) continue;
    const std::string key = detail::quote_ident(p.tables()[i].columns[0].name);
    const std::string pos = detail::kHistoryPosition;
    for (;;) {
      const auto deleted = pool.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        const auto table = detail::qualified(tx, names[*h]);
        // Locked before the version is checked: a swap renaming this table waits for the commit.
        tx.exec0("LOCK TABLE " + table + " IN ROW EXCLUSIVE MODE");
        const auto now = tx.exec_params1("SELECT active_version FROM reproj.projections WHERE name = $1", name);
        if (now[0].as<int>() != active) return std::int64_t{-1};
        const auto r = tx.exec_params0(
            "DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(SELECT h.ctid FROM " + table + " h WHERE h." + pos +
                " < $1 AND (SELECT count(*) FROM (SELECT FROM " + table + " n WHERE n." + key + " = h." + key +
                " AND n." + pos + " > h." + pos + " AND n." + pos + " <= $1 LIMIT 2) n) = 2 LIMIT $2))",
            out.horizon, batch);
        tx.commit();
        return static_cast<std::int64_t>(r.affected_rows());
      });
      if (deleted <= 0) break;
      out.versions += deleted;
      if (deleted < batch) break;
    }
  }
  if (out.versions > 0) spdlog::info("pruned {} history version(s) of {} below position {}", out.versions, name, out.horizon);
  return out;
}

}  // namespace reproj::engine
