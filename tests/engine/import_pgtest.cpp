#include <sstream>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "tests/support/pg_fixture.hpp"

using namespace reproj;

namespace {
class ImportTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    store_ = std::make_unique<engine::EventStore>(*pool_);
  }
  std::unique_ptr<engine::EventStore> store_;
};

std::string line(int i) {
  return R"({"event_id":"ev-)" + std::to_string(i) + R"(","stream_id":"car-)" + std::to_string(i % 997) +
         R"(","type":"car.repainted","data":{"color":"c)" + std::to_string(i) + R"(\ttab"}})" + "\n";
}
}  // namespace

TEST_F(ImportTest, HundredThousandLinesImportWithStreamVersionsInOrder) {
  store_->append("car-5", engine::ExpectedVersion::any(), {{"pre-1", "car.created", {{"by", "Alice"}}, {}}});
  std::stringstream in;
  for (int i = 0; i < 100'000; ++i) in << line(i);
  in << R"({"stream_id":"no-id","type":"x","data":{},"metadata":{"m":1}})" << "\n\n";
  auto report = store_->import_ndjson(in);
  EXPECT_EQ(report.events, 100'001);
  EXPECT_EQ(report.first_position, 2);
  EXPECT_EQ(report.last_position, 100'002);

  pqxx::connection c{db_->url()};
  pqxx::read_transaction tx{c};
  EXPECT_EQ(tx.exec("SELECT count(*) FROM reproj.events")[0][0].as<int>(), 100'002);
  // car-5 had version 1 before the import, so its first imported event (ev-5) is version 2.
  EXPECT_EQ(tx.exec("SELECT stream_version FROM reproj.events WHERE event_id = 'ev-5'")[0][0].as<int>(), 2);
  EXPECT_EQ(tx.exec("SELECT max(stream_version) FROM reproj.events WHERE stream_id = 'car-5'")[0][0].as<int>(),
            1 + 101);  // i = 5, 1002, ... < 100000: 101 events
  EXPECT_EQ(tx.exec("SELECT data->>'color' FROM reproj.events WHERE event_id = 'ev-7'")[0][0].as<std::string>(),
            "c7\ttab");
  // Within each stream, versions follow positions.
  EXPECT_EQ(tx.exec("SELECT count(*) FROM (SELECT stream_version, row_number() OVER (PARTITION BY stream_id "
                    "ORDER BY global_position) AS rn FROM reproj.events) v WHERE stream_version <> rn")[0][0]
                .as<int>(),
            0);
  EXPECT_EQ(tx.exec("SELECT length(event_id) FROM reproj.events WHERE stream_id = 'no-id'")[0][0].as<int>(), 36);
}

TEST_F(ImportTest, OneBadLineInTheMiddleImportsNothingAndNamesTheLine) {
  struct Case {
    std::string bad;
    std::string reason;
  };
  const std::vector<Case> cases{
      {"{\"stream_id\": \"s\", \"type\": \"x\", \"data\": {}", "invalid JSON"},
      {"{\"stream_id\": \"s\", \"data\": {}}", "missing \"type\""},
      {"{\"stream_id\": 5, \"type\": \"x\", \"data\": {}}", "\"stream_id\" must be a string"},
      {"{\"stream_id\": \"s\", \"type\": \"x\", \"data\": []}", "\"data\" must be a JSON object"},
      {"{\"stream_id\": \"s\", \"type\": \"x\", \"data\": {}, \"extra\": 1}", "unknown field 'extra'"},
      {"{\"event_id\": \"ev-3\", \"stream_id\": \"s\", \"type\": \"x\", \"data\": {}}", "already appears on line 4"},
      {"[1, 2]", "expected a JSON object"},
  };
  for (const auto& c : cases) {
    std::stringstream in;
    for (int i = 0; i < 5000; ++i) in << (i == 2500 ? c.bad + "\n" : line(i));
    try {
      store_->import_ndjson(in);
      ADD_FAILURE() << "accepted: " << c.bad;
    } catch (const engine::InvalidInput& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("line 2501"), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.reason), std::string::npos) << msg;
    }
    EXPECT_EQ(store_->safe_tail(), 0) << "a failed import wrote events: " << c.bad;
  }
}

TEST_F(ImportTest, EventIdAlreadyInTheLogImportsNothingAndNamesTheLine) {
  store_->append("s", engine::ExpectedVersion::any(), {{"ev-40", "x", nlohmann::json::object(), {}}});
  std::stringstream in;
  for (int i = 0; i < 100; ++i) in << line(i);
  try {
    store_->import_ndjson(in);
    FAIL() << "a duplicate of a logged event_id was imported";
  } catch (const engine::InvalidInput& e) {
    EXPECT_NE(std::string{e.what()}.find("line 41"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store_->safe_tail(), 1);
}

// The file is written a chunk (65,536 lines) at a time: an id taken by an earlier chunk is found by
// the log's constraint, and both lines are named, counting blank lines.
TEST_F(ImportTest, AnIdTakenInAnEarlierChunkNamesBothLinesAndImportsNothing) {
  std::stringstream in;
  in << "\n";  // line 1
  for (int i = 0; i < 140'000; ++i) {
    if (i == 70'000) in << "   \n";  // line 70,002
    in << (i == 130'000 ? line(5) : line(i));
  }
  try {
    store_->import_ndjson(in);
    FAIL() << "an id used twice was imported";
  } catch (const engine::InvalidInput& e) {
    EXPECT_NE(std::string{e.what()}.find("line 130003: event_id 'ev-5' already appears on line 7"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(store_->safe_tail(), 0);
}

// Into an empty log no stream is looked up: versions come from what the import wrote, across chunks.
TEST_F(ImportTest, IntoAnEmptyLogStreamVersionsContinueAcrossChunks) {
  std::stringstream in;
  for (int i = 0; i < 140'000; ++i) in << line(i);
  EXPECT_EQ(store_->import_ndjson(in).events, 140'000);
  pqxx::connection conn{db_->url()};
  pqxx::read_transaction tx{conn};
  EXPECT_EQ(tx.exec("SELECT count(*) FROM (SELECT stream_version, row_number() OVER (PARTITION BY stream_id "
                    "ORDER BY global_position) AS rn FROM reproj.events) v WHERE stream_version <> rn")[0][0]
                .as<int>(),
            0);
  EXPECT_EQ(tx.exec("SELECT max(stream_version) FROM reproj.events WHERE stream_id = 'car-5'")[0][0].as<int>(), 141);
}

// The memory of each stream's next version is bounded (EventStoreOptions::import_version_cache_bytes):
// emptied, it is rebuilt by asking the log, where earlier chunks of this import are already visible.
TEST_F(ImportTest, StreamVersionsStayRightWhenTheirMemoryIsEmptiedBetweenChunks) {
  engine::EventStoreOptions options;
  options.import_version_cache_bytes = 1;  // emptied before every chunk
  engine::EventStore store{*pool_, options};
  std::stringstream in;
  for (int i = 0; i < 140'000; ++i) in << line(i);  // three chunks, every stream in each
  EXPECT_EQ(store.import_ndjson(in).events, 140'000);
  pqxx::connection conn{db_->url()};
  pqxx::read_transaction tx{conn};
  EXPECT_EQ(tx.exec("SELECT count(*) FROM (SELECT stream_version, row_number() OVER (PARTITION BY stream_id "
                    "ORDER BY global_position) AS rn FROM reproj.events) v WHERE stream_version <> rn")[0][0]
                .as<int>(),
            0);
  EXPECT_EQ(tx.exec("SELECT max(stream_version) FROM reproj.events WHERE stream_id = 'car-5'")[0][0].as<int>(), 141);
}
