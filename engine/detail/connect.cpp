#include "engine/detail/connect.hpp"

namespace reproj::engine::detail {

std::unique_ptr<pqxx::connection> connect(const std::string& database_url) {
  try {
    return std::make_unique<pqxx::connection>(database_url);
  } catch (const pqxx::broken_connection& e) {
    throw DatabaseUnavailable(std::string{"cannot connect to the database: "} + e.what());
  }
}

pqxx::result exec_session(pqxx::connection& conn, const std::string& sql) {
  pqxx::nontransaction tx{conn};
  return tx.exec(sql);
}

}  // namespace reproj::engine::detail
