#include "engine/detail/connect.hpp"

#include <functional>

namespace reproj::engine::detail {

std::unique_ptr<pqxx::connection> connect(const std::string& database_url) {
  try {
    return std::make_unique<pqxx::connection>(database_url);
  } catch (const pqxx::broken_connection& e) {
    throw DatabaseUnavailable(std::string{"cannot connect to the database: "} + e.what());
  }
}

std::string prepared_name(const std::string& sql, std::string_view shape) {
  return "reproj_p" + std::to_string(std::hash<std::string>{}(sql) ^ (std::hash<std::string_view>{}(shape) << 1));
}

std::string execute_prepared(pqxx::connection_base& conn, const std::string& sql,
                             std::initializer_list<std::string> literals) {
  const std::string name = prepared_name(sql, "");
  conn.prepare(name, sql);
  conn.prepare_now(name);
  std::string out = "EXECUTE " + name + "(";
  for (const auto& l : literals) out += (out.back() == '(' ? "" : ", ") + l;
  return out + ")";
}

pqxx::result exec_session(pqxx::connection& conn, const std::string& sql) {
  pqxx::nontransaction tx{conn};
  return tx.exec(sql);
}

}  // namespace reproj::engine::detail
