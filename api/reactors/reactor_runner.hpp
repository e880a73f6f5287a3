#pragma once
// Runs the reactors this instance holds the lock of: one strand per reactor on the given io_context
// delivers its events (reactor_deliverer.hpp: in the order its "ordering" asks for, up to its
// in-flight limit, with retries, the circuit breaker and dead letters) and checkpoints what was
// acknowledged (engine::ReactorStore). Blocking database work runs on the runner's own two
// threads, never on the I/O threads.
//
// Exactly one instance delivers for a reactor: a supervisor thread takes each reactor's advisory
// lock (engine::SessionLocks) when it is free; when this instance dies, its lock session goes and
// another instance's supervisor takes over from the committed checkpoint. At least once: an event
// sent but not yet checkpointed when the process dies is sent again, with the same Idempotency-Key.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "api/asio.hpp"
#include "engine/session_locks.hpp"
#include "engine/reactor_store.hpp"

namespace reproj::api {

class ReactorMetrics;

struct ReactorRunnerOptions {
  std::chrono::milliseconds poll{200};       // an idle reactor looks for new events (and pause/resume) this often
  std::chrono::milliseconds supervise{1000};  // how often free reactors are looked for and the lock session checked
  std::size_t batch = 100;                    // events read per query; acknowledged ones are checkpointed together
  std::string instance;                       // X-Reproj-Instance (default host:pid)
};

class ReactorRunner {
 public:
  /// `io` runs deliveries (the server's io_context); `metrics` may be null.
  ReactorRunner(engine::ReactorStore& store, const std::string& database_url, asio::io_context& io,
                ReactorMetrics* metrics, ReactorRunnerOptions options = {});
  ~ReactorRunner();
  ReactorRunner(const ReactorRunner&) = delete;
  ReactorRunner& operator=(const ReactorRunner&) = delete;

  void start();
  /// Stops taking reactors, ends every delivery loop (an in-flight request may finish; bounded by
  /// ten seconds) and releases the locks. Call before the io_context stops.
  void stop();

  /// Reactors this instance delivers for now.
  std::set<std::string> owned() const;

 private:
  void supervise();
  asio::awaitable<void> deliver_loop(std::string name, std::uint64_t epoch);
  bool current(std::uint64_t epoch) const { return !stopping_ && epoch == epoch_; }

  engine::ReactorStore& store_;
  engine::SessionLocks locks_;
  asio::io_context& io_;
  ReactorMetrics* metrics_;
  const ReactorRunnerOptions options_;
  asio::thread_pool db_{2};  // the composition root sizes the connection pool for these two
  std::thread supervisor_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> epoch_{1};  // bumped when the lock session is lost: older loops end
  std::atomic<int> loops_{0};
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::set<std::string> held_;    // locks this session holds; guarded by mutex_
  std::set<std::string> active_;  // names with a running loop; guarded by mutex_
  bool started_ = false;
};

}  // namespace reproj::api
