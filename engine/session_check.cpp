#include "engine/session_check.hpp"

#include <random>

#include <pqxx/pqxx>

#include "engine/detail/connect.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

namespace {

constexpr int kProbes = 3;

int backend_pid(pqxx::connection& conn) {
  return detail::exec_session(conn, "SELECT pg_backend_pid()")[0][0].as<int>();
}

[[noreturn]] void refuse(const std::string& evidence) {
  throw UnsupportedDeployment(
      "the database connection does not keep its session (" + evidence +
      "). This is what a connection pooler in transaction or statement mode does (PgBouncer pool_mode = "
      "transaction). reproj keeps prepared statements, session advisory locks and LISTEN on its "
      "connections, so it needs a direct connection to PostgreSQL or PgBouncer with pool_mode = session");
}

}  // namespace

void require_session_connections(const std::string& database_url) {
  detail::translate_errors([&] {
    auto probe = detail::connect(database_url);
    const int pid = backend_pid(*probe);
    const std::string mark = std::to_string(std::random_device{}()) + "-" + std::to_string(pid);
    detail::exec_session(*probe, "SET reproj.session_probe = " + probe->quote(mark));
    // A transaction pooler returns the probe's backend to its pool after each statement, and the
    // next client transaction is given the most recently freed backend: the probe's.
    for (int i = 0; i < kProbes; ++i) {
      auto other = detail::connect(database_url);
      if (const int other_pid = backend_pid(*other); other_pid == pid) {
        refuse("another client connection was given its backend, pid " + std::to_string(pid));
      }
      const auto r = detail::exec_session(
          *probe, "SELECT pg_backend_pid(), coalesce(current_setting('reproj.session_probe', true), '')");
      if (const int now = r[0][0].as<int>(); now != pid) {
        refuse("its backend changed from pid " + std::to_string(pid) + " to " + std::to_string(now));
      }
      if (r[0][1].as<std::string>() != mark) refuse("a session setting was lost between two transactions");
    }
  });
}

}  // namespace reproj::engine
