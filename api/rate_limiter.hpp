#pragma once
// Per-client request rates (token buckets), so one runaway client cannot starve the others. A
// client is a token's name, or the address of a client without one. Thread-safe.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace reproj::api {

/// The kinds of request a limit applies to, by the scope they need.
enum class RateClass { kRead, kAppend, kAdmin };

class RateLimiter {
 public:
  struct Options {
    // Requests a second each client may make, by class; the burst is one second's worth (at least
    // 1). Zero: no limit.
    double read = 0;
    double append = 0;
    double admin = 0;
  };
  explicit RateLimiter(Options options) : options_(options) {}

  /// Takes one request from `client`'s bucket for `rate_class`: nullopt when allowed, else how long
  /// until it would be.
  std::optional<std::chrono::milliseconds> take(const std::string& client, RateClass rate_class);

  /// Parses "read=100" (CLI --rate-limit) into `options`; the problem, empty when valid.
  static std::string parse(const std::string& text, Options& options);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  const Options options_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mutex_; key: class + client
};

}  // namespace reproj::api
