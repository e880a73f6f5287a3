#pragma once
// What an applier does with an event its projection cannot use (a PoisonEvent), per projection.
//
// skip (default, as Axon and Marten do for continuous processing): the event is recorded in
//   reproj.quarantine with the error, the watermark moves past it, the projection goes on.
// stop: the projection applies what precedes the event and stops there (state 'failed'); a rebuild
//   meeting it fails.
// Live appliers, the swap's last catch-up, rollback and rebuilds all follow the projection's policy.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reproj::engine {

enum class PoisonPolicy { kSkip, kStop };
std::string_view to_string(PoisonPolicy policy);
/// nullopt for anything but "skip" and "stop".
std::optional<PoisonPolicy> parse_poison_policy(std::string_view text);

/// An event a projection version skipped.
struct QuarantinedEvent {
  int version = 0;
  std::int64_t global_position = 0;
  std::string event_id;
  std::string event_type;
  std::string error;
  std::optional<std::int64_t> rebuild_id;  // set when a rebuild skipped it, not the live version
  std::string quarantined_at;             // ISO 8601, UTC
};

}  // namespace reproj::engine
