#include "api/reactors/delivery_policy.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace reproj::api {

namespace {
constexpr std::chrono::milliseconds kMaxRetryAfter{3'600'000};
constexpr std::chrono::milliseconds kMaxCooldown{300'000};
}  // namespace

Verdict classify(const DeliveryReply& reply) {
  const unsigned s = reply.status;
  if (s >= 200 && s < 300) return Verdict::kAcknowledged;
  if (s == 0 || s >= 500 || s == 408 || s == 429) return Verdict::kRetry;
  return Verdict::kGiveUp;
}

std::string describe(const DeliveryReply& reply) {
  return reply.status ? "HTTP " + std::to_string(reply.status) : reply.error;
}

std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value) {
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::min<std::chrono::milliseconds>(std::chrono::seconds{std::min<std::int64_t>(seconds, 3600)}, kMaxRetryAfter);
}

std::chrono::milliseconds retry_delay(const engine::ReactorConfig& config, int failed,
                                      const std::optional<std::chrono::milliseconds>& retry_after, double jitter) {
  if (retry_after) return std::min(*retry_after, kMaxRetryAfter);
  const double base = std::min(static_cast<double>(config.retry_max_ms),
                               config.retry_initial_ms * std::pow(2.0, std::clamp(failed - 1, 0, 40)));
  return std::chrono::milliseconds{std::max<std::int64_t>(1, std::llround(base * (0.8 + 0.4 * jitter)))};
}

void CircuitBreaker::configure(int threshold, std::chrono::milliseconds cooldown) {
  threshold_ = std::max(1, threshold);
  base_cooldown_ = cooldown;
}

CircuitBreaker::State CircuitBreaker::state(Clock::time_point now) const {
  if (!opened_) return State::kClosed;
  return now < open_until_ ? State::kOpen : State::kHalfOpen;
}

std::optional<Clock::time_point> CircuitBreaker::blocked_until(Clock::time_point now) const {
  if (state(now) == State::kOpen) return open_until_;
  return std::nullopt;
}

void CircuitBreaker::on_success() {
  failures_ = 0;
  opened_ = false;
  cooldown_ = std::chrono::milliseconds{0};
}

void CircuitBreaker::on_failure(Clock::time_point now, Clock::time_point sent) {
  ++failures_;
  if (opened_ && sent < opened_at_) return;  // in flight when it opened: not the probe
  if (opened_) {  // the half-open probe failed
    cooldown_ = std::min(cooldown_ * 2, std::max(kMaxCooldown, base_cooldown_));
  } else if (failures_ >= threshold_) {
    opened_ = true;
    opened_at_ = now;
    cooldown_ = base_cooldown_;
  } else {
    return;
  }
  open_until_ = now + cooldown_;
}

const char* CircuitBreaker::name(State s) {
  switch (s) {
    case State::kClosed: return "closed";
    case State::kOpen: return "open";
    case State::kHalfOpen: return "half_open";
  }
  return "closed";
}

}  // namespace reproj::api
