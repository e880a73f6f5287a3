#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace reproj::engine::detail {

/// Sleeps for `d`, or less if a stop is requested meanwhile.
inline void sleep_unless_stopped(std::stop_token stop, std::chrono::steady_clock::duration d) {
  std::mutex m;
  std::unique_lock lock{m};
  std::condition_variable_any cv;
  cv.wait_for(lock, stop, d, [] { return false; });
}

}  // namespace reproj::engine::detail
