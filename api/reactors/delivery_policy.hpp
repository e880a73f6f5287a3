#pragma once
// When a delivery counts as acknowledged, when to try again, and when to stop trying for a while:
// the retry schedule and the circuit breaker, apart from any socket or clock source (tests drive
// them with their own time).

#include <chrono>
#include <optional>
#include <string>

#include "engine/reactor.hpp"

namespace reproj::api {

using Clock = std::chrono::steady_clock;

/// What one request to a receiver came to.
struct DeliveryReply {
  unsigned status = 0;  // 0: no answer (error says why)
  std::string error;    // transport failure: "timeout", "connection refused", ...
  std::optional<std::chrono::milliseconds> retry_after;  // the receiver's Retry-After, if any
};

enum class Verdict {
  kAcknowledged,  // 2xx
  kRetry,         // 5xx, 408, 429, timeout, connection errors
  kGiveUp,        // any other status: the receiver refuses this event
};
Verdict classify(const DeliveryReply& reply);
/// "HTTP 503", "timeout", ...: what the API shows as last_error.
std::string describe(const DeliveryReply& reply);
/// Seconds of a Retry-After header value; nullopt for a date or garbage. Capped at one hour.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value);

/// How long to wait after the `failed`-th failed attempt at an event (failed >= 1): the receiver's
/// Retry-After when given, else min(retry_max_ms, retry_initial_ms * 2^(failed-1)) scaled by
/// 0.8 + 0.4 * `jitter` (`jitter` uniform in [0, 1)), so many reactors do not retry in step.
std::chrono::milliseconds retry_delay(const engine::ReactorConfig& config, int failed,
                                      const std::optional<std::chrono::milliseconds>& retry_after, double jitter);

/// Per reactor: closed until `threshold` consecutive failures (across its streams; the deliverer
/// passes circuit_failures × its in-flight limit), then open for a
/// cooldown (nothing is sent), then half-open: one probe. A success closes it; a failed probe
/// reopens it with twice the last cooldown, at most five minutes. With several requests in flight,
/// a failure of one sent before the circuit opened is counted but is not a failed probe.
class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  void configure(int threshold, std::chrono::milliseconds cooldown);
  State state(Clock::time_point now) const;
  /// When the next request may go, if not now.
  std::optional<Clock::time_point> blocked_until(Clock::time_point now) const;
  void on_success();
  /// A request sent at `sent` failed at `now` (max(): sent after the circuit opened, if it did).
  void on_failure(Clock::time_point now, Clock::time_point sent = Clock::time_point::max());
  int consecutive_failures() const { return failures_; }
  static const char* name(State s);  // closed | open | half_open

 private:
  int threshold_ = 5;
  std::chrono::milliseconds base_cooldown_{10'000};
  std::chrono::milliseconds cooldown_{0};  // of the current or last opening
  int failures_ = 0;
  bool opened_ = false;
  Clock::time_point open_until_{};
  Clock::time_point opened_at_{};
};

}  // namespace reproj::api
