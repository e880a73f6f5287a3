#include "tests/support/pg_fixture.hpp"

#include <cstdlib>
#include <random>

#include <pqxx/pqxx>

#include "engine/migrations.hpp"

namespace reproj::test {

std::string with_database(const std::string& url, const std::string& dbname) {
  auto query = url.find('?');
  auto slash = url.rfind('/', query == std::string::npos ? url.size() : query);
  if (slash == std::string::npos || slash < url.find("://") + 3) throw std::runtime_error("bad DATABASE_URL: " + url);
  return url.substr(0, slash + 1) + dbname + (query == std::string::npos ? "" : url.substr(query));
}

std::set<std::string> data_tables(const std::string& url) {
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  std::set<std::string> out;
  for (const auto& r : tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'reproj_data'")) {
    out.insert(r[0].as<std::string>());
  }
  return out;
}

TestDatabase::TestDatabase() {
  const char* url = std::getenv("DATABASE_URL");
  if (!url || !*url) throw std::runtime_error("DATABASE_URL is not set: run the tests through scripts/test");
  admin_url_ = url;
  std::random_device rd;
  name_ = "reproj_test_" + std::to_string(rd()) + std::to_string(rd() % 1000);
  pqxx::connection admin{admin_url_};
  pqxx::nontransaction tx{admin};
  tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  url_ = with_database(admin_url_, name_);
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin{admin_url_};
    pqxx::nontransaction tx{admin};
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception&) {  // the cluster is torn down after the run anyway
  }
}

void PgTest::SetUp() {
  db_ = std::make_unique<TestDatabase>();
  engine::migrate(db_->url());
  pool_ = std::make_unique<engine::ConnectionPool>(db_->url(), 16);
}

}  // namespace reproj::test
