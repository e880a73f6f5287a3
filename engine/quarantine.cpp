// The poison policy and the quarantine: setting the policy, recording and listing skipped events.
#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/quarantine.hpp"
#include "engine/errors.hpp"
#include "engine/live_projections.hpp"

namespace reproj::engine {

std::string_view to_string(PoisonPolicy policy) { return policy == PoisonPolicy::kSkip ? "skip" : "stop"; }

std::optional<PoisonPolicy> parse_poison_policy(std::string_view text) {
  if (text == "skip") return PoisonPolicy::kSkip;
  if (text == "stop") return PoisonPolicy::kStop;
  return std::nullopt;
}

namespace detail {

void record_quarantine(pqxx::transaction_base& tx, const std::string& projection, int version,
                       const std::vector<SkippedEvent>& skipped, std::optional<std::int64_t> rebuild_id) {
  if (skipped.empty()) return;
  auto doc = nlohmann::json::array();
  for (const auto& s : skipped) {
    doc.push_back({{"position", s.position}, {"event_id", s.event_id}, {"type", s.type}, {"error", s.error}});
  }
  tx.exec_params(
      "INSERT INTO reproj.quarantine (projection, version, global_position, event_id, event_type, error, rebuild_id) "
      "SELECT $1, $2, (x->>'position')::bigint, x->>'event_id', x->>'type', x->>'error', $4 "
      "FROM jsonb_array_elements($3::jsonb) x ON CONFLICT DO NOTHING",
      projection, version, doc.dump(), rebuild_id);
}

}  // namespace detail

ProjectionStatus LiveProjections::set_poison_policy(const std::string& name, PoisonPolicy policy) {
  if (!registry_.has(name)) throw UnknownProjection("unknown projection '" + name + "'");
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    lock_metadata(tx, name);
    // A projection stopped at a poison event goes on once told to skip: its catch-up meets the
    // event again and quarantines it.
    tx.exec_params("UPDATE reproj.projections SET poison_policy = $2, updated_at = now(), "
                   "state = CASE WHEN $2 = 'skip' THEN 'live' ELSE state END, "
                   "error = CASE WHEN $2 = 'skip' THEN NULL ELSE error END WHERE name = $1",
                   name, std::string{to_string(policy)});
    tx.commit();
  });
  for (auto& s : status()) {
    if (s.name == name) return s;
  }
  throw UnknownProjection("projection '" + name + "' is not set up");
}

std::vector<QuarantinedEvent> LiveProjections::quarantined(const std::string& name, int version, std::int64_t after,
                                                           std::size_t limit) {
  if (!registry_.has(name)) throw UnknownProjection("unknown projection '" + name + "'");
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<QuarantinedEvent> out;
    for (const auto& r : tx.exec_params(
             "SELECT version, global_position, event_id, event_type, error, rebuild_id, "
             "to_char(quarantined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
             "FROM reproj.quarantine WHERE projection = $1 AND version = $2 AND global_position > $3 "
             "ORDER BY global_position LIMIT $4",
             name, version, after, static_cast<std::int64_t>(limit))) {
      out.push_back({.version = r[0].as<int>(),
                     .global_position = r[1].as<std::int64_t>(),
                     .event_id = r[2].as<std::string>(),
                     .event_type = r[3].as<std::string>(),
                     .error = r[4].as<std::string>(),
                     .rebuild_id = r[5].is_null() ? std::nullopt : std::optional{r[5].as<std::int64_t>()},
                     .quarantined_at = r[6].as<std::string>()});
    }
    return out;
  });
}

}  // namespace reproj::engine
