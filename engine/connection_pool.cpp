#include "engine/connection_pool.hpp"

#include <pqxx/pqxx>

#include "engine/detail/connect.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

ConnectionPool::ConnectionPool(std::string database_url, std::size_t size)
    : database_url_(std::move(database_url)), size_(size == 0 ? 1 : size) {}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), discard_(other.discard_) {}

ConnectionPool::Lease::~Lease() {
  if (conn_) pool_->give_back(std::move(conn_), discard_);
}

ConnectionPool::Lease ConnectionPool::acquire(std::chrono::milliseconds wait) {
  {
    std::unique_lock lock{mutex_};
    if (!freed_.wait_for(lock, wait, [&] { return !idle_.empty() || open_ < size_; })) {
      throw DatabaseUnavailable("no database connection free within " + std::to_string(wait.count()) + " ms");
    }
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease{this, std::move(conn)};
    }
    ++open_;  // reserve the slot, connect outside the lock
  }
  try {
    return Lease{this, detail::connect(database_url_)};
  } catch (...) {
    std::scoped_lock lock{mutex_};
    --open_;
    freed_.notify_one();
    throw;
  }
}

void ConnectionPool::give_back(std::unique_ptr<pqxx::connection> conn, bool discard) {
  // A connection left inside a failed COPY or with a dead socket must not be reused.
  if (discard || !conn->is_open()) conn.reset();
  std::scoped_lock lock{mutex_};
  if (conn) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  freed_.notify_one();
}

}  // namespace reproj::engine
