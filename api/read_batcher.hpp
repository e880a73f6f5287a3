#pragma once
// Point reads (GET /{projection}/{id}) arriving together share one statement. A statement per
// read made PostgreSQL and the kernel (round trips, thread wake-ups) most of a read's cost. Reads
// now queue while at most `max_in_flight` statements per projection run, and each statement
// answers everything that queued meanwhile; an idle server answers a lone read at once.
//
// Consistency is unchanged: a batch's statement starts after every read in it arrived, so a strong
// answer still reflects at least the log as of its request.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "api/asio.hpp"
#include "api/router.hpp"

namespace reproj::api {

class ReadBatcher {
 public:
  struct Options {
    // Statements per projection (and consistency) at once. One measured best on 2 cores: the
    // queue behind it grows with load, and so does each statement's batch (BENCH.md: "Tuning choices").
    int max_in_flight = 1;
    std::size_t max_batch = 128;  // reads per statement
    // Reads queued per projection (and consistency) at most; one more is answered 503 at once
    // instead of growing the queue without bound while its statement is stuck.
    std::size_t max_waiting = 4096;
  };

  /// Statements run on `db_pool`; `live` and `metrics` must outlive the batcher.
  /// A strong statement first ingests what sync_reads sources hold (`sources` may be null).
  ReadBatcher(engine::LiveProjections& live, sources::SourceManager* sources, asio::thread_pool& db_pool,
              RequestMetrics& metrics, Options options);

  /// The answer handle() would give for `read`. Call from a coroutine running on a strand (or a
  /// single-threaded executor): the answer resumes it there.
  asio::awaitable<Routed> read(PointRead read);

 private:
  struct Waiter;
  using Key = std::tuple<std::string, bool, std::int64_t>;  // projection, strong, min_position
  struct Queue {
    std::vector<std::shared_ptr<Waiter>> waiting;
    int in_flight = 0;
  };

  void dispatch(const Key& key);  // holds mutex_
  void run(const Key& key, std::vector<std::shared_ptr<Waiter>> batch);

  engine::LiveProjections& live_;
  sources::SourceManager* sources_;
  asio::thread_pool& db_pool_;
  RequestMetrics& metrics_;
  const Options options_;
  std::mutex mutex_;
  std::map<Key, Queue> queues_;  // guarded by mutex_
};

}  // namespace reproj::api
