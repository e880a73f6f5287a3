#include "engine/detail/projection_record.hpp"

#include "engine/detail/connect.hpp"
#include "engine/errors.hpp"

namespace reproj::engine::detail {

namespace {

constexpr const char* kLock =
    "SELECT active_version, last_replayed, state = 'failed', coalesce(error, ''), poison_policy = 'stop', building "
    "FROM reproj.projections WHERE name = $1 FOR UPDATE";

// One round trip less under the append lock than locking and updating apart.
constexpr const char* kLockAndAdvance = R"sql(
  UPDATE reproj.projections p SET last_replayed = $2, updated_at = now()
  FROM (SELECT name, active_version, last_replayed, poison_policy = 'stop' AS stops, building, state
        FROM reproj.projections WHERE name = $1 FOR UPDATE) old
  WHERE p.name = old.name AND NOT old.building AND old.state <> 'failed' AND old.active_version = ANY ($3::int[])
  RETURNING old.active_version, old.last_replayed, old.stops)sql";

}  // namespace

ProjectionStatus lock_projection(pqxx::transaction_base& tx, const std::string& name) {
  auto meta = exec_prepared_once(tx, kLock, "", name);
  if (meta.empty()) throw UnknownProjection("projection '" + name + "' is not set up");
  return {.name = name,
          .active_version = meta[0][0].as<int>(),
          .watermark = meta[0][1].as<std::int64_t>(),
          .failed = meta[0][2].as<bool>(),
          .error = meta[0][3].as<std::string>(),
          .poison_policy = meta[0][4].as<bool>() ? PoisonPolicy::kStop : PoisonPolicy::kSkip,
          .quarantined = 0,
          .building = meta[0][5].as<bool>()};
}

void advance_watermark(pqxx::transaction_base& tx, const std::string& name, std::int64_t watermark) {
  exec_prepared_once(tx, "UPDATE reproj.projections SET last_replayed = $2, updated_at = now() WHERE name = $1", "",
                     name, watermark);
}

std::optional<ProjectionStatus> lock_and_advance(pqxx::transaction_base& tx, const std::string& name,
                                                 std::int64_t watermark, const std::string& inline_versions) {
  const auto r = exec_prepared_once(tx, kLockAndAdvance, "", name, watermark, inline_versions);
  if (r.empty()) return std::nullopt;
  ProjectionStatus out;
  out.name = name;
  out.active_version = r[0][0].as<int>();
  out.watermark = r[0][1].as<std::int64_t>();
  out.poison_policy = r[0][2].as<bool>() ? PoisonPolicy::kStop : PoisonPolicy::kSkip;
  return out;
}

void make_live(pqxx::transaction_base& tx, const std::string& name, int version, std::int64_t watermark) {
  tx.exec_params("UPDATE reproj.projections SET active_version = $2, last_replayed = $3, state = 'live', building = false, "
                 "error = NULL, updated_at = now() WHERE name = $1",
                 name, version, watermark);
}

}  // namespace reproj::engine::detail
