#include "api/reactors/reactor_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace reproj::api {

ReactorMetrics::ReactorMetrics(RequestMetrics& metrics)
    : lag_(prometheus::BuildGauge()
               .Name("reproj_reactor_lag_events")
               .Help("Events in the log past a reactor's checkpoint (set by the instance delivering for it).")
               .Register(metrics.registry())),
      deliveries_(prometheus::BuildCounter()
                      .Name("reproj_reactor_deliveries_total")
                      .Help("Requests to a reactor's receiver by result: ok, retry (will try again), failed (gave up).")
                      .Register(metrics.registry())),
      circuit_(prometheus::BuildGauge()
                   .Name("reproj_reactor_circuit_state")
                   .Help("A reactor's circuit breaker: 0 closed, 1 half-open, 2 open.")
                   .Register(metrics.registry())),
      latency_(prometheus::BuildHistogram()
                   .Name("reproj_reactor_delivery_duration_seconds")
                   .Help("Time from sending a delivery to its answer (or failure).")
                   .Register(metrics.registry())),
      in_flight_(prometheus::BuildGauge()
                     .Name("reproj_reactor_in_flight")
                     .Help("Requests a reactor has in flight to its receiver.")
                     .Register(metrics.registry())),
      backing_off_(prometheus::BuildGauge()
                       .Name("reproj_reactor_backing_off")
                       .Help("Streams of a reactor waiting to retry (events, for ordering none).")
                       .Register(metrics.registry())) {}

void ReactorMetrics::observe_delivery(const std::string& reactor, const char* result,
                                      std::chrono::duration<double> seconds) {
  deliveries_.Add({{"reactor", reactor}, {"result", result}}).Increment();
  prometheus::Histogram* histogram = nullptr;
  {
    std::scoped_lock lock{mutex_};
    auto& slot = histograms_[reactor];
    if (!slot) {
      slot = &latency_.Add({{"reactor", reactor}},
                           prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                   0.5, 1.0, 2.5, 5.0, 10.0});
    }
    histogram = slot;
  }
  histogram->Observe(seconds.count());
}

void ReactorMetrics::set_lag(const std::string& reactor, std::int64_t events) {
  lag_.Add({{"reactor", reactor}}).Set(static_cast<double>(events));
}

void ReactorMetrics::set_circuit(const std::string& reactor, int state) {
  circuit_.Add({{"reactor", reactor}}).Set(state);
}

void ReactorMetrics::set_window(const std::string& reactor, int in_flight, int backing_off) {
  in_flight_.Add({{"reactor", reactor}}).Set(in_flight);
  backing_off_.Add({{"reactor", reactor}}).Set(backing_off);
}

}  // namespace reproj::api
