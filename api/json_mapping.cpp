#include "api/json_mapping.hpp"

#include <algorithm>

#include "engine/column_value.hpp"
#include "engine/errors.hpp"
#include "engine/spec/spec_catalog.hpp"

namespace reproj::api {

using Json = nlohmann::json;

Json row_to_json(const engine::TableSpec& table, const engine::Row& row) {
  Json out = Json::object();
  for (std::size_t i = 0; i < table.columns.size() && i < row.values.size(); ++i) {
    out[table.columns[i].name] = engine::value_to_json(table.columns[i].type, row.values[i]);
  }
  return out;
}

nlohmann::json history_to_json(const engine::RowHistory& history) {
  const auto position = [](const std::optional<std::int64_t>& p) { return p ? Json(*p) : Json(nullptr); };
  Json items = Json::array();
  for (const auto& item : history.items) {
    items.push_back({{"from_position", item.from_position},
                     {"to_position", position(item.to_position)},
                     {"event",
                      {{"position", item.from_position},
                       {"event_id", item.event_id},
                       {"type", item.type},
                       {"recorded_at", item.recorded_at}}},
                     {"row", item.row ? row_to_json(*history.table, *item.row) : Json(nullptr)},
                     {"changed", item.changed}});
  }
  return {{"items", std::move(items)}, {"next", position(history.next)}};
}

namespace {
// PostgreSQL's text timestamptz ("2026-11-23 10:48:19.865+00") as ISO 8601.
std::string iso8601(std::string ts) {
  if (auto sp = ts.find(' '); sp != std::string::npos) ts[sp] = 'T';
  const auto sign = ts.find_last_of("+-");
  if (sign != std::string::npos && sign > 10 && ts.size() - sign == 3) ts += ":00";
  return ts;
}

// `s` as a JSON string. Ids and types are nearly always printable ASCII with nothing to escape:
// copied as they are (a page of 1000 events spent ~15% of its server time building a nlohmann
// value per field to dump it); anything else goes through nlohmann's escaping.
void append_json_string(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  });
  if (!plain) {
    out += Json(std::string{s}).dump(-1, ' ', false, Json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += s;
  out += '"';
}
}  // namespace

void append_event_json(std::string& out, const engine::Event& e) {
  // Keys in the order nlohmann writes an object's (sorted), as the page was before.
  out += "{\"data\":";
  out += e.data;
  out += ",\"event_id\":";
  append_json_string(out, e.event_id);
  out += ",\"global_position\":";
  out += std::to_string(e.global_position);
  out += ",\"metadata\":";
  out += e.metadata;
  out += ",\"recorded_at\":";
  append_json_string(out, iso8601(e.recorded_at));
  out += ",\"stream_id\":";
  append_json_string(out, e.stream_id);
  out += ",\"stream_version\":";
  out += std::to_string(e.stream_version);
  out += ",\"type\":";
  append_json_string(out, e.type);
  out += '}';
}

Json rebuild_to_json(const engine::RebuildInfo& r) {
  Json j{{"rebuild_id", r.id},
         {"projection", r.projection},
         {"version", r.version},
         {"state", engine::to_string(r.state)},
         {"position", r.position},
         {"target", r.target},
         {"events_per_second", r.events_per_second},
         {"eta_seconds", r.eta_seconds ? Json(*r.eta_seconds) : Json(nullptr)},
         {"resumes", r.resumes},
         {"events_skipped", r.events_skipped},
         {"waiting", r.waiting.empty() ? Json(nullptr) : Json(r.waiting)},
         {"from_version", r.from_version ? Json(*r.from_version) : Json(nullptr)},
         {"started_at", r.started_at},
         {"finished_at", r.finished_at.empty() ? Json(nullptr) : Json(r.finished_at)},
         {"duration_seconds", r.duration_seconds},
         {"promote", engine::to_string(r.promote)},
         {"expect_changes", r.expect_changes},
         {"gate", r.gate.empty() ? Json(nullptr) : Json(r.gate)},
         {"diff_url", r.has_diff ? Json("/admin/rebuilds/" + std::to_string(r.id) + "/diff") : Json(nullptr)}};
  if (!r.error.empty()) j["error"] = r.error;
  if (r.duplicates != "[]") j["duplicates"] = Json::parse(r.duplicates);
  return j;
}

Json projection_to_json(const ProjectionView& v) {
  const auto& p = v.status;
  Json sources = Json::object();
  for (const auto& [version, source] : v.sources) sources[std::to_string(version)] = source;
  return {{"name", p.name},
          {"active_version", p.active_version},
          {"versions", v.versions},
          {"version_sources", std::move(sources)},
          {"building", p.building},
          {"mode", v.mode},
          {"watermark", p.watermark},
          {"safe_tail", v.safe_tail},
          {"lag", std::max<std::int64_t>(0, v.safe_tail - p.watermark)},
          {"state", p.building ? "building" : p.failed ? "failed" : "live"},
          {"error", p.failed ? Json(p.error) : Json(nullptr)},
          {"poison_policy", engine::to_string(p.poison_policy)},
          {"quarantined", p.quarantined},
          {"rebuild", v.rebuild ? rebuild_to_json(*v.rebuild) : Json(nullptr)},
          {"rollback_version", v.rollback_version ? Json(*v.rollback_version) : Json(nullptr)}};
}

Json reactor_to_json(const engine::ReactorInfo& r) {
  Json j = r.config.to_json();
  j.erase("secret");
  j["has_secret"] = !r.config.secret.empty();
  j["name"] = r.name;
  j["position"] = r.position;
  j["tail"] = r.tail;
  j["lag"] = r.lag();
  j["state"] = r.shown_state();
  j["circuit"] = r.circuit;
  j["consecutive_failures"] = r.consecutive_failures;
  j["last_error"] = r.last_error.empty() ? Json(nullptr) : Json(r.last_error);
  j["next_attempt_at"] = r.next_attempt_at.empty() ? Json(nullptr) : Json(r.next_attempt_at);
  j["delivered"] = r.delivered;
  j["dead_letters"] = r.dead_letters;
  j["in_flight"] = r.in_flight;
  j["backing_off"] = r.backing_off;
  j["acknowledged_above"] = r.acknowledged_above;
  for (const char* path : {"ca_file", "client_cert_file", "client_key_file"}) {
    if (j[path] == "") j[path] = nullptr;
  }
  return j;
}

Json dead_letter_to_json(const engine::DeadLetter& d) {
  return {{"event_id", d.event_id}, {"global_position", d.global_position}, {"type", d.type},
          {"attempts", d.attempts}, {"last_error", d.last_error},           {"status", d.status},
          {"dead_at", d.dead_at}};
}

std::string version_json(const engine::ProjectionRegistry& registry, engine::spec::SpecCatalog* specs,
                         const std::string& name, int version) {
  auto origin = registry.origin(name, version);
  if (!origin && specs) {  // another instance may have deployed it a moment ago
    specs->sync();
    origin = registry.origin(name, version);
  }
  if (!origin) throw engine::NotFound("projection '" + name + "' has no version " + std::to_string(version));
  Json out = {{"projection", name}, {"version", version}, {"source", std::string{engine::to_string(origin->kind)}}};
  if (origin->kind == engine::VersionOrigin::Kind::kCompiled) {
    // A C++ projection has no document: show its tables as a spec would declare them.
    Json tables = Json::object();
    for (const auto& t : registry.get(name, version).tables()) {
      Json columns = Json::object();
      for (const auto& col : t.columns) columns[col.name] = std::string{engine::sql_type(col.type)};
      tables[t.name] = {{"key", t.columns[0].name}, {"columns", std::move(columns)}};
    }
    out["sha256"] = nullptr;
    out["spec"] = nullptr;
    out["tables"] = std::move(tables);
    return out.dump();
  }
  std::string sha = origin->sha256;
  if (sha.empty() && specs) {
    if (auto stored = specs->get(name, version)) sha = stored->sha256;
  }
  if (origin->kind == engine::VersionOrigin::Kind::kFile) out["file"] = origin->file;
  out["sha256"] = sha;
  // The document as deployed, members in its own order (Json would sort them).
  std::string body = out.dump();
  body.pop_back();
  return body + ",\"spec\":" + origin->document + "}";
}

nlohmann::json source_to_json(const sources::SourceStatus& s) {
  auto or_null = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"name", s.name},
          {"kind", s.kind},
          {"state", s.state},
          {"checkpoint", or_null(s.checkpoint)},
          {"tail", s.tail},
          {"lag", s.lag},
          {"records_per_second", s.records_per_second},
          {"eta_seconds", or_null(s.eta_seconds)},
          {"ingested", s.ingested},
          {"quarantined", s.quarantined},
          {"last_error", s.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.last_error)},
          {"paused", s.paused},
          {"sync_reads", s.sync_reads},
          {"required_for_ready", s.required_for_ready},
          {"checkpoint_detail", s.checkpoint_detail},
          {"sha256", s.sha256},
          {"document", s.document}};
}

}  // namespace reproj::api
