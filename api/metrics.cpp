#include "api/metrics.hpp"

#include <sstream>

namespace reproj::api {

void RequestMetrics::observe(const std::string& route, unsigned status, std::chrono::duration<double> seconds) {
  const double s = seconds.count();
  std::scoped_lock lock{mutex_};
  auto& series = series_[{route, status}];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (s <= kBuckets[i]) ++series.buckets[i];
  }
  ++series.count;
  series.sum += s;
}

void RequestMetrics::observe_point_read_statement(std::size_t reads) {
  std::scoped_lock lock{mutex_};
  ++point_read_statements_;
  point_reads_ += reads;
}

std::string RequestMetrics::render() const {
  std::ostringstream out;
  out << "# HELP reproj_http_request_duration_seconds HTTP request latency by route and status.\n"
         "# TYPE reproj_http_request_duration_seconds histogram\n";
  std::scoped_lock lock{mutex_};
  for (const auto& [key, s] : series_) {
    const std::string labels = "route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"";
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out << "reproj_http_request_duration_seconds_bucket{" << labels << ",le=\"" << kBuckets[i] << "\"} "
          << s.buckets[i] << "\n";
    }
    out << "reproj_http_request_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} " << s.count << "\n"
        << "reproj_http_request_duration_seconds_sum{" << labels << "} " << s.sum << "\n"
        << "reproj_http_request_duration_seconds_count{" << labels << "} " << s.count << "\n";
  }
  out << "# HELP reproj_point_read_statements_total Statements that answered point reads (GET /{projection}/{id}).\n"
         "# TYPE reproj_point_read_statements_total counter\n"
         "reproj_point_read_statements_total "
      << point_read_statements_
      << "\n# HELP reproj_point_reads_total Point reads answered; over statements, the mean batch.\n"
         "# TYPE reproj_point_reads_total counter\n"
         "reproj_point_reads_total "
      << point_reads_ << "\n";
  return out.str();
}

}  // namespace reproj::api
