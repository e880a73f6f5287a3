#include "engine/history_reads.hpp"

#include <functional>
#include <limits>

#include <pqxx/pqxx>

#include "engine/column_value.hpp"
#include "engine/connection_pool_run.hpp"
#include "engine/detail/history_sql.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"

namespace reproj::engine {

namespace {

// Metadata, tail, horizon and one text payload (JSON) in one statement; $1 is the projection.
enum Column : pqxx::row::size_type { kVersion, kWatermark, kLogTail, kBuilding, kHorizon, kPayload };
const std::string kHead =
    "SELECT p.active_version, p.last_replayed, (" + std::string{log::kSafeTailSql} +
    "), p.building, coalesce((SELECT horizon FROM reproj.history_horizons h WHERE h.projection = p.name "
    "AND h.version = p.active_version), 0), ";
const std::string kFrom = " FROM reproj.projections p WHERE p.name = $1";

struct Shot {
  int version = 0;
  std::int64_t watermark = 0;
  std::int64_t tail = 0;
  std::int64_t horizon = 0;
  std::string payload;
  bool null_payload = true;
};

std::string not_kept(const std::string& name, std::optional<int> version) {
  return "projection '" + name + "'" + (version ? " version " + std::to_string(*version) : std::string{}) +
         " keeps no history: add \"history\": true to its table '" + name +
         "' in a new version and rebuild to it (the rebuild builds the whole history)";
}

}  // namespace

namespace {

// Runs kHead + payload + kTail with `args` after the projection's name, catching the projection up
// to `wanted(shot)` through the live read path first when it is behind.
template <typename... Args>
Shot shoot(LiveProjections& live, const std::string& name, const std::string& payload,
           const std::function<std::int64_t(const Shot&)>& wanted, const Args&... args) {
  const auto& registry = live.registry();
  if (!registry.has(name)) throw UnknownProjection("unknown projection '" + name + "'");
  bool any = false;
  for (int v : registry.versions(name)) any = any || served_table(registry.get(name, v)).history.has_value();
  if (!any) throw HistoryNotKept(not_kept(name, std::nullopt));
  const std::string sql = kHead + payload + kFrom;
  for (int attempt = 0;; ++attempt) {
    Shot s;
    try {
      live.pool().run([&](pqxx::connection& conn) {
        pqxx::nontransaction tx{conn};
        // Prepared once per connection (a no-op when it has it), as LiveProjections prepares its reads.
        const auto statement = "reproj_history_" + std::to_string(std::hash<std::string>{}(sql));
        conn.prepare(statement, sql);
        const auto r = tx.exec_prepared(statement, name, args...);
        if (r.empty()) throw UnknownProjection("projection '" + name + "' is not set up");
        if (r[0][kBuilding].template as<bool>()) throw ProjectionBuilding(name);
        s.version = r[0][kVersion].template as<int>();
        s.watermark = r[0][kWatermark].template as<std::int64_t>();
        s.tail = r[0][kLogTail].template as<std::int64_t>();
        s.horizon = r[0][kHorizon].template as<std::int64_t>();
        s.null_payload = r[0][kPayload].is_null();
        if (!s.null_payload) s.payload = r[0][kPayload].template as<std::string>();
      });
    } catch (const pqxx::undefined_table&) {  // the live version's served table keeps none
      throw HistoryNotKept(not_kept(name, std::nullopt));
    } catch (const pqxx::undefined_column& e) {
      throw InvalidInput("the live version of " + name + " has no such column");
    } catch (const pqxx::data_exception&) {
      throw InvalidInput("a filter value is not of its column's type");
    }
    if (!served_table(registry.get(name, s.version)).history) throw HistoryNotKept(not_kept(name, s.version));
    const std::int64_t want = wanted(s);
    if (want > s.tail) {
      throw InvalidInput("position " + std::to_string(want) + " is past the end of the log (" + std::to_string(s.tail) +
                         ")");
    }
    if (s.watermark >= want || attempt == 2) return s;
    // Behind: the live read path applies what is missing (or says why it cannot), then look again.
    live.get(name, "", ReadOptions{.strong = false, .min_position = want});
  }
}

void check_horizon(const std::string& name, const Shot& s, std::int64_t position) {
  if (position < s.horizon) {
    throw HistoryPruned("the history of '" + name + "' is kept from position " + std::to_string(s.horizon) +
                            " on (its retention pruned what came before)",
                        s.horizon);
  }
}

std::string history_table(const LiveProjections& live, const std::string& name) {
  const Projection& p = live.registry().latest(name);
  return std::string{detail::kDataSchema} + "." + detail::quote_ident(detail::history_table_name(p, served_table(p)));
}

std::string key_column(const LiveProjections& live, const std::string& name) {
  return detail::quote_ident(served_table(live.registry().latest(name)).columns[0].name);
}

// {"column": {"old": v, "new": v}} of each column that differs between a key's version and the
// one before it (nullopt: absent or deleted, every column null then).
nlohmann::json changes(const TableSpec& spec, const std::optional<Row>& older, const std::optional<Row>& newer) {
  static const Value kNull{};
  auto out = nlohmann::json::object();
  for (std::size_t c = 0; c < spec.columns.size(); ++c) {
    const Value& old = older ? older->values[c] : kNull;
    const Value& now = newer ? newer->values[c] : kNull;
    if (old != now) {
      out[spec.columns[c].name] = {{"old", value_to_json(spec.columns[c].type, old)},
                                   {"new", value_to_json(spec.columns[c].type, now)}};
    }
  }
  return out;
}

ReadResult as_read(const LiveProjections& live, const std::string& name, const Shot& s, std::int64_t position) {
  ReadResult out;
  out.version = s.version;
  out.watermark = position;
  out.table = &served_table(live.registry().get(name, s.version));
  if (s.null_payload) return out;
  const auto doc = nlohmann::json::parse(s.payload);
  for (const auto& obj : doc.is_array() ? doc : nlohmann::json::array({doc})) {
    if (!obj.value(detail::kHistoryDeleted, false)) out.rows.push_back(row_from_json(obj, *out.table));
  }
  return out;
}

}  // namespace

ReadResult HistoryReads::get_as_of(const std::string& name, const std::string& key, std::int64_t position) {
  const auto table = history_table(live_, name);
  const auto k = key_column(live_, name);
  const auto s = shoot(live_, name,
                       "(SELECT to_jsonb(h)::text FROM " + table + " h WHERE h." + k + " = $2 AND h." +
                           detail::kHistoryPosition + " <= $3::bigint ORDER BY h." + detail::kHistoryPosition +
                           " DESC LIMIT 1)",
                       [&](const Shot&) { return position; }, key, position);
  check_horizon(name, s, position);
  return as_read(live_, name, s, position);
}

ReadResult HistoryReads::list_as_of(const std::string& name, const std::string& after, std::size_t limit,
                                    std::int64_t position,
                                    const std::optional<std::pair<std::string, std::string>>& filter) {
  const auto table = history_table(live_, name);
  const auto k = key_column(live_, name);
  const std::string pos = detail::kHistoryPosition;
  // The distinct keys one index probe each (a loose index scan), and each key's version as of the
  // position: a page costs its keys, not the history's length. The LIMIT stops the recursion.
  const std::string where = filter ? " AND v." + detail::quote_ident(filter->first) + " = $5" : " AND $5::text IS NULL";
  const std::string payload =
      "(WITH RECURSIVE k(key) AS ((SELECT h." + k + " FROM " + table + " h WHERE h." + k + " > $2 ORDER BY h." + k +
      " LIMIT 1) UNION ALL SELECT (SELECT h." + k + " FROM " + table + " h WHERE h." + k + " > k.key ORDER BY h." + k +
      " LIMIT 1) FROM k WHERE k.key IS NOT NULL) "
      "SELECT coalesce(jsonb_agg(to_jsonb(v) ORDER BY v." + k + "), '[]'::jsonb)::text FROM (SELECT v.* FROM k "
      "CROSS JOIN LATERAL (SELECT * FROM " + table + " h WHERE h." + k + " = k.key AND h." + pos +
      " <= $3::bigint ORDER BY h." + pos + " DESC LIMIT 1) v WHERE k.key IS NOT NULL AND NOT v." +
      detail::kHistoryDeleted + where + " LIMIT $4::int) v)";
  const std::optional<std::string> value = filter ? std::optional{filter->second} : std::nullopt;
  const auto s = shoot(live_, name, payload, [&](const Shot&) { return position; }, after, position,
                       static_cast<std::int64_t>(limit), value);
  check_horizon(name, s, position);
  return as_read(live_, name, s, position);
}

RowHistory HistoryReads::history(const std::string& name, const std::string& key, std::int64_t before,
                                 std::size_t limit, const ReadOptions& options) {
  const auto table = history_table(live_, name);
  const auto k = key_column(live_, name);
  const std::string pos = detail::kHistoryPosition;
  const std::string payload =
      "(SELECT coalesce(jsonb_agg(x ORDER BY x.from_position DESC), '[]'::jsonb)::text FROM (SELECT h." + pos +
      " AS from_position, (SELECT min(n." + pos + ") FROM " + table + " n WHERE n." + k + " = h." + k + " AND n." + pos +
      " > h." + pos + ") AS to_position, e.event_id, e.event_type AS type, e.recorded_at, to_jsonb(h) AS row FROM " +
      table + " h LEFT JOIN reproj.events e ON e.global_position = h." + pos + " WHERE h." + k + " = $2 AND h." + pos +
      " < $3::bigint ORDER BY h." + pos + " DESC LIMIT $4::int + 1) x)";
  // One version more than the page: the one before the page's last, what that one changed from.
  const std::int64_t below = before > 0 ? before : std::numeric_limits<std::int64_t>::max();
  const auto s = shoot(live_, name, payload,
                       [&](const Shot& shot) { return std::max(options.strong ? shot.tail : 0, options.min_position); },
                       key, below, static_cast<std::int64_t>(limit));
  RowHistory out;
  out.version = s.version;
  out.watermark = s.watermark;
  out.table = &served_table(live_.registry().get(name, s.version));
  const auto versions = nlohmann::json::parse(s.payload);
  std::vector<std::optional<Row>> rows;  // each version's row, also the one before each item's
  for (const auto& x : versions) {
    const auto& row = x.at("row");
    if (row.value(detail::kHistoryDeleted, false)) rows.emplace_back();
    else rows.emplace_back(row_from_json(row, *out.table));
  }
  for (std::size_t i = 0; i < versions.size() && out.items.size() < limit; ++i) {
    const auto& x = versions[i];
    RowHistoryItem item;
    item.from_position = x.at("from_position").get<std::int64_t>();
    if (!x.at("to_position").is_null()) item.to_position = x["to_position"].get<std::int64_t>();
    if (item.to_position && *item.to_position <= s.horizon) continue;  // pruned meanwhile or soon
    const auto text = [&](const char* member) {  // null when the event row is missing (never, in practice)
      const auto it = x.find(member);
      return it != x.end() && it->is_string() ? it->get<std::string>() : std::string{};
    };
    item.event_id = text("event_id");
    item.type = text("type");
    item.recorded_at = text("recorded_at");
    item.row = rows[i];
    if (const auto kept = x.at("row").find(detail::kHistoryChanged); kept != x.at("row").end() && kept->is_object()) {
      item.changed = *kept;  // a version written before migration 0014
    } else {
      item.changed = changes(*out.table, i + 1 < rows.size() ? rows[i + 1] : std::nullopt, item.row);
    }
    out.items.push_back(std::move(item));
  }
  // More to read: the version past the page, when it is still readable.
  if (out.items.size() == limit && limit > 0 && versions.size() > limit &&
      (versions[limit].at("to_position").is_null() || versions[limit]["to_position"].get<std::int64_t>() > s.horizon)) {
    out.next = out.items.back().from_position;
  }
  return out;
}

std::int64_t HistoryReads::position_at(const std::string& rfc3339) {
  const auto ts = canonical::timestamp(rfc3339);
  if (!ts) throw InvalidInput("'" + rfc3339 + "' is not an RFC 3339 timestamp (e.g. 2026-12-06T10:00:00Z)");
  return live_.pool().run([&](pqxx::connection& conn) {
    pqxx::nontransaction tx{conn};
    // Walks the log back from its end: recent times (the common question) cost a few rows.
    return tx.exec_params1("SELECT coalesce((SELECT global_position FROM reproj.events WHERE recorded_at <= "
                           "$1::timestamptz ORDER BY global_position DESC LIMIT 1), 0)",
                           *ts)[0]
        .as<std::int64_t>();
  });
}

}  // namespace reproj::engine
