#pragma once
// An event to append, for tests of the engine's write path.

#include <optional>
#include <string>

#include "engine/event.hpp"

namespace reproj::test {

inline engine::NewEvent new_event(std::string type, nlohmann::json data, std::optional<std::string> id = std::nullopt) {
  engine::NewEvent e;
  e.event_id = std::move(id);
  e.type = std::move(type);
  e.data = std::move(data);
  return e;
}

}  // namespace reproj::test
