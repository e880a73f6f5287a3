#pragma once
// The throwaway-cluster fixture: scripts/test starts a cluster and exports DATABASE_URL; each test
// gets a database of its own, created here and dropped after.

#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "engine/connection_pool.hpp"

namespace reproj::test {

/// A fresh, empty database on the throwaway cluster; dropped (with its connections) on destruction.
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

/// Tables in the projection schema (live, shadow, retired) of the database at `url`.
std::set<std::string> data_tables(const std::string& url);

/// `url` with its database name replaced by `dbname`.
std::string with_database(const std::string& url, const std::string& dbname);

/// Base fixture: a migrated database and a pool on it.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<engine::ConnectionPool> pool_;
};

}  // namespace reproj::test
