#pragma once
// What the dashboard's charts draw: a sample every `interval` of the log's growth, each
// projection's lag and each running rebuild's progress, kept for `window`. Sampled on its own
// thread (blocking engine calls never run on an I/O thread) and read by GET /admin/series.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace reproj::engine {
class EventStore;
class LiveProjections;
class RebuildManager;
}  // namespace reproj::engine

namespace reproj::sources {
class SourceStore;
}  // namespace reproj::sources

namespace reproj::api {

class AdminSeries {
 public:
  struct Options {
    std::chrono::milliseconds interval{2'000};
    std::chrono::seconds window{15 * 60};
    sources::SourceStore* sources = nullptr;  // sampled too when set ("source_lag")
  };
  /// Takes the first sample at once, then one per interval until destruction. The engine objects
  /// must outlive it. A sample that fails (database unreachable) is skipped, not fatal.
  AdminSeries(engine::EventStore& store, engine::LiveProjections& live, engine::RebuildManager& rebuilds,
              Options options);
  ~AdminSeries();
  AdminSeries(const AdminSeries&) = delete;
  AdminSeries& operator=(const AdminSeries&) = delete;

  /// {"interval_ms", "window_seconds", "points": [{"t" (Unix ms), "safe_tail", "appends_per_second",
  /// "lag": {projection: n}, "rebuilds": [{"projection", "rebuild_id", "version", "position",
  /// "target", "events_per_second"}], "source_lag": {source: n}}]}, oldest first. Thread-safe.
  nlohmann::json to_json() const;

 private:
  struct RebuildSample {
    std::string projection;
    std::int64_t id = 0;
    int version = 0;
    std::int64_t position = 0;
    std::int64_t target = 0;
    double events_per_second = 0;
  };
  struct Point {
    std::int64_t t_ms = 0;
    std::int64_t safe_tail = 0;
    double appends_per_second = 0;
    std::map<std::string, std::int64_t> lag;
    std::vector<RebuildSample> rebuilds;
    std::map<std::string, std::int64_t> source_lag;
  };
  void sample();

  engine::EventStore& store_;
  engine::LiveProjections& live_;
  engine::RebuildManager& rebuilds_;
  const Options options_;
  mutable std::mutex mutex_;
  // State below is protected by mutex_.
  std::deque<Point> points_;
  std::jthread thread_;  // last: stopped and joined before the members above go
};

}  // namespace reproj::api
