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
  }
}

}  // namespace reproj::engine::detail
