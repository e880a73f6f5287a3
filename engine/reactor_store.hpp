#pragma once
// Reactors in PostgreSQL (reproj.reactors, reproj.reactor_dead_letters): what operators do to them
// and what a deliverer records. Thread-safe (each call leases its own connection).
//
// The checkpoint is moved only by compare-and-set (from the position the deliverer read) and only
// while the deliverer's lock session still holds the reactor's advisory lock (SessionLocks): a
// deliverer that lost its lock or raced an operator's reset cannot move it, so it never skips an
// event; at worst an event is sent again, under the same Idempotency-Key.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/event.hpp"
#include "engine/reactor.hpp"

namespace reproj::engine {

class ConnectionPool;

class ReactorStore {
 public:
  explicit ReactorStore(ConnectionPool& pool) : pool_(pool) {}

  enum class PutResult { kCreated, kUnchanged, kChanged };
  /// Creates `name` at `start` (nullopt: the log's tail, "now"; else after that position, 0 = the
  /// beginning), or replaces its configuration (then `start` is ignored: reset moves a reactor).
  /// Throws InvalidInput for a bad name or a start past the log's tail.
  PutResult put(const std::string& name, const ReactorConfig& config, std::optional<std::int64_t> start);
  std::vector<ReactorInfo> list();
  /// Throws NotFound.
  ReactorInfo get(const std::string& name);
  /// Deletes the reactor and its dead letters. Throws NotFound.
  void remove(const std::string& name);
  /// "paused", or "running" (resume: also from stopped; the circuit closes, failures reset).
  ReactorInfo set_state(const std::string& name, const std::string& state);
  /// Moves the checkpoint to `position` (0 ..= tail): events after it are delivered (again), those
  /// acknowledged above the old checkpoint too.
  ReactorInfo reset(const std::string& name, std::int64_t position);

  /// Dead letters by position: those after `after_position`, at most `limit`. Throws NotFound.
  std::vector<DeadLetter> dead_letters(const std::string& name, std::int64_t after_position, std::size_t limit);
  /// Marks one for one more delivery (status retrying). Throws NotFound.
  DeadLetter retry_dead_letter(const std::string& name, const std::string& event_id);
  /// Throws NotFound.
  void delete_dead_letter(const std::string& name, const std::string& event_id);

  // ---- for the deliverer ----------------------------------------------------------------------

  /// What a deliverer does next: the configuration and state, the events after `after` (nullopt:
  /// the checkpoint) that match (at most `limit`, in log order, never past the safe tail), and dead
  /// letters an operator asked to retry (with their events).
  struct Work {
    ReactorInfo reactor;
    std::vector<Event> events;
    bool complete = false;  // `events` are all matching events in (after, tail]
    std::vector<std::int64_t> acknowledged;  // only when reading from the checkpoint: done above it
    std::vector<Event> retries;
    std::vector<int> retry_attempts;  // attempts so far, one per entry of `retries`
  };
  /// nullopt: the reactor was deleted.
  std::optional<Work> next_work(const std::string& name, std::optional<std::int64_t> after, std::size_t limit);

  /// What a deliverer did since it last checkpointed.
  struct Progress {
    struct Dead {
      Event event;
      int attempts = 0;
      std::string error;
    };
    std::int64_t from = 0;                 // the checkpoint as this deliverer last stored it
    std::int64_t to = 0;                   // every event at or below it is done (>= from)
    std::vector<std::int64_t> done_above;  // newly acknowledged or dead-lettered positions above `to`
    std::int64_t delivered = 0;            // acknowledged since the last call
    std::vector<Dead> dead;                // given up on since the last call
    int in_flight = 0;
    int backing_off = 0;
  };
  /// In one transaction: moves the checkpoint from `from` to `to`, records the dead letters and the
  /// positions done above `to` (those at or below it are forgotten), if the checkpoint is still at
  /// `from` and the session with pid `lock_pid` holds the reactor's lock. False otherwise (an
  /// operator's reset, or the lock lost): nothing is written.
  bool checkpoint(const std::string& name, const Progress& progress, int lock_pid);
  /// What an operator last told a reactor: its stored state (running, paused, stopped) and
  /// configuration. A deliverer reads it between deliveries, so a pause or a new URL applies there.
  struct Control {
    std::string state;
    ReactorConfig config;
  };
  /// nullopt when the reactor is gone.
  std::optional<Control> control(const std::string& name);
  /// Stops the reactor at an event it gave up on (on_failure "stop"): the checkpoint stays before it.
  void stop_at(const std::string& name, const std::string& error);
  /// Records the deliverer's view of the receiver: circuit, consecutive failures, last error (empty:
  /// keep) and when the next request goes (ms from now; negative: none). Returns its control, or
  /// nullopt when the reactor is gone.
  std::optional<Control> record_health(const std::string& name, const std::string& circuit, int failures,
                                           const std::string& error, std::int64_t next_attempt_in_ms);
  /// A retried dead letter: delivered (the row goes) or dead again with `attempts` and `error`.
  void retried(const std::string& name, const std::string& event_id, bool delivered, int attempts,
               const std::string& error);

 private:
  ConnectionPool& pool_;
};

}  // namespace reproj::engine
