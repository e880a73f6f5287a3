#include "engine/session_locks.hpp"

#include <pqxx/pqxx>

#include "engine/detail/connect.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

SessionLocks::SessionLocks(std::string database_url, int lock_class)
    : url_(std::move(database_url)), lock_class_(lock_class) {}
SessionLocks::~SessionLocks() = default;

void SessionLocks::reconnect() {
  std::lock_guard lock{mutex_};
  conn_.reset();
  pid_ = 0;
  conn_ = detail::connect(url_);
  pid_ = conn_->backendpid();
}

bool SessionLocks::try_acquire(const std::string& name) {
  std::lock_guard lock{mutex_};
  if (!conn_) throw DatabaseUnavailable("the lock session is not open");
  try {
    pqxx::nontransaction tx{*conn_};
    return tx.exec_params("SELECT pg_try_advisory_lock($1, hashtext($2))", lock_class_, name)[0][0].as<bool>();
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    throw DatabaseUnavailable(std::string{"the lock session broke: "} + e.what());
  }
}

void SessionLocks::release(const std::string& name) {
  std::lock_guard lock{mutex_};
  if (!conn_) return;
  try {
    pqxx::nontransaction tx{*conn_};
    tx.exec_params("SELECT pg_advisory_unlock($1, hashtext($2))", lock_class_, name);
  } catch (const std::exception&) {
    conn_.reset();  // gone with the session
  }
}

bool SessionLocks::alive() {
  std::lock_guard lock{mutex_};
  if (!conn_) return false;
  try {
    pqxx::nontransaction tx{*conn_};
    tx.exec("SELECT 1");
    return true;
  } catch (const std::exception&) {
    conn_.reset();
    return false;
  }
}

int SessionLocks::pid() const {
  std::lock_guard lock{mutex_};
  return pid_;
}

}  // namespace reproj::engine
