#pragma once
// Strong reads that wait for the catch-up worker. A read further behind than it may apply itself
// (after a bulk import) used to answer 503 at once while /readyz said ready. Now it waits, holding
// no database connection, no lock and no thread, until the worker publishes a watermark from which
// the read can answer (engine::WatermarkBoard), or until its deadline; only then 503.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/asio.hpp"
#include "engine/watermark_board.hpp"

namespace reproj::api {

class ReadWaits {
 public:
  struct Options {
    // Reads waiting at once, across projections; one more answers its 503 at once, so a stalled
    // worker cannot make waiting reads pile up without bound.
    std::size_t max_waiting = 4096;
  };

  /// Listens to `board` until destroyed; `board` must outlive this.
  ReadWaits(engine::WatermarkBoard& board, Options options);
  ~ReadWaits();
  ReadWaits(const ReadWaits&) = delete;
  ReadWaits& operator=(const ReadWaits&) = delete;

  /// Resumes on the caller's executor once `projection`'s watermark reached `watermark` (true), or
  /// at `deadline` or at once when max_waiting reads already wait (false).
  asio::awaitable<bool> wait(std::string projection, std::int64_t watermark,
                             std::chrono::steady_clock::time_point deadline);

  /// Reads waiting now (for tests and metrics).
  std::size_t waiting() const;

 private:
  struct Waiter;
  void published(const std::string& projection, std::int64_t watermark);

  engine::WatermarkBoard& board_;
  const Options options_;
  mutable std::mutex mutex_;
  // State below is protected by mutex_: per projection, waiters by the watermark they wait for.
  std::map<std::string, std::multimap<std::int64_t, std::shared_ptr<Waiter>>> waiters_;
  std::map<std::string, std::int64_t> seen_;  // the last watermark published per projection
  std::size_t count_ = 0;
  std::unique_ptr<engine::WatermarkBoard::Subscription> subscription_;  // last: unsubscribes first
};

}  // namespace reproj::api
