#pragma once
// The reactors' Prometheus series, in the process's registry (RequestMetrics::registry): set by
// the instance that delivers for a reactor. Thread-safe.

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "api/metrics.hpp"

namespace prometheus {
class Gauge;
}  // namespace prometheus

namespace reproj::api {

class ReactorMetrics {
 public:
  explicit ReactorMetrics(RequestMetrics& metrics);

  /// One request to `reactor`'s receiver: result ok | retry | failed (given up: dead letter or stop).
  void observe_delivery(const std::string& reactor, const char* result, std::chrono::duration<double> seconds);
  /// Events in the log past the reactor's checkpoint.
  void set_lag(const std::string& reactor, std::int64_t events);
  /// 0 closed, 1 half-open, 2 open.
  void set_circuit(const std::string& reactor, int state);
  /// Requests in flight, and streams (or events, ordering "none") waiting to retry.
  void set_window(const std::string& reactor, int in_flight, int backing_off);

 private:
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Counter>& deliveries_;
  prometheus::Family<prometheus::Gauge>& circuit_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Gauge>& backing_off_;
  std::mutex mutex_;  // Family::Add is thread-safe; the caches below are not
  std::map<std::string, prometheus::Histogram*> histograms_;
};

}  // namespace reproj::api
