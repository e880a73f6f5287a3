#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace reproj::engine {

class LiveProjections;

struct CatchUpOptions {
  // Events per transaction: the metadata row lock is released between batches so sync reads and a
  // swap get their turn; larger batches catch up a long history faster.
  std::size_t batch_events = 20'000;
  // Fallback poll when no NOTIFY arrives (a lost notification, a reconnect).
  std::chrono::milliseconds idle_wait{500};
  // At most one round per interval. A round costs the same round trips whether it applies one event
  // or many, so under a stream of appends it pays to gather them (BENCH.md: "Tuning choices").
  std::chrono::milliseconds min_interval{20};
};

/// Keeps every live projection close to the tail, on its own thread, woken by NOTIFY from the log.
/// On start it records the safe tail; caught_up() turns true once every projection has reached it
/// (the history is replayed) and stays true. Stops (and joins) on destruction.
class CatchUpWorker {
 public:
  /// Keeps `projections` caught up; none: every projection of the registry, re-read each round.
  CatchUpWorker(LiveProjections& live, std::vector<std::string> projections, CatchUpOptions options = {});
  ~CatchUpWorker();
  CatchUpWorker(const CatchUpWorker&) = delete;
  CatchUpWorker& operator=(const CatchUpWorker&) = delete;

  bool caught_up() const;
  /// Waits until caught up; false on timeout.
  bool wait_caught_up(std::chrono::milliseconds timeout) const;
  /// The tail recorded at start (-1 until the database was first reached).
  std::int64_t start_tail() const;
  /// The database answered the last round (false while it is unreachable).
  bool database_reachable() const;
  /// Events per second this worker applied lately, per projection (smoothed over its batches;
  /// absent before its first batch): what an ETA divides a lag by.
  std::map<std::string, double> rates() const;

 private:
  void run(std::stop_token stop);
  void round(std::int64_t tail, const std::stop_token& stop);

  LiveProjections& live_;
  const std::vector<std::string> projections_;
  const CatchUpOptions options_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  // State below is protected by mutex_.
  bool caught_up_ = false;
  bool reachable_ = false;
  std::int64_t start_tail_ = -1;
  std::map<std::string, double> rates_;
  std::jthread thread_;  // last: starts after the members above exist, joins before they go
};

}  // namespace reproj::engine
