#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace reproj::engine {

/// A bounded pool of PostgreSQL connections, opened lazily. Thread-safe. A connection is used by
/// one thread at a time through a Lease; a connection that broke is dropped, not returned.
class ConnectionPool {
 public:
  /// Throws nothing: connections are opened on first use.
  ConnectionPool(std::string database_url, std::size_t size);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() const { return *conn_; }
    pqxx::connection* operator->() const { return conn_.get(); }
    /// The connection is broken or in an unknown state: close it instead of returning it.
    void discard() { discard_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    bool discard_ = false;
  };

  /// Waits up to `wait` for a free slot. Throws DatabaseUnavailable when none frees up in time or
  /// a new connection cannot be opened.
  Lease acquire(std::chrono::milliseconds wait = std::chrono::seconds(10));

  /// Runs `work(conn)` on a leased connection; connection loss discards it and surfaces as
  /// DatabaseUnavailable (see detail/connect.hpp).
  template <class Work>
  auto run(Work&& work) -> decltype(work(std::declval<pqxx::connection&>()));

  const std::string& database_url() const { return database_url_; }

 private:
  void give_back(std::unique_ptr<pqxx::connection> conn, bool discard);

  const std::string database_url_;
  const std::size_t size_;
  std::mutex mutex_;
  std::condition_variable freed_;
  // State below is protected by mutex_.
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t open_ = 0;  // idle + leased
};

}  // namespace reproj::engine
