#pragma once
// Prometheus text exposition for the few series reproj exports. prometheus-cpp is not packaged in
// Debian bookworm, so this is a minimal registry: counters read from the engine at scrape time and
// one request-latency histogram recorded here.

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace reproj::api {

class RequestMetrics {
 public:
  /// Records one request: route pattern (e.g. "/cars/{id}"), status code, duration. Thread-safe.
  void observe(const std::string& route, unsigned status, std::chrono::duration<double> seconds);
  /// Records one statement that answered `reads` point reads (the server batches them).
  void observe_point_read_statement(std::size_t reads);
  /// Everything in Prometheus text format.
  std::string render() const;

 private:
  static constexpr std::array<double, 12> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1.0,  5.0};
  struct Series {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, unsigned>, Series> series_;  // guarded by mutex_
  std::uint64_t point_read_statements_ = 0, point_reads_ = 0;    // guarded by mutex_
};

}  // namespace reproj::api
