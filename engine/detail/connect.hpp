#pragma once
// Connection helpers shared by engine/*.cpp. Not part of the engine's public interface.

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <pqxx/pqxx>

#include "engine/errors.hpp"

namespace reproj::engine::detail {

/// Opens a connection; a failure to connect becomes DatabaseUnavailable.
std::unique_ptr<pqxx::connection> connect(const std::string& database_url);

/// Runs one statement outside any transaction object (autocommit), e.g. session advisory locks.
pqxx::result exec_session(pqxx::connection& conn, const std::string& sql);

/// The name under which `sql` is prepared once per connection, a hash of `sql` and `shape`.
/// `shape` must name anything that changes the result type without changing the text (e.g. the
/// column types of a table a swap may rename into place): a prepared statement must keep its
/// result type.
std::string prepared_name(const std::string& sql, std::string_view shape);

/// Runs `sql` as a statement prepared once per connection (prepared_name). The apply path runs the
/// same few texts for every chunk, and planning them cost more than executing them.
template <class... Args>
pqxx::result exec_prepared_once(pqxx::transaction_base& tx, const std::string& sql, std::string_view shape,
                                Args&&... args) {
  const std::string name = prepared_name(sql, shape);
  tx.conn().prepare(name, sql);  // a no-op when this connection has it already
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

/// `EXECUTE` of `sql` prepared once per connection, with `literals` (quoted SQL literals) as its
/// parameters: a statement that can share one string, so one round trip, with others. Prepares it
/// with the server now if this connection has not (a round trip of its own, once).
std::string execute_prepared(pqxx::connection_base& conn, const std::string& sql,
                             std::initializer_list<std::string> literals);

/// A server shutting down or restarting (SQLSTATE 57P01-03) or a connection exception (class 08)
/// arrives as an SQL error before the socket closes: it is an outage, not a bad statement.
inline bool is_connection_loss(const pqxx::sql_error& e) {
  const std::string& s = e.sqlstate();
  return s.rfind("08", 0) == 0 || s.rfind("57P", 0) == 0;
}

/// Runs `work`, turning connection loss into DatabaseUnavailable so callers outside engine/
/// never see pqxx types.
template <class Work>
auto translate_errors(Work&& work) -> decltype(work()) {
  try {
    return std::forward<Work>(work)();
  } catch (const pqxx::broken_connection& e) {
    throw DatabaseUnavailable(std::string{"database connection lost: "} + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    throw DatabaseUnavailable(std::string{"database connection lost during commit: "} + e.what());
  } catch (const pqxx::sql_error& e) {
    if (is_connection_loss(e)) throw DatabaseUnavailable(std::string{"database going away: "} + e.what());
    throw;
  }
}

}  // namespace reproj::engine::detail
