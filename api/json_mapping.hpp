#pragma once
// Engine types as the API's JSON. The only place their wire shape is decided.

#include <nlohmann/json.hpp>

#include "engine/event.hpp"
#include "engine/history_reads.hpp"
#include "engine/projection.hpp"
#include "api/projection_view.hpp"
#include "engine/reactor.hpp"
#include "engine/rebuild.hpp"
#include "sources/source_store.hpp"

namespace reproj::engine {
class ProjectionRegistry;
}  // namespace reproj::engine
namespace reproj::engine::spec {
class SpecCatalog;
}  // namespace reproj::engine::spec

namespace reproj::api {

/// A row as an object keyed by column name; booleans as JSON booleans, absent values null.
nlohmann::json row_to_json(const engine::TableSpec& table, const engine::Row& row);
/// Appends `event` as a JSON object to `out`: data and metadata are jsonb's text, passed through
/// unparsed (a page of large events costs its bytes, not a DOM of them).
void append_event_json(std::string& out, const engine::Event& event);
nlohmann::json rebuild_to_json(const engine::RebuildInfo& info);
/// A page of a row's versions: {"items": [{"from_position", "to_position" (null while current),
/// "event": {"position", "event_id", "type", "recorded_at"}, "row" (null: deleted), "changed":
/// {"column": {"old", "new"}}}], "next": position|null}.
nlohmann::json history_to_json(const engine::RowHistory& history);
/// {"name", "active_version", "versions", "version_sources", "building", "watermark", "safe_tail",
/// "lag", "state" (live | failed | building), "error", "rebuild", "rollback_version"}
nlohmann::json projection_to_json(const ProjectionView& view);
/// A reactor: its configuration (the secret only as "has_secret") and where it is: {"name", "url",
/// "events", ..., "position", "tail", "lag", "state" (running | paused | circuit_open | stopped),
/// "circuit", "consecutive_failures", "last_error", "next_attempt_at", "delivered", "dead_letters"}.
nlohmann::json reactor_to_json(const engine::ReactorInfo& reactor);
nlohmann::json dead_letter_to_json(const engine::DeadLetter& letter);
/// A source: {"name", "kind", "state", "checkpoint", "tail", "lag", "records_per_second",
/// "eta_seconds", "ingested", "quarantined", "last_error"} and (extension) "paused", "sync_reads",
/// "required_for_ready", "checkpoint_detail", "sha256", "document" (a password in a URL masked).
nlohmann::json source_to_json(const sources::SourceStatus& source);
/// A version of a projection as JSON text: {"projection", "version", "source" (compiled | file |
/// api), "sha256", "file"?, "spec"} with the spec document in its own member order; a compiled-in
/// version has "spec": null and its "tables". Throws NotFound.
std::string version_json(const engine::ProjectionRegistry& registry, engine::spec::SpecCatalog* specs,
                         const std::string& name, int version);

}  // namespace reproj::api
