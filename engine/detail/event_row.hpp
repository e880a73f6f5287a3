#pragma once
// An event read back by a SELECT of (global_position, event_id, stream_id, stream_version,
// event_type, data::text, metadata::text, recorded_at::text), in that order.

#include <cstdint>
#include <string>

#include <pqxx/pqxx>

#include "engine/event.hpp"

namespace reproj::engine::detail {

/// Fills `event` from `row` (reusing its strings' capacity).
inline void read_event(const pqxx::row& row, Event& event) {
  event.global_position = row[0].as<std::int64_t>();
  event.event_id = row[1].as<std::string>();
  event.stream_id = row[2].as<std::string>();
  event.stream_version = row[3].as<std::int64_t>();
  event.type = row[4].as<std::string>();
  event.data = row[5].as<std::string>();
  event.metadata = row[6].as<std::string>();
  event.recorded_at = row[7].as<std::string>();
}

}  // namespace reproj::engine::detail
