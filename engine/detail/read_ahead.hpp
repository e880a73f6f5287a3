#pragma once
// A replay's reader running ahead of its fold: batches of the log up to a fixed target are fetched
// on a thread of their own and queued, at most `depth` of them, while the caller folds. A queue
// deeper than one batch keeps PostgreSQL streaming through the fold's uneven batches and its
// checkpoints, which a single prefetched batch left it idle for.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/event.hpp"

namespace reproj::engine::detail {

/// The heap a batch of events takes (the events and their strings' buffers), for memory budgets.
std::size_t approx_bytes(const std::vector<Event>& batch);

class ReadAhead {
 public:
  /// Fetches the events after `from` (global positions) up to `up_to`, at most a batch.
  using Fetch = std::function<std::vector<Event>(std::int64_t from, std::int64_t up_to)>;

  /// Starts fetching at once. A batch shorter than `batch_events`, or one reaching `up_to`, is the last.
  ReadAhead(Fetch fetch, std::int64_t from, std::int64_t up_to, std::size_t batch_events, std::size_t depth);
  /// Stops the thread after the batch it is fetching, if any, and joins it.
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  /// Queues at most `depth` batches (at least 1) from now on: a caller short of memory shrinks the
  /// queue; what is queued already stays.
  void set_depth(std::size_t depth);

  /// The next batch, in log order, waiting for it if needed; nullopt after the last one. Rethrows
  /// what a fetch threw (then nothing more is fetched).
  std::optional<std::vector<Event>> next();

 private:
  void run(Fetch fetch, std::int64_t from, std::int64_t up_to, std::size_t batch_events);

  std::size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<Event>> ready_;
  bool finished_ = false;  // the thread fetched its last batch or failed
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace reproj::engine::detail
