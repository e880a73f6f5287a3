#pragma once
// PostgreSQL streaming replicas (hot standbys) that eventual reads may be served from. Projections,
// their watermarks and the log replicate in one WAL stream, so a standby holds a consistent snapshot
// of each projection at its own watermark; a read there is answered, or not, from that snapshot
// alone (LiveProjections::read, docs/DESIGN.md invariant 16). Nothing here decides what a primary
// decides: watermarks and the safe tail are computed on the primary only.
//
// A prober checks every replica every `probe_every`: reachable, still in recovery (a promoted one
// is out for good until it is a standby again), replay lag in bytes and seconds against the
// primary's WAL position. Only healthy replicas are in rotation; a read that fails on one takes it
// out until the next probe finds it well. Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace reproj::engine {

class ConnectionPool;

struct ReplicaOptions {
  std::chrono::milliseconds max_lag{5000};       // replay lag past which a replica leaves rotation
  std::chrono::milliseconds probe_every{500};
  std::size_t pool_size = 4;                     // connections per replica
};

class ReplicaSet {
 public:
  /// `primary` answers the probe's WAL position; `urls` are libpq URLs or key=value strings.
  /// Throws InvalidInput for one libpq cannot parse. Connects to nothing until start().
  ReplicaSet(ConnectionPool& primary, const std::vector<std::string>& urls, ReplicaOptions options = {});
  ~ReplicaSet();
  ReplicaSet(const ReplicaSet&) = delete;
  ReplicaSet& operator=(const ReplicaSet&) = delete;

  /// Probes once, then every probe_every on a thread of its own.
  void start();
  void stop();
  /// Probes every replica now (the prober's body).
  void probe();

  std::size_t size() const { return replicas_.size(); }
  /// The next healthy replica, round robin; nullopt when none is.
  std::optional<std::size_t> pick();
  ConnectionPool& pool(std::size_t i);
  const std::string& replica_name(std::size_t i) const;
  /// A read on replica i could not be done there (connection lost, cancelled by replay): out of
  /// rotation until the next probe finds it well.
  void failed(std::size_t i, const std::string& why);
  /// A read was answered by replica i / had to go to the primary (its watermark was below the
  /// read's min_position).
  void served(std::size_t i, std::size_t reads = 1);
  void behind(std::size_t i, std::size_t reads = 1);

  enum class State { kHealthy, kLagging, kDown, kNotInRecovery };
  static const char* name(State s);  // healthy | lagging | down | not_in_recovery
  struct Info {
    std::string name;  // replica-1, replica-2, ... in the order given
    std::string host;
    std::string port;
    State state = State::kDown;
    std::int64_t lag_bytes = 0;
    double lag_seconds = 0;
    std::int64_t reads = 0;   // answered there
    std::int64_t behind = 0;  // sent to the primary: below the read's min_position
    std::string error;        // why it is down or out; empty when healthy
  };
  std::vector<Info> info() const;

 private:
  struct Replica;
  void probe_one(Replica& r, const std::string& primary_lsn);

  ConnectionPool& primary_;
  const ReplicaOptions options_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::atomic<std::size_t> next_{0};
  std::thread prober_;
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

}  // namespace reproj::engine
