#include "api/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace reproj::api {

namespace {
const prometheus::Histogram::BucketBoundaries kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,   0.25,   0.5,   1.0,  5.0};
}  // namespace

RequestMetrics::RequestMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      durations_(prometheus::BuildHistogram()
                     .Name("reproj_http_request_duration_seconds")
                     .Help("HTTP request latency by route and status.")
                     .Register(*registry_)),
      point_read_statements_(prometheus::BuildCounter()
                                 .Name("reproj_point_read_statements_total")
                                 .Help("Statements that answered point reads (GET /{projection}/{id}).")
                                 .Register(*registry_)
                                 .Add({})),
      append_groups_(prometheus::BuildCounter()
                         .Name("reproj_append_groups_total")
                         .Help("Transactions that wrote HTTP appends (group commit).")
                         .Register(*registry_)
                         .Add({})),
      grouped_appends_(prometheus::BuildCounter()
                           .Name("reproj_grouped_appends_total")
                           .Help("HTTP appends decided in a group; over groups, the mean group size.")
                           .Register(*registry_)
                           .Add({})),
      point_reads_(prometheus::BuildCounter()
                       .Name("reproj_point_reads_total")
                       .Help("Point reads answered; over statements, the mean batch.")
                       .Register(*registry_)
                       .Add({})),
      auth_failures_(prometheus::BuildCounter()
                         .Name("reproj_auth_failures_total")
                         .Help("Requests refused by authorisation, by reason (never with the token).")
                         .Register(*registry_)) {}

RequestMetrics::~RequestMetrics() = default;

void RequestMetrics::observe(const std::string& route, unsigned status, std::chrono::duration<double> seconds) {
  prometheus::Histogram* histogram = nullptr;
  {
    std::scoped_lock lock{mutex_};
    auto& slot = histograms_[{route, status}];
    if (!slot) slot = &durations_.Add({{"route", route}, {"status", std::to_string(status)}}, kBuckets);
    histogram = slot;
  }
  histogram->Observe(seconds.count());  // thread-safe itself
}

void RequestMetrics::observe_point_read_statement(std::size_t reads) {
  point_read_statements_.Increment();
  point_reads_.Increment(static_cast<double>(reads));
}

void RequestMetrics::observe_append_group(std::size_t appends) {
  append_groups_.Increment();
  grouped_appends_.Increment(static_cast<double>(appends));
}

void RequestMetrics::observe_auth_failure(const std::string& reason) {
  auth_failures_.Add({{"reason", reason}}).Increment();  // a handful of reasons: Add finds the series
}

std::string RequestMetrics::render() const { return prometheus::TextSerializer{}.Serialize(registry_->Collect()); }

}  // namespace reproj::api
