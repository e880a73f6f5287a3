#pragma once
// Events as the engine reads and writes them. data/metadata are JSON: the read side keeps the
// text PostgreSQL sent (projections decode what they need), the write side takes parsed values.

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace reproj::engine {

/// One event of the global log, as read back.
struct Event {
  std::int64_t global_position = 0;
  std::string event_id;
  std::string stream_id;
  std::int64_t stream_version = 0;
  std::string type;
  std::string data;      // JSON text (jsonb's canonical form)
  std::string metadata;  // JSON text
  std::string recorded_at;
};

/// The parts of an event a reader may do without; position, event_id, stream_id, type and data
/// are always read. Left out, they may arrive empty (0 for stream_version): a reader that leaves
/// one out must not use it.
struct EventExtras {
  bool stream_version = true;
  bool metadata = true;
  bool recorded_at = true;
};

/// An event to append. A UUID is generated when event_id is empty.
struct NewEvent {
  std::optional<std::string> event_id;
  std::string type;
  nlohmann::json data = nlohmann::json::object();
  nlohmann::json metadata = nlohmann::json::object();
};

/// The optimistic-concurrency expectation of an append.
struct ExpectedVersion {
  struct Any {};
  struct NoStream {};
  std::variant<Any, NoStream, std::int64_t> value = Any{};

  static ExpectedVersion any() { return {Any{}}; }
  static ExpectedVersion no_stream() { return {NoStream{}}; }
  static ExpectedVersion exactly(std::int64_t v) { return {v}; }
  std::string to_string() const;
};

/// What an append did. `duplicate` is true for an idempotent re-append that wrote nothing.
struct AppendResult {
  std::string stream_id;
  std::int64_t first_position = 0;
  std::int64_t last_position = 0;
  std::int64_t next_expected_version = 0;
  bool duplicate = false;
};

/// One append of a group (EventStore::append_group).
struct AppendRequest {
  std::string stream_id;
  ExpectedVersion expected;
  std::vector<NewEvent> events;
};

/// One request's answer in a group: its result, or the exception a lone append would have thrown.
struct AppendOutcome {
  AppendResult result;
  std::exception_ptr error;
};

}  // namespace reproj::engine
