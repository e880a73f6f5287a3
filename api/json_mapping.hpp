#pragma once
// Engine types as the API's JSON. The only place their wire shape is decided.

#include <nlohmann/json.hpp>

#include "engine/event.hpp"
#include "engine/projection.hpp"
#include "api/projection_view.hpp"
#include "engine/rebuild.hpp"

namespace reproj::api {

/// A row as an object keyed by column name; booleans as JSON booleans, absent values null.
nlohmann::json row_to_json(const engine::TableSpec& table, const engine::Row& row);
/// Appends `event` as a JSON object to `out`: data and metadata are jsonb's text, passed through
/// unparsed (a page of large events costs its bytes, not a DOM of them).
void append_event_json(std::string& out, const engine::Event& event);
nlohmann::json rebuild_to_json(const engine::RebuildInfo& info);
/// {"name", "active_version", "versions", "watermark", "safe_tail", "lag", "state", "error",
/// "rebuild", "rollback_version"}
nlohmann::json projection_to_json(const ProjectionView& view);

}  // namespace reproj::api
