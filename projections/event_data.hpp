#pragma once
// Decoding an event's data for a handler; anything unusable is a PoisonEvent naming the event.

#include <string>

#include <nlohmann/json.hpp>

#include "engine/errors.hpp"
#include "engine/event.hpp"

namespace reproj::projections {

/// The event's data as a JSON object, or PoisonEvent.
nlohmann::json data_of(const engine::Event& event);

/// data[field] as a string; PoisonEvent when missing or not a string.
std::string required_string(const engine::Event& event, const nlohmann::json& data, const char* field);

}  // namespace reproj::projections
