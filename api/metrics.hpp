#pragma once
// The request-side Prometheus series, in a prometheus-cpp registry (Debian's prometheus-cpp-dev;
// Beast serves /metrics, not its civetweb exposer): the request-latency histogram by route and
// status, and the point-read batching counters. Thread-safe.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace prometheus {
class Counter;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace reproj::api {

class RequestMetrics {
 public:
  RequestMetrics();
  ~RequestMetrics();
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  /// Records one request: route pattern (e.g. "/cars/{id}"), status code, duration.
  void observe(const std::string& route, unsigned status, std::chrono::duration<double> seconds);
  /// Records one statement that answered `reads` point reads (the server batches them).
  void observe_point_read_statement(std::size_t reads);
  /// A group commit of `appends` requests (api/append_batcher.hpp).
  void observe_append_group(std::size_t appends);
  /// A request refused by authorisation: reason is missing, malformed, invalid, forbidden or rate_limited.
  void observe_auth_failure(const std::string& reason);
  /// Everything in Prometheus text format.
  std::string render() const;
  /// Where other series of this process register (ReactorMetrics), so render() includes them.
  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>& durations_;
  // Family::Add hashes a label map on every call (~3.5x the old hand-written observe, measured);
  // each (route, status) is added once and its histogram kept here.
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, unsigned>, prometheus::Histogram*> histograms_;  // guarded by mutex_
  prometheus::Counter& point_read_statements_;
  prometheus::Counter& append_groups_;
  prometheus::Counter& grouped_appends_;
  prometheus::Counter& point_reads_;
  prometheus::Family<prometheus::Counter>& auth_failures_;
};

}  // namespace reproj::api
