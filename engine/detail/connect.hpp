#pragma once
// Connection helpers shared by engine/*.cpp. Not part of the engine's public interface.

#include <memory>
#include <string>
#include <utility>

#include <pqxx/pqxx>

#include "engine/errors.hpp"

namespace reproj::engine::detail {

/// Opens a connection; a failure to connect becomes DatabaseUnavailable.
std::unique_ptr<pqxx::connection> connect(const std::string& database_url);

/// Runs one statement outside any transaction object (autocommit), e.g. session advisory locks.
pqxx::result exec_session(pqxx::connection& conn, const std::string& sql);

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
