#include "engine/detail/rebuild_record.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace reproj::engine {

std::string_view to_string(RebuildState state) {
  switch (state) {
    case RebuildState::kReplaying: return "replaying";
    case RebuildState::kCatchingUp: return "catching_up";
    case RebuildState::kReady: return "ready";
    case RebuildState::kPromoting: return "promoting";
    case RebuildState::kDone: return "done";
    case RebuildState::kFailed: return "failed";
    case RebuildState::kCancelled: return "cancelled";
  }
  return "failed";
}

std::string_view to_string(PromoteMode mode) {
  switch (mode) {
    case PromoteMode::kAuto: return "auto";
    case PromoteMode::kManual: return "manual";
    case PromoteMode::kIfExpected: return "if_expected";
  }
  return "auto";
}

std::optional<PromoteMode> parse_promote_mode(std::string_view text) {
  if (text == "auto") return PromoteMode::kAuto;
  if (text == "manual") return PromoteMode::kManual;
  if (text == "if_expected") return PromoteMode::kIfExpected;
  return std::nullopt;
}

bool is_running(RebuildState state) {
  return state == RebuildState::kReplaying || state == RebuildState::kCatchingUp || state == RebuildState::kReady ||
         state == RebuildState::kPromoting;
}

namespace detail {

namespace {
RebuildState parse_state(const std::string& s) {
  if (s == "replaying") return RebuildState::kReplaying;
  if (s == "catching_up") return RebuildState::kCatchingUp;
  if (s == "ready") return RebuildState::kReady;
  if (s == "promoting") return RebuildState::kPromoting;
  if (s == "done") return RebuildState::kDone;
  if (s == "failed") return RebuildState::kFailed;
  return RebuildState::kCancelled;
}
}  // namespace

std::string select_rebuilds() {
  return "SELECT id, projection, version, state, position, target, events_replayed, events_per_second, resumes, "
         "resumed_from, coalesce(runner, '') AS runner, coalesce(error, '') AS error, retired_version, "
         "retired_position, drop_dependent_views, from_version, events_skipped, coalesce(waiting, '') AS waiting, "
         "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS started_at, "
         "coalesce(to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '') AS finished_at, "
         "extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8 AS duration_seconds, "
         "promote, expect_changes::text AS expect_changes, coalesce(gate, '') AS gate, diff IS NOT NULL AS has_diff, "
         "coalesce(duplicates, '[]')::text AS duplicates "
         "FROM reproj.rebuilds ";
}

RebuildInfo rebuild_from_row(const pqxx::row& r) {
  RebuildInfo i;
  i.id = r["id"].as<std::int64_t>();
  i.projection = r["projection"].as<std::string>();
  i.version = r["version"].as<int>();
  i.state = parse_state(r["state"].as<std::string>());
  i.position = r["position"].as<std::int64_t>();
  i.target = r["target"].as<std::int64_t>();
  i.events_replayed = r["events_replayed"].as<std::int64_t>();
  i.events_per_second = r["events_per_second"].as<double>();
  i.resumes = r["resumes"].as<int>();
  if (!r["resumed_from"].is_null()) i.resumed_from = r["resumed_from"].as<std::int64_t>();
  i.runner = r["runner"].as<std::string>();
  i.error = r["error"].as<std::string>();
  if (!r["retired_version"].is_null()) i.retired_version = r["retired_version"].as<int>();
  i.dependent_views = r["drop_dependent_views"].as<bool>() ? DependentViews::kDrop : DependentViews::kRefuse;
  if (!r["from_version"].is_null()) i.from_version = r["from_version"].as<int>();
  i.events_skipped = r["events_skipped"].as<std::int64_t>();
  i.waiting = r["waiting"].as<std::string>();
  i.started_at = r["started_at"].as<std::string>();
  i.finished_at = r["finished_at"].as<std::string>();
  i.duration_seconds = r["duration_seconds"].as<double>();
  i.promote = parse_promote_mode(r["promote"].as<std::string>()).value_or(PromoteMode::kAuto);
  for (const auto& c : nlohmann::json::parse(r["expect_changes"].as<std::string>())) {
    if (c.is_string()) i.expect_changes.push_back(c.get<std::string>());
  }
  i.gate = r["gate"].as<std::string>();
  i.has_diff = r["has_diff"].as<bool>();
  i.duplicates = r["duplicates"].as<std::string>();
  if (is_running(i.state) && i.events_per_second > 0) {
    i.eta_seconds = static_cast<double>(std::max<std::int64_t>(i.target - i.position, 0)) / i.events_per_second;
  }
  return i;
}

std::optional<RebuildInfo> load_rebuild(pqxx::transaction_base& tx, std::int64_t id) {
  auto r = tx.exec_params(select_rebuilds() + "WHERE id = $1", id);
  if (r.empty()) return std::nullopt;
  return rebuild_from_row(r[0]);
}

std::int64_t insert_rebuild(pqxx::transaction_base& tx, const NewRebuild& r) {
  return tx
      .exec_params1("INSERT INTO reproj.rebuilds (projection, version, target, drop_dependent_views, from_version, "
                    "promote, expect_changes) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id",
                    r.projection, r.version, r.target, r.views == DependentViews::kDrop, r.from_version,
                    std::string{to_string(r.promote)}, nlohmann::json(r.expect_changes).dump())[0]
      .as<std::int64_t>();
}

bool mark_cancelled(pqxx::transaction_base& tx, std::int64_t id) {
  return !tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'cancelled', finished_at = now(), "
                                     "updated_at = now() WHERE id = $1 AND state IN "} +
                             kRunningStates + " RETURNING id",
                         id)
              .empty();
}

bool record_ask(pqxx::transaction_base& tx, std::int64_t id, Ask ask) {
  const std::string flag = ask == Ask::kPromote ? "promote_requested" : "diff_requested";
  return !tx.exec_params("UPDATE reproj.rebuilds SET " + flag +
                             " = true, updated_at = now() WHERE id = $1 AND state = 'ready' RETURNING id",
                         id)
              .empty();
}

Asks read_asks(pqxx::transaction_base& tx, std::int64_t id) {
  auto r = tx.exec_params1("SELECT promote_requested, diff_requested, diff IS NOT NULL FROM reproj.rebuilds WHERE id = $1",
                           id);
  return {.promote = r[0].as<bool>(), .diff = r[1].as<bool>(), .has_diff = r[2].as<bool>()};
}

void claim(pqxx::transaction_base& tx, std::int64_t id, const std::string& runner) {
  tx.exec_params("UPDATE reproj.rebuilds SET runner = $2, waiting = NULL, updated_at = now() WHERE id = $1", id, runner);
}

std::int64_t recorded_shadow_rows(pqxx::transaction_base& tx, std::int64_t id) {
  return tx.exec_params1("SELECT shadow_rows FROM reproj.rebuilds WHERE id = $1", id)[0].as<std::int64_t>();
}

void restart_replay(pqxx::transaction_base& tx, std::int64_t id) {
  tx.exec_params("UPDATE reproj.rebuilds SET position = 0, shadow_rows = 0, events_replayed = 0, "
                 "state = 'replaying' WHERE id = $1",
                 id);
}

void record_resume(pqxx::transaction_base& tx, std::int64_t id, std::int64_t position) {
  tx.exec_params("UPDATE reproj.rebuilds SET resumes = resumes + 1, resumed_from = $2 WHERE id = $1", id, position);
}

// The rebuild's watermark (position) commits with the shadow rows written in the same
// transaction: a resume starts exactly here (docs/DESIGN.md, invariant 2).
bool record_checkpoint(pqxx::transaction_base& tx, std::int64_t id, const Checkpoint& c) {
  return !tx.exec_params(
                "UPDATE reproj.rebuilds SET position = $2, events_replayed = events_replayed + $3, shadow_rows = $4, "
                "events_per_second = $5, updated_at = now(), state = CASE WHEN $7 THEN 'catching_up' ELSE state END, "
                "events_skipped = events_skipped + $8 WHERE id = $1 AND state = $6 RETURNING id",
                id, c.position, c.events, c.shadow_rows, c.events_per_second, std::string{to_string(c.state)},
                c.to_catching_up, c.skipped)
              .empty();
}

bool mark_catching_up(pqxx::transaction_base& tx, std::int64_t id) {
  return !tx.exec_params("UPDATE reproj.rebuilds SET state = 'catching_up', updated_at = now() WHERE id = $1 AND "
                         "state = 'replaying' RETURNING id",
                         id)
              .empty();
}

bool mark_ready(pqxx::transaction_base& tx, std::int64_t id, const std::string& diff_report, bool gated) {
  return !tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'ready', diff = $2::jsonb, diff_at = now(), "
                                     "diff_requested = false, gate = $3, updated_at = now() WHERE id = $1 AND state IN "} +
                             kRunningStates + " RETURNING id",
                         id, diff_report, gated ? std::optional<std::string>{"unexpected_changes"} : std::nullopt)
              .empty();
}

bool mark_promoting(pqxx::transaction_base& tx, std::int64_t id) {
  return !tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'promoting', updated_at = now() "
                                     "WHERE id = $1 AND state IN "} +
                             kRunningStates + " RETURNING id",
                         id)
              .empty();
}

void mark_done(pqxx::transaction_base& tx, std::int64_t id, const Promoted& p) {
  tx.exec_params("UPDATE reproj.rebuilds SET state = 'done', position = $2, events_replayed = events_replayed + $3, "
                 "retired_version = $4, retired_position = $5, finished_at = now(), updated_at = now(), "
                 "events_skipped = events_skipped + $6, waiting = NULL WHERE id = $1",
                 id, p.position, p.events, p.retired_version, p.retired_position, p.skipped);
}

bool mark_failed(pqxx::transaction_base& tx, std::int64_t id, const std::string& error,
                 const std::optional<std::string>& duplicates_json) {
  return !tx.exec_params(std::string{"UPDATE reproj.rebuilds SET state = 'failed', error = $2, waiting = NULL, "
                                     "duplicates = $3::jsonb, finished_at = now(), updated_at = now() "
                                     "WHERE id = $1 AND state IN "} +
                             kRunningStates + " RETURNING id",
                         id, error, duplicates_json)
              .empty();
}

void record_waiting(pqxx::transaction_base& tx, std::int64_t id, const std::string& waiting) {
  tx.exec_params("UPDATE reproj.rebuilds SET waiting = $2, updated_at = now() WHERE id = $1", id, waiting);
}

void trim_retired(pqxx::transaction_base& tx, const std::string& projection, int keep) {
  tx.exec_params(
      "UPDATE reproj.rebuilds SET retired_version = NULL WHERE projection = $1 AND retired_version IS NOT NULL "
      "AND id NOT IN (SELECT id FROM reproj.rebuilds WHERE projection = $1 AND retired_version IS NOT NULL "
      "ORDER BY id DESC LIMIT $2)",
      projection, keep);
}

void record_rollback(pqxx::transaction_base& tx, std::int64_t id, int retired_version, std::int64_t retired_position) {
  tx.exec_params("UPDATE reproj.rebuilds SET retired_version = $2, retired_position = $3, updated_at = now() "
                 "WHERE id = $1",
                 id, retired_version, retired_position);
}

}  // namespace detail
}  // namespace reproj::engine
