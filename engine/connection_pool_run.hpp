#pragma once
// ConnectionPool::run, separate so only users that run pqxx work include pqxx.

#include <pqxx/pqxx>

#include "engine/connection_pool.hpp"
#include "engine/detail/connect.hpp"

namespace reproj::engine {

template <class Work>
auto ConnectionPool::run(Work&& work) -> decltype(work(std::declval<pqxx::connection&>())) {
  auto lease = acquire();
  try {
    return detail::translate_errors([&]() -> decltype(auto) { return work(*lease); });
  } catch (const DatabaseUnavailable&) {
    lease.discard();
    throw;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "57014") throw Interrupted(std::string{"the database cancelled the statement: "} + e.what());
    throw;
  }
}

}  // namespace reproj::engine
