#pragma once
// Group commit: appends arriving together share one transaction (EventStore::append_group), so one
// commit and one WAL flush serve them all. Appends serialize on the append lock, and each held it
// through its own commit's flush: throughput was one append per flush, whatever the concurrency.
// Now appends queue while a group runs, and the next group takes everything that queued meanwhile
// (bounded by max_group requests and max_group_events events), after waiting a moment (`gather`)
// for the clients the last group answered; an idle server writes a lone append at once, waiting for
// nothing.
//
// Answers are unchanged (docs/DESIGN.md, invariant 11): the engine decides each request as if alone, in
// arrival order, and an answer is sent only after its group committed.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "api/asio.hpp"
#include "api/router.hpp"

namespace reproj::api {

class AppendBatcher {
 public:
  struct Options {
    // Requests per group at most ($REPROJ_APPEND_GROUP_MAX).
    std::size_t max_group = 256;
    // Events per group at most ($REPROJ_APPEND_GROUP_EVENTS); a request bigger than this alone is
    // a group of its own.
    std::size_t max_group_events = 5'000;
    // After a group of several appends, how long the next one waits for the clients just answered
    // to send again ($REPROJ_APPEND_GROUP_WAIT_US; 0: never): it starts as soon as as many requests
    // as that group had are queued. A lone append never waits.
    std::chrono::microseconds gather{1000};
    // An append queued this long is answered 503 "busy" without touching the database: behind a
    // writer that holds the append lock, fail fast rather than pile up (the serve command sets it
    // to the engine's append lock timeout).
    std::chrono::milliseconds queue_wait{5'000};
    // Appends queued at most; one more is answered 503 at once.
    std::size_t max_waiting = 16'384;
  };

  /// Groups run on `db_pool`; `store` and `metrics` must outlive the batcher.
  AppendBatcher(engine::EventStore& store, asio::thread_pool& db_pool, RequestMetrics& metrics, Options options);

  /// The answer handle() would give for `request`, once its group committed. Call from a coroutine
  /// running on a strand (or a single-threaded executor): the answer resumes it there.
  asio::awaitable<Routed> append(engine::AppendRequest request);

 private:
  struct Waiter;

  void dispatch();  // holds mutex_
  void run(std::vector<std::shared_ptr<Waiter>> group);

  engine::EventStore& store_;
  asio::thread_pool& db_pool_;
  RequestMetrics& metrics_;
  const Options options_;
  std::mutex mutex_;
  std::condition_variable arrived_;               // a request was queued
  std::deque<std::shared_ptr<Waiter>> waiting_;  // guarded by mutex_
  bool running_ = false;                         // a group is in flight; guarded by mutex_
};

}  // namespace reproj::api
