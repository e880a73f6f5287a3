#pragma once
// Which instance works for a reactor or a source: a PostgreSQL session advisory lock per name.

#include <memory>
#include <mutex>
#include <string>

#include <pqxx/connection>

namespace reproj::engine {

/// A reactor's lock is (kReactorLockClass, hashtext(name)), a source's (kSourceLockClass, ...). Two
/// names with one hash share a lock, which only means one instance works for both. ReactorStore
/// checks it when moving a checkpoint.
inline constexpr int kReactorLockClass = 7239100;
inline constexpr int kSourceLockClass = 7239101;

/// Session advisory locks of one class, one per name, held on one dedicated connection: the
/// instance that holds a reactor's (a source's) lock is its only deliverer (ingester), and the lock
/// goes when this connection does (process killed, network lost). Thread-safe.
class SessionLocks {
 public:
  SessionLocks(std::string database_url, int lock_class);
  ~SessionLocks();
  SessionLocks(const SessionLocks&) = delete;
  SessionLocks& operator=(const SessionLocks&) = delete;

  /// True when this session holds (or now took) `name`'s lock. Throws DatabaseUnavailable when the
  /// connection is gone (every lock with it: call reconnect()).
  bool try_acquire(const std::string& name);
  void release(const std::string& name);
  /// Checks the session; false when it is gone (then every lock is gone).
  bool alive();
  /// Opens a new session (holding nothing).
  void reconnect();
  /// The backend pid of the session holding the locks (ReactorStore::advance checks it).
  int pid() const;

 private:
  const std::string url_;
  const int lock_class_;
  mutable std::mutex mutex_;
  std::unique_ptr<pqxx::connection> conn_;  // guarded by mutex_
  int pid_ = 0;                             // guarded by mutex_
};

}  // namespace reproj::engine
