#pragma once
// Reactors: named subscribers to the log that cause side effects (webhooks). What one is told to do
// (ReactorConfig) and what it has done (ReactorInfo, DeadLetter). A reactor is not a projection:
// its checkpoint moves only past events its deliverer acknowledged or dead-lettered (docs/DESIGN.md, invariant 10);
// nothing a rebuild, rollback or promote does reads or writes it. The engine stores and checkpoints
// reactors; how an event is delivered (HTTP) is the API's.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace reproj::engine {

struct ReactorConfig {
  enum class OnFailure { kDeadLetter, kStop };
  // Which events may be in flight together: kGlobal one at a time in log order; kStream events of
  // one stream in log order, up to `concurrency` streams at once (a failing stream backs off alone);
  // kNone up to `concurrency` events regardless of stream.
  enum class Ordering { kGlobal, kStream, kNone };

  std::string url;                  // where to deliver; checked by the API (absolute http:// or https:// URL)
  std::vector<std::string> events;  // types: "car.sold", a prefix "customer.*", or "*" for all
  int timeout_ms = 5000;            // per request, connect to last byte of the answer
  int max_attempts = 8;             // requests per event (probes included) before giving up on it
  std::string secret;               // HMAC-SHA256 key of X-Reproj-Signature; empty: unsigned
  OnFailure on_failure = OnFailure::kDeadLetter;
  // Retry schedule: attempt n+1 waits min(retry_max_ms, retry_initial_ms * 2^(n-1)) * U(0.8, 1.2),
  // or the receiver's Retry-After (429, 503) when it names one, capped at one hour.
  int retry_initial_ms = 1000;
  int retry_max_ms = 60'000;
  // Circuit breaker: this many consecutive failures open it for circuit_cooldown_ms; then one probe;
  // each failed probe doubles the cooldown (up to 5 minutes).
  int circuit_failures = 5;
  int circuit_cooldown_ms = 10'000;
  Ordering ordering = Ordering::kStream;
  int concurrency = 8;  // requests in flight at most (kGlobal: always 1)
  // https:// only: verify the receiver against this CA bundle (PEM) instead of the system's store,
  // and present this client certificate and key (PEM; both or neither). Paths on the server.
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;

  /// Requests in flight at most: `concurrency`, or 1 for kGlobal.
  int in_flight_limit() const { return ordering == Ordering::kGlobal ? 1 : concurrency; }

  /// True when an event of `type` is to be delivered.
  bool matches(std::string_view type) const;
  /// The stored form: every field, the secret included.
  nlohmann::json to_json() const;
  /// Reads the stored form, or a client's document: absent fields keep their defaults. Throws
  /// InvalidInput naming the first bad field (unknown fields too). Does not check the URL's syntax.
  static ReactorConfig from_json(const nlohmann::json& j);
  bool operator==(const ReactorConfig&) const = default;
};

/// A reactor as stored, with where the log is.
struct ReactorInfo {
  std::string name;
  ReactorConfig config;
  std::int64_t position = 0;  // every event at or below it is delivered, dead-lettered or not matching;
                              // events above it acknowledged out of order are kept apart (reactor_acks)
  std::int64_t tail = 0;      // the log's safe tail when read
  std::string state;          // running | paused | stopped (stored)
  std::string circuit;        // closed | open | half_open
  int consecutive_failures = 0;
  std::string last_error;       // empty: none
  std::string next_attempt_at;  // ISO 8601; empty: none scheduled
  std::int64_t delivered = 0;
  std::int64_t dead_letters = 0;
  int in_flight = 0;    // requests the deliverer had in flight when it last checkpointed
  int backing_off = 0;  // streams (kStream; events for kNone) waiting to retry then
  std::int64_t acknowledged_above = 0;  // events after `position` already acknowledged (not sent again)

  /// running | paused | circuit_open | stopped: the state the API shows.
  std::string shown_state() const;
  std::int64_t lag() const { return tail > position ? tail - position : 0; }
};

struct DeadLetter {
  std::string event_id;
  std::int64_t global_position = 0;
  std::string type;
  int attempts = 0;
  std::string last_error;
  std::string status;  // dead | retrying
  std::string dead_at;
};

/// "global" | "stream" | "none".
const char* ordering_name(ReactorConfig::Ordering o);

/// A reactor name: 1-63 characters of [a-z0-9_-], starting with a letter.
bool valid_reactor_name(std::string_view name);

}  // namespace reproj::engine
