#pragma once
// Engine types as the API's JSON. The only place their wire shape is decided.

#include <nlohmann/json.hpp>

#include "engine/event.hpp"
#include "engine/projection.hpp"
#include "engine/rebuild.hpp"

namespace reproj::api {

/// A row as an object keyed by column name; booleans as JSON booleans, absent values null.
nlohmann::json row_to_json(const engine::TableSpec& table, const engine::Row& row);
nlohmann::json event_to_json(const engine::Event& event);
nlohmann::json rebuild_to_json(const engine::RebuildInfo& info);

}  // namespace reproj::api
