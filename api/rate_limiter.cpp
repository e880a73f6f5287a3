#include "api/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace reproj::api {

namespace {
// Past this many clients, full buckets (clients idle for a second or more) are forgotten: an attacker
// rotating addresses cannot grow the map without bound.
constexpr std::size_t kPruneAbove = 10'000;
}  // namespace

std::optional<std::chrono::milliseconds> RateLimiter::take(const std::string& client, RateClass rate_class) {
  const double rate = rate_class == RateClass::kRead ? options_.read
                      : rate_class == RateClass::kAppend ? options_.append
                                                         : options_.admin;
  if (rate <= 0) return std::nullopt;
  const double burst = std::max(1.0, rate);
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock{mutex_};
  if (buckets_.size() > kPruneAbove) {
    std::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.at > std::chrono::seconds(1); });
  }
  const char tag = rate_class == RateClass::kRead ? 'r' : rate_class == RateClass::kAppend ? 'a' : 'm';
  auto [it, fresh] = buckets_.try_emplace(tag + client, Bucket{burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst, b.tokens + std::chrono::duration<double>(now - b.at).count() * rate);
    b.at = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  const double wait_s = (1 - b.tokens) / rate;
  return std::chrono::milliseconds{static_cast<long>(std::ceil(wait_s * 1000))};
}

std::string RateLimiter::parse(const std::string& text, Options& options) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) return "--rate-limit expects SCOPE=REQUESTS_PER_SECOND, got '" + text + "'";
  const std::string scope = text.substr(0, eq), value = text.substr(eq + 1);
  char* end = nullptr;
  const double rate = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(rate >= 0) || rate > 1e9) {
    return "--rate-limit " + scope + ": expected a number of requests a second >= 0, got '" + value + "'";
  }
  if (scope == "read") {
    options.read = rate;
  } else if (scope == "append") {
    options.append = rate;
  } else if (scope == "admin") {
    options.admin = rate;
  } else {
    return "--rate-limit: scope must be read, append or admin, got '" + scope + "'";
  }
  return {};
}

}  // namespace reproj::api
