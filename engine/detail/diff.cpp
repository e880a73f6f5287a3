#include "engine/detail/diff.hpp"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "engine/detail/history_sql.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"

namespace reproj::engine::detail {

std::optional<DiffOutcome> diff_at(pqxx::connection& conn, LiveProjections& live, const Projection& version,
                                   const std::vector<std::string>& shadow, std::int64_t rebuild_id, std::int64_t position,
                                   const std::vector<std::string>& expect_changes) {
  const std::string projection{version.name()};
  const auto started = std::chrono::steady_clock::now();
  if (live.catch_up(projection, position, ApplyMode::kWorker).watermark != position) return std::nullopt;

  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx{conn};
  // One core for the comparison: parallel workers would take the cores the reads beside it need
  // (reads p99 during back-to-back diffs of 220k cars: 38.8 ms with PostgreSQL's default of 2 workers).
  tx.exec0("SET LOCAL max_parallel_workers_per_gather = 0");
  const auto at = tx.exec_params1(
      "SELECT p.last_replayed, p.active_version, (SELECT r.position FROM reproj.rebuilds r WHERE r.id = $2) "
      "FROM reproj.projections p WHERE p.name = $1",
      projection, rebuild_id);
  if (at[0].as<std::int64_t>() != position || at[2].is_null() || at[2].as<std::int64_t>() != position) return std::nullopt;
  const Projection& live_version = live.registry().get(projection, at[1].as<int>());

  const auto expect = nlohmann::json(expect_changes);
  const bool rows_added_ok = std::find(expect_changes.begin(), expect_changes.end(), "rows_added") != expect_changes.end();
  const bool rows_removed_ok = std::find(expect_changes.begin(), expect_changes.end(), "rows_removed") != expect_changes.end();
  nlohmann::json tables = nlohmann::json::object(), added = nlohmann::json::array(), dropped = nlohmann::json::array();
  bool expected = true;
  for (std::size_t i = 0; i < version.tables().size(); ++i) {
    const auto& t = version.tables()[i];
    const auto same = std::find_if(live_version.tables().begin(), live_version.tables().end(),
                                   [&](const TableSpec& l) { return l.name == t.name; });
    if (same == live_version.tables().end() || same->columns[0].name != t.columns[0].name) {
      added.push_back(t.name);  // no live table to compare with (or keyed differently)
      if (same != live_version.tables().end()) dropped.push_back(t.name);
      continue;
    }
    auto d = nlohmann::json::parse(
        tx.exec_params1("SELECT reproj.diff_table($1::regclass, $2::regclass, $3, $4::jsonb)::text",
                        qualified(tx, table_name(live_version, *same)), qualified(tx, shadow[i]), t.columns[0].name,
                        expect.dump())[0]
            .as<std::string>());
    if (same->history && t.history) {  // why each sampled row differs: the event behind each value
      const auto live_history = history_table_name(live_version, *same);
      const auto shadow_history = shadow.at(*history_of(version, i));
      for (auto& sample : d["samples"]) {
        if (!sample.contains("key") || !sample["key"].is_string()) continue;
        const auto key = sample["key"].get<std::string>();
        sample["live_event"] = made_by(tx, t, live_history, key, position);
        sample["shadow_event"] = made_by(tx, t, shadow_history, key, position);
      }
    }
    // Only the served table gates: what readers see. Lookup tables are internal to the fold (cars
    // v2's customer_names follows renames that v1's never saw) and are reported, not gated.
    if (t.name == projection) {
      expected = d["unexpected_columns"].empty() && (rows_added_ok || d["added"].get<std::int64_t>() == 0) &&
                 (rows_removed_ok || d["removed"].get<std::int64_t>() == 0);
    }
    tables[t.name] = std::move(d);
  }
  for (const auto& l : live_version.tables()) {
    if (std::none_of(version.tables().begin(), version.tables().end(), [&](const TableSpec& t) { return t.name == l.name; })) {
      dropped.push_back(l.name);
    }
  }
  tx.commit();
  nlohmann::json report = {{"position", position}, {"tables", std::move(tables)}, {"tables_added", std::move(added)},
                           {"tables_dropped", std::move(dropped)}, {"expected", expected},
                           {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()},
                           {"at_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch()).count()}};
  return DiffOutcome{report.dump(), expected};
}

}  // namespace reproj::engine::detail
