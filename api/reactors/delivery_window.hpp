#pragma once
// Which of a reactor's read events may be sent now, and where its checkpoint is: the scheduling
// state of one delivery pass, apart from sockets, the database and the clock (tests drive it with
// their own time). Not thread-safe: the reactor's strand owns it.
//
// Events are queued by an ordering key: one key for "global" (one in flight, log order), the stream
// for "stream" (log order within a stream), the event itself for "none". A key's head is sent when
// no other event of that key is in flight and its retry time has come, lowest position first, at
// most `limit` at once. A failed key waits alone; the others go on.
//
// The checkpoint is the position below which every read event is done (acknowledged or given up
// on); events done above it are reported once by take_done_above() for the caller to persist, and
// skipped when a restarted pass reads them again (reset()).

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "api/reactors/delivery_policy.hpp"
#include "engine/event.hpp"
#include "engine/reactor.hpp"

namespace reproj::api {

class DeliveryWindow {
 public:
  struct Pending {
    engine::Event event;
    int attempts = 0;     // requests sent for it, earlier passes included (retried dead letters)
    int failed = 0;       // failed requests in this pass (the retry schedule's n)
    bool retry = false;   // an operator's retry of a dead letter: not part of the checkpoint
  };

  /// Starts over at `checkpoint`, with the positions above it already done. `ordering` and `limit`
  /// apply from now.
  void reset(engine::ReactorConfig::Ordering ordering, int limit, std::int64_t checkpoint,
             const std::vector<std::int64_t>& done_above);
  /// Sets the number of requests in flight at most (a configuration change).
  void set_limit(int limit) { limit_ = limit; }

  /// Adds a read event (positions increasing, above the checkpoint); one already done is skipped.
  void add(engine::Event event);
  /// An operator's retry of a dead letter, with the attempts it had: sent like the others.
  void add_retry(engine::Event event, int attempts);
  /// Every matching event up to `position` was added: with none outstanding, the checkpoint is here.
  void read_to(std::int64_t position);
  std::int64_t read_position() const { return read_to_; }

  /// The event to send next, if one may go at `now`: marked in flight.
  std::optional<std::int64_t> take(Clock::time_point now);
  Pending& at(std::int64_t position) { return pending_.at(position); }

  /// The event in flight at `position` was acknowledged, or given up on: done.
  void done(std::int64_t position);
  /// The request for `position` failed: its key waits until `retry_at`, the others go on.
  void failed(std::int64_t position, Clock::time_point retry_at);
  /// An event in flight came back without a verdict (the pass is ending): it is sent again.
  void abandoned(std::int64_t position);

  /// When the earliest waiting key may be sent again.
  std::optional<Clock::time_point> next_retry() const;
  std::int64_t checkpoint() const;
  /// Positions done above the checkpoint since the last call (those at or below it need no record).
  std::vector<std::int64_t> take_done_above();

  std::size_t outstanding() const { return outstanding_.size(); }  // read, not done (retries excluded)
  bool idle() const { return pending_.empty(); }
  int in_flight() const { return in_flight_; }
  int backing_off() const { return static_cast<int>(waiting_.size()); }

 private:
  struct Queue {
    std::deque<std::int64_t> positions;
    bool busy = false;      // its head is in flight
    bool waiting = false;   // its head waits for a retry time
  };
  std::string key_of(const engine::Event& e) const;
  void enqueue(std::int64_t position);
  void release(std::int64_t position, bool finished);

  engine::ReactorConfig::Ordering ordering_ = engine::ReactorConfig::Ordering::kStream;
  int limit_ = 1;
  int in_flight_ = 0;
  std::int64_t read_to_ = 0;
  std::map<std::int64_t, Pending> pending_;
  std::set<std::int64_t> outstanding_;
  std::unordered_set<std::int64_t> done_above_;          // skip these when read again
  std::vector<std::int64_t> newly_done_;
  std::unordered_map<std::string, Queue> queues_;
  std::unordered_map<std::int64_t, std::string> key_;      // position -> its key
  std::set<std::pair<std::int64_t, std::string>> ready_;  // (head position, key)
  std::set<std::pair<Clock::time_point, std::string>> waiting_;
};

}  // namespace reproj::api
