#pragma once
// Whole-database checks for the reliability tests, straight from PostgreSQL (not through reproj):
// projections against an independent fold, acknowledged appends against the log, orphan tables.
#include <fmt/core.h>

#include <map>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/event_store.hpp"
#include "tests/support/seed.hpp"

namespace reproj::test {

struct FoldCheck {
  std::size_t differences = 0;  // rows that differ, plus one per table whose row count differs
  int cars_version = 0;
  std::int64_t cars_at = 0, customers_at = 0, tail = 0;
  std::int64_t history_at = -1;  // where cars' history was checked against the fold (-1: it keeps none)
  std::string describe() const {
    return fmt::format("{} differences from the fold (cars v{} at {}, customers at {}, tail {}, history as of {})",
                       differences, cars_version, cars_at, customers_at, tail, history_at);
  }
};

/// Each projection's committed rows against the fold of the log up to exactly its committed
/// watermark: an event lost, applied out of order or applied past the watermark (so that it would
/// be applied again) shows as a difference. Rows and watermarks come from one snapshot; the LOCK,
/// taken before the snapshot, keeps a swap from renaming other tables under these names meanwhile.
inline FoldCheck check_against_fold(const std::string& url, engine::EventStore& store) {
  FoldCheck out;
  std::map<std::string, engine::Row> cars, customers, history_then, history_now;
  {
    pqxx::connection c{url};
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx{c};
    tx.exec0("LOCK TABLE reproj_data.cars, reproj_data.customers IN ACCESS SHARE MODE");
    for (const auto& r : tx.exec("SELECT name, active_version, last_replayed FROM reproj.projections")) {
      if (r[0].as<std::string>() == "cars") {
        out.cars_version = r[1].as<int>();
        out.cars_at = r[2].as<std::int64_t>();
      } else if (r[0].as<std::string>() == "customers") {
        out.customers_at = r[2].as<std::int64_t>();
      }
    }
    out.tail = tx.exec1("SELECT coalesce(max(global_position), 0) FROM reproj.events")[0].as<std::int64_t>();
    for (const auto& r :
         tx.exec("SELECT car_id, creator, color, sold, customer_id, customer_name FROM reproj_data.cars")) {
      auto text = [&](int i) -> engine::Value {
        if (r[i].is_null()) return std::monostate{};
        return r[i].as<std::string>();
      };
      cars.emplace(r[0].as<std::string>(),
                   engine::Row{{r[0].as<std::string>(), text(1), text(2), r[3].as<bool>(), text(4), text(5)}});
    }
    for (const auto& r : tx.exec("SELECT customer_id, name FROM reproj_data.customers")) {
      customers.emplace(r[0].as<std::string>(), engine::Row{{r[0].as<std::string>(), r[1].as<std::string>()}});
    }
    // A live version keeping history (invariant 14): its cars as of a position half way, from the
    // history alone, against the fold up to there (a change lost or recorded twice shows), and the
    // newest version of each car against its row.
    if (!tx.exec1("SELECT to_regclass('reproj_data.cars__h')")[0].is_null()) {
      out.history_at = out.cars_at / 2;
      const std::string as_of = "SELECT DISTINCT ON (car_id) car_id, creator, color, sold, customer_id, customer_name, "
                                "_deleted FROM reproj_data.cars__h WHERE _position <= $1 ORDER BY car_id, _position DESC";
      for (auto [at, into] : {std::pair{out.history_at, &history_then}, std::pair{out.cars_at, &history_now}}) {
        for (const auto& r : tx.exec_params(as_of, at)) {
          if (r[6].as<bool>()) continue;  // deleted by then
          auto text = [&](int i) -> engine::Value {
            if (r[i].is_null()) return std::monostate{};
            return r[i].as<std::string>();
          };
          into->emplace(r[0].as<std::string>(), engine::Row{{r[0].as<std::string>(), text(1), text(2),
                                                             r[3].is_null() ? engine::Value{} : engine::Value{r[3].as<bool>()},
                                                             text(4), text(5)}});
        }
      }
    }
    tx.commit();
  }
  if (out.history_at >= 0) {
    out.differences += history_now != cars ? 1U : 0U;
    const auto then = fold(store, out.cars_version, out.history_at);
    out.differences += history_then.size() != then.cars().size() ? 1U : 0U;
    for (const auto& [id, row] : history_then) out.differences += std::optional<engine::Row>{row} != then.car(id) ? 1U : 0U;
  }
  const auto car_fold = fold(store, out.cars_version, out.cars_at);
  out.differences += cars.size() != car_fold.cars().size() ? 1U : 0U;
  for (const auto& [id, row] : cars) out.differences += std::optional<engine::Row>{row} != car_fold.car(id) ? 1U : 0U;
  const auto customer_fold = fold(store, 1, out.customers_at);
  out.differences += customers.size() != customer_fold.customers().size() ? 1U : 0U;
  for (const auto& [id, row] : customers) {
    out.differences += std::optional<engine::Row>{row} != customer_fold.customer(id) ? 1U : 0U;
  }
  return out;
}

/// How many acknowledged (event_id, position) pairs the log lacks or holds at another position.
inline std::size_t missing_appends(const std::string& url,
                                   const std::vector<std::pair<std::string, std::int64_t>>& acked) {
  std::map<std::string, std::int64_t> logged;
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  for (const auto& [id, position] : acked) logged.emplace(id, -1);
  for (const auto& r : tx.exec("SELECT event_id, global_position FROM reproj.events")) {
    auto it = logged.find(r[0].as<std::string>());
    if (it != logged.end()) it->second = r[1].as<std::int64_t>();
  }
  std::size_t missing = 0;
  for (const auto& [id, position] : acked) missing += logged.at(id) == position ? 0U : 1U;
  return missing;
}

/// Tables in reproj_data that are neither live, the shadow of a running rebuild nor a retained
/// retired set (one snapshot for both lists).
inline std::vector<std::string> orphan_tables(const std::string& url) {
  static const std::regex kSuffixed{R"(.*__([srt])(\d+)$)"};
  pqxx::connection c{url};
  pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx{c};
  std::set<std::int64_t> running, retained;
  for (const auto& r : tx.exec("SELECT id, state IN ('replaying', 'catching_up', 'promoting'), "
                               "retired_version IS NOT NULL FROM reproj.rebuilds")) {
    if (r[1].as<bool>()) running.insert(r[0].as<std::int64_t>());
    if (r[2].as<bool>()) retained.insert(r[0].as<std::int64_t>());
  }
  std::vector<std::string> orphans;
  for (const auto& r : tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'reproj_data'")) {
    const auto table = r[0].as<std::string>();
    std::smatch m;
    if (!std::regex_match(table, m, kSuffixed)) continue;  // a live table
    const auto id = std::stoll(m[2].str());
    if (!((m[1] == "s" && running.contains(id)) || (m[1] == "r" && retained.contains(id)))) orphans.push_back(table);
  }
  return orphans;
}

}  // namespace reproj::test
