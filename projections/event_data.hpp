#pragma once
// Reading an event's data in a handler. The data column is jsonb, so its text is always valid JSON;
// what a handler cannot use (not an object, a field missing or of the wrong type) is a PoisonEvent
// naming the event.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/errors.hpp"
#include "engine/event.hpp"

namespace reproj::projections {

/// The top-level fields of an event's data object, found without building a document: replays
/// call this once per event (a full DOM parse was a third of a rebuild's instructions).
class EventData {
 public:
  /// Throws PoisonEvent when the data is not a JSON object.
  explicit EventData(const engine::Event& event);
  /// The field as a string; PoisonEvent when it is missing or not a string.
  std::string required_string(const char* field) const;

 private:
  const engine::Event& event_;
  std::vector<std::pair<std::string_view, std::string_view>> fields_;  // key (raw) -> value (raw JSON)
};

/// Decodes the body of a JSON string (between the quotes). Exposed for tests.
std::string decode_json_string(std::string_view raw);

}  // namespace reproj::projections
