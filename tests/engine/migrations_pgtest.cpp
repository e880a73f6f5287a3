#include "engine/migrations.hpp"

#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/errors.hpp"
#include "tests/support/pg_fixture.hpp"

using namespace reproj;

namespace {
std::int64_t count(const std::string& url, const std::string& sql) {
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  return tx.exec(sql)[0][0].as<std::int64_t>();
}
}  // namespace

TEST(Migrations, EmptyDatabaseReachesLatestAndRerunIsNoOp) {
  test::TestDatabase db;
  const auto& files = engine::embedded_migrations();
  ASSERT_FALSE(files.empty());
  auto first = engine::migrate(db.url());
  EXPECT_EQ(first.applied.size(), files.size());
  EXPECT_EQ(first.latest_version, files.back().version);
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM reproj.schema_migrations"), static_cast<std::int64_t>(files.size()));
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM reproj.events"), 0);

  auto second = engine::migrate(db.url());
  EXPECT_TRUE(second.applied.empty()) << "a re-run applied " << second.applied.size() << " files";
  EXPECT_EQ(second.latest_version, files.back().version);
}

TEST(Migrations, ConcurrentRunnersApplyEachFileOnce) {
  test::TestDatabase db;
  constexpr int kRunners = 6;
  std::vector<std::future<engine::MigrationReport>> runs;
  for (int i = 0; i < kRunners; ++i) {
    runs.push_back(std::async(std::launch::async, [&] { return engine::migrate(db.url()); }));
  }
  std::size_t applied = 0;
  for (auto& r : runs) applied += r.get().applied.size();
  EXPECT_EQ(applied, engine::embedded_migrations().size()) << "files applied across " << kRunners << " runners";
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM reproj.schema_migrations"),
            static_cast<std::int64_t>(engine::embedded_migrations().size()));
}

TEST(Migrations, EditedAppliedFileIsRefusedNamingIt) {
  test::TestDatabase db;
  std::vector<engine::MigrationSource> files{{1, "0001_first.sql", "CREATE TABLE reproj.t1 (x int);"},
                                             {2, "0002_second.sql", "CREATE TABLE reproj.t2 (x int);"}};
  engine::migrate(db.url(), files);
  files[1].sql = "CREATE TABLE reproj.t2 (x int, y int);";
  files.push_back({3, "0003_third.sql", "CREATE TABLE reproj.t3 (x int);"});
  try {
    engine::migrate(db.url(), files);
    FAIL() << "an edited migration was accepted";
  } catch (const engine::MigrationChecksumMismatch& e) {
    EXPECT_NE(std::string{e.what()}.find("0002_second.sql"), std::string::npos) << e.what();
  }
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM pg_tables WHERE schemaname='reproj' AND tablename='t3'"), 0)
      << "a later file ran after the refusal";
}

TEST(Migrations, FailingFileLeavesNoRecordAndNoPartialChange) {
  test::TestDatabase db;
  std::vector<engine::MigrationSource> files{
      {1, "0001_bad.sql", "CREATE TABLE reproj.half (x int); SELECT 1/0;"}};
  EXPECT_THROW(engine::migrate(db.url(), files), std::exception);
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM reproj.schema_migrations"), 0);
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM pg_tables WHERE tablename='half'"), 0);
}
