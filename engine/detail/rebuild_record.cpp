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

}  // namespace detail
}  // namespace reproj::engine
