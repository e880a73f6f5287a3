#include "api/admin_series.hpp"

#include "sources/source_store.hpp"

#include <condition_variable>

#include <spdlog/spdlog.h>

#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "engine/rebuild.hpp"

namespace reproj::api {

namespace {
std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

AdminSeries::AdminSeries(engine::EventStore& store, engine::LiveProjections& live, engine::RebuildManager& rebuilds,
                         Options options)
    : store_(store), live_(live), rebuilds_(rebuilds), options_(options) {
  thread_ = std::jthread([this](std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    while (!stop.stop_requested()) {
      sample();
      std::unique_lock lock{m};
      cv.wait_for(lock, stop, options_.interval, [] { return false; });
    }
  });
}

AdminSeries::~AdminSeries() = default;  // thread_ (the last member) asks its loop to stop and joins

void AdminSeries::sample() {
  Point p;
  try {
    p.t_ms = unix_ms();
    p.safe_tail = store_.safe_tail();
    for (const auto& s : live_.status()) {
      p.lag[s.name] = std::max<std::int64_t>(0, p.safe_tail - s.watermark);
      if (auto r = rebuilds_.running(s.name)) {
        p.rebuilds.push_back({s.name, r->id, r->version, r->position, r->target, r->events_per_second});
      }
    }
    if (options_.sources) {
      for (const auto& s : options_.sources->statuses()) p.source_lag[s.name] = s.lag;
    }
  } catch (const std::exception& e) {
    spdlog::debug("admin series: sample skipped: {}", e.what());
    return;
  }
  std::scoped_lock lock{mutex_};
  if (!points_.empty()) {
    const auto& last = points_.back();
    const double seconds = static_cast<double>(p.t_ms - last.t_ms) / 1000.0;
    if (seconds > 0) {
      // Positions drawn per second (a rolled-back append leaves a gap, so this is an upper bound).
      p.appends_per_second = static_cast<double>(std::max<std::int64_t>(0, p.safe_tail - last.safe_tail)) / seconds;
      // A rebuild's own rate between samples: its recorded rate moves only at checkpoints.
      for (auto& r : p.rebuilds) {
        for (const auto& prev : last.rebuilds) {
          if (prev.id == r.id && r.position >= prev.position) {
            r.events_per_second = static_cast<double>(r.position - prev.position) / seconds;
          }
        }
      }
    }
  }
  points_.push_back(std::move(p));
  const auto oldest = points_.back().t_ms - std::chrono::duration_cast<std::chrono::milliseconds>(options_.window).count();
  while (!points_.empty() && points_.front().t_ms < oldest) points_.pop_front();
}

nlohmann::json AdminSeries::to_json() const {
  auto points = nlohmann::json::array();
  std::scoped_lock lock{mutex_};
  for (const auto& p : points_) {
    auto rebuilds = nlohmann::json::array();
    for (const auto& r : p.rebuilds) {
      rebuilds.push_back({{"projection", r.projection},
                          {"rebuild_id", r.id},
                          {"version", r.version},
                          {"position", r.position},
                          {"target", r.target},
                          {"events_per_second", r.events_per_second}});
    }
    points.push_back({{"t", p.t_ms},
                      {"safe_tail", p.safe_tail},
                      {"appends_per_second", p.appends_per_second},
                      {"lag", p.lag},
                      {"rebuilds", std::move(rebuilds)},
                      {"source_lag", p.source_lag}});
  }
  return {{"interval_ms", options_.interval.count()},
          {"window_seconds", options_.window.count()},
          {"points", std::move(points)}};
}

}  // namespace reproj::api
