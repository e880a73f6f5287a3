// Sources, kind kafka (issue 39): a topic of 3 partitions on librdkafka's mock cluster (in this
// process, on 127.0.0.1), ingested into the log exactly once, over the admin API as a user drives
// it. Checked against what was produced and an independent fold.
#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "tests/support/source_fixture.hpp"
#include "tests/support/http_load.hpp"
#include "tests/support/kafka_mock.hpp"
#include "tests/support/oracle.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;
using test::ApiTest;
using test::Json;
using namespace std::chrono_literals;

namespace {

class KafkaSourceTest : public test::SourceApiTest {
 protected:
  KafkaSourceTest() : SourceApiTest("kafka") {}
  void SetUp() override {
    SourceApiTest::SetUp();
    kafka_ = std::make_unique<test::KafkaMock>("events", 3);
  }
  void TearDown() override {
    SourceApiTest::TearDown();
    kafka_.reset();
  }
  std::string doc(const Json& extra = Json::object()) {
    Json d{{"kind", "kafka"},
           {"bootstrap_servers", kafka_->bootstraps()},
           {"topic", "events"},
           {"mapping", {{"stream_id", "$key"}, {"type", "$headers.type"}, {"data", "$value"}}}};
    for (const auto& [k, v] : extra.items()) d[k] = v;
    return d.dump();
  }
  // The demo's event as a record keyed by its stream id (so one stream stays in one partition).
  void produce(const std::pair<std::string, engine::NewEvent>& e) {
    kafka_->produce(-1, e.first, e.second.data.dump(), {{"type", e.second.type}});
  }
  // Each partition's records are in the log exactly once, offsets 0..n-1 in offset order, and
  // `total` in all.
  void expect_exactly_once(std::int64_t total) {
    pqxx::connection c{db_->url()};
    pqxx::read_transaction tx{c};
    std::map<int, std::vector<std::int64_t>> offsets;
    for (const auto& r : tx.exec("SELECT event_id FROM reproj.events WHERE metadata->>'source' = 'kafka' ORDER BY global_position")) {
      const auto id = r[0].as<std::string>();  // kafka:events:P:O
      const auto last = id.rfind(':');
      const auto before = id.rfind(':', last - 1);
      offsets[std::stoi(id.substr(before + 1, last - before - 1))].push_back(std::stoll(id.substr(last + 1)));
    }
    std::int64_t n = 0;
    for (const auto& [p, os] : offsets) {
      for (std::size_t i = 0; i < os.size(); ++i) {
        ASSERT_EQ(os[i], static_cast<std::int64_t>(i)) << "partition " << p << ": lost, doubled or out of order at " << i;
      }
      n += static_cast<std::int64_t>(os.size());
    }
    EXPECT_EQ(n, total);
    EXPECT_GT(offsets.size(), 1u) << "the records should spread over the partitions";
  }
  void expect_cars_match_fold() {
    const auto oracle = test::fold(*store_, 1, store_->safe_tail());
    EXPECT_TRUE(test::cars_match(test::all_rows(*live_, "cars"), oracle));
  }

  std::unique_ptr<test::KafkaMock> kafka_;
};

}  // namespace

TEST_F(KafkaSourceTest, InvalidDocumentsAreRefusedNamingEveryProblem) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {doc({{"bootstrap_servers", nullptr}}), "/bootstrap_servers"},
      {doc({{"topic", ""}}), "/topic"},
      {doc({{"url", "kafka://x"}}), "/url"},
      {doc({{"partitions", Json::array()}}), "/partitions"},
      {doc({{"partitions", {0, 0}}}), "/partitions/1"},
      {doc({{"partitions", {-1}}}), "/partitions/0"},
      {doc({{"properties", {{"group.id", "mine"}}}}), "/properties/group.id"},
      {doc({{"properties", {{"isolation.level", "read_uncommitted"}}}}), "/properties/isolation.level"},
      {doc({{"properties", {{"no.such.property", "1"}}}}), "/properties/no.such.property"},
      {doc({{"properties_env", {{"sasl.password", "REPROJ_TEST_NO_SUCH_VARIABLE"}}}}), "/properties_env/sasl.password"},
      {doc({{"mapping", {{"stream_id", "$field.x"}, {"type", "t"}, {"data", "$value"}}}}), "/mapping/stream_id"},
      {doc({{"mapping", {{"stream_id", "$key.x"}, {"type", "t"}, {"data", "$value"}}}}), "/mapping/stream_id"},
      {doc({{"partitions", {7}}}), "/partitions/0"},
  };
  for (const auto& [d, path] : bad) {
    auto r = call("PUT", "/admin/sources/kafka", d, true);
    EXPECT_EQ(r.status, 422u) << d << " -> " << r.body;
    const auto body = Json::parse(r.body);
    bool found = false;
    for (const auto& p : body["problems"]) found = found || p["path"] == path;
    EXPECT_TRUE(found) << "no problem at " << path << ": " << r.body;
  }
  EXPECT_EQ(rows("SELECT count(*) FROM reproj.sources"), 0) << "an invalid document was stored";
}

TEST_F(KafkaSourceTest, ThreePartitionsAreIngestedExactlyOnceInOffsetOrder) {
  ASSERT_EQ(call("PUT", "/admin/sources/kafka", doc({{"batch", 50}}), true).status, 201u);
  projections::EventGenerator gen{1000, 10};
  for (int i = 0; i < 600; ++i) produce(gen.next());
  kafka_->flush();
  wait_ingested(600);
  expect_exactly_once(600);
  // The status's tail is refreshed about once a second.
  const auto s = wait_for([](const Json& x) { return x["state"] == "live" && x["tail"] == 600; });
  EXPECT_EQ(s["lag"], 0) << s.dump();
  expect_cars_match_fold();
}

TEST_F(KafkaSourceTest, AStrongReadRightAfterAProducedRecordReflectsIt) {
  ASSERT_EQ(call("PUT", "/admin/sources/kafka", doc({{"sync_reads", true}}), true).status, 201u);
  for (int i = 0; i < 30; ++i) {
    const auto id = "car-kafka-" + std::to_string(i);
    kafka_->produce(-1, id, Json{{"by", "Ann"}, {"color", "c" + std::to_string(i)}}.dump(), {{"type", "car.created"}});
    kafka_->flush();  // acknowledged: the producer's write is done
    auto r = call("GET", "/cars/" + id);
    ASSERT_EQ(r.status, 200u) << "read " << i << " after its record: " << r.body;
    EXPECT_EQ(json(r)["color"], "c" + std::to_string(i));
  }
}

TEST_F(KafkaSourceTest, ReferencesReachTheRecordAndAValueThatIsNotJsonIsQuarantined) {
  ASSERT_EQ(call("PUT", "/admin/sources/kafka",
                 doc({{"partitions", {1}},
                      {"mapping", {{"stream_id", "$key"}, {"type", "$headers.type"}, {"data", {{"by", "$value.who.name"}, {"color", "red"}}},
                                   {"metadata", {{"partition", "$partition"}, {"offset", "$offset"}, {"at", "$timestamp"}}}}}}),
                 true)
                .status,
            201u);
  kafka_->produce(1, "car-k-1", R"({"who": {"name": "Kim"}})", {{"type", "car.created"}});
  kafka_->produce(1, "car-k-2", "{not json", {{"type", "car.created"}});
  kafka_->produce(1, "car-k-3", R"({"who": {}})", {{"type", "car.created"}});
  kafka_->produce(2, "car-k-4", R"({"who": {"name": "Other partition"}})", {{"type", "car.created"}});
  kafka_->flush();
  const auto s = wait_ingested(3);
  EXPECT_EQ(s["ingested"], 1) << s.dump();
  EXPECT_EQ(s["quarantined"], 2) << s.dump();
  auto q = json(call("GET", "/admin/sources/kafka/quarantine", "", true));
  ASSERT_EQ(q["items"].size(), 2u) << q.dump();
  EXPECT_EQ(q["items"][0]["position"], "events:1:1");
  EXPECT_NE(q["items"][0]["reason"].get<std::string>().find("not JSON"), std::string::npos) << q.dump();
  EXPECT_EQ(q["items"][0]["record"]["value"], "{not json");
  EXPECT_NE(q["items"][1]["reason"].get<std::string>().find("$value.who.name"), std::string::npos) << q.dump();
  pqxx::connection c{db_->url()};
  pqxx::read_transaction tx{c};
  auto r = tx.exec("SELECT data::text, metadata::text FROM reproj.events WHERE event_id = 'kafka:events:1:0'");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(Json::parse(r[0][0].as<std::string>()), (Json{{"by", "Kim"}, {"color", "red"}}));
  const auto meta = Json::parse(r[0][1].as<std::string>());
  EXPECT_EQ(meta["partition"], 1);
  EXPECT_EQ(meta["offset"], 0);
  EXPECT_GT(meta["at"].get<std::int64_t>(), 0);
  EXPECT_EQ(rows("SELECT count(*) FROM reproj.events WHERE event_id LIKE 'kafka:events:2:%'"), 0) << "partition 2 is not the source's";
}

TEST_F(KafkaSourceTest, ALeaderChangeAndKillingReprojLoseAndDoubleNothing) {
  // A child `reproj serve` ingests from the mock cluster in this process and is killed -9 again
  // and again, while a producer goes on and partition leaders move between brokers.
  sources_->stop();
  std::atomic<bool> producing{true};
  std::atomic<std::int64_t> produced{0};
  std::jthread producer{[&] {
    projections::EventGenerator gen{1100, 11};
    while (producing) {
      for (int i = 0; i < 10; ++i) produce(gen.next());
      produced += 10;
      std::this_thread::sleep_for(5ms);
    }
    kafka_->flush();
  }};
  std::mt19937 rng{3939};
  const std::string log = ::testing::TempDir() + "/kafka_source_kill.log";
  for (int round = 0; round < 5; ++round) {
    const int port = test::free_port();
    auto child = serve_child(port, log);
    ASSERT_TRUE(child) << "the server did not come up; see " << log;
    if (round == 0) {
      auto r = put_on(port, doc({{"batch", 40}}));
      ASSERT_EQ(r.status, 201u) << r.body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{200 + rng() % 400});
    kafka_->set_leader(static_cast<int>(round % 3), 1 + static_cast<int>(rng() % 3));
    std::this_thread::sleep_for(std::chrono::milliseconds{100 + rng() % 300});
    child->kill(SIGKILL);
    child->wait();
  }
  producing = false;
  producer.join();
  const auto n = produced.load();
  auto last = serve_child(test::free_port(), log);
  EXPECT_EQ(wait_stored_ingested(n), n);
  EXPECT_GT(n, 300) << "too few records produced to prove anything";
  expect_exactly_once(n);
}

// The topic feeds cars, which is rebuilt online (v1 -> v2) while records keep arriving and reads
// keep being answered; the promoted v2 equals an independent fold of the log.
TEST_F(KafkaSourceTest, CarsFedByATopicAreRebuiltOnlineWhileTheyServe) {
  ASSERT_EQ(call("PUT", "/admin/sources/kafka", doc({{"sync_reads", true}}), true).status, 201u);
  projections::EventGenerator gen{1200, 12};
  for (int i = 0; i < 400; ++i) produce(gen.next());
  kafka_->flush();
  wait_ingested(400);
  std::atomic<bool> running{true};
  std::atomic<int> failed{0}, reads{0};
  std::jthread reader{[&] {
    std::mt19937 pick{12};
    while (running) {
      auto r = call("GET", "/cars/car-1200-" + std::to_string(pick() % 80));
      ++reads;
      if (r.status != 200 && r.status != 404) ++failed;
    }
  }};
  auto started = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(started.status, 202u) << started.body;
  for (int i = 0; i < 400; ++i) {
    produce(gen.next());
    if (i % 50 == 0) kafka_->flush();
  }
  kafka_->flush();
  EXPECT_EQ(wait_rebuild(json(started)["rebuild_id"].get<std::int64_t>()), "done");
  wait_ingested(800);
  running = false;
  reader.join();
  EXPECT_EQ(failed, 0) << "of " << reads << " reads during the rebuild";
  EXPECT_GT(reads, 10);
  expect_exactly_once(800);
  auto r = call("GET", "/cars");  // a strong read: every record ingested and applied
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.headers["x-projection-version"], "2");
  const auto oracle = test::fold(*store_, 2, store_->safe_tail());
  EXPECT_TRUE(test::cars_match(test::all_rows(*live_, "cars"), oracle));
}

// A checkpoint the partition no longer holds (here: past its end, as after the topic was
// recreated; retention deleting records ahead of it is the same rule, which the mock cannot do)
// stops the source in state gap; under "skip" the gap is quarantined and reading goes on.
TEST_F(KafkaSourceTest, ACheckpointThePartitionNoLongerHoldsIsAGap) {
  ASSERT_EQ(call("PUT", "/admin/sources/kafka", doc({{"partitions", {0}}}), true).status, 201u);
  for (int i = 0; i < 5; ++i) {
    kafka_->produce(0, "car-gap-" + std::to_string(i), R"({"by": "G", "color": "grey"})", {{"type", "car.created"}});
  }
  kafka_->flush();
  wait_ingested(5);
  EXPECT_EQ(json(call("POST", "/admin/sources/kafka/pause", "", true))["state"], "paused");
  exec("UPDATE reproj.sources SET checkpoint = '{\"partitions\": {\"0\": 50}}', position = 50 WHERE name = 'kafka'");
  EXPECT_EQ(call("POST", "/admin/sources/kafka/resume", "", true).status, 200u);
  auto s = wait_for([](const Json& x) { return x["state"] == "gap"; });
  EXPECT_NE(s["last_error"].get<std::string>().find("from offset 50"), std::string::npos) << s.dump();
  EXPECT_NE(s["last_error"].get<std::string>().find("ends at offset 5"), std::string::npos) << s.dump();

  EXPECT_EQ(json(call("POST", "/admin/sources/kafka/pause", "", true))["state"], "paused");
  ASSERT_EQ(call("PUT", "/admin/sources/kafka", doc({{"partitions", {0}}, {"on_gap", "skip"}}), true).status, 200u);
  EXPECT_EQ(call("POST", "/admin/sources/kafka/resume", "", true).status, 200u);
  kafka_->produce(0, "car-gap-5", R"({"by": "G", "color": "grey"})", {{"type", "car.created"}});
  kafka_->flush();
  wait_for([](const Json& x) { return x["state"] == "live" && x["checkpoint"] == 6; });
  auto q = json(call("GET", "/admin/sources/kafka/quarantine", "", true));
  ASSERT_EQ(q["items"].size(), 1u) << q.dump();
  EXPECT_EQ(q["items"][0]["position"], "events:0:50..0");
  // Read again from the partition's start: the records the log holds already are not doubled.
  EXPECT_EQ(rows("SELECT count(*) FROM reproj.events WHERE metadata->>'source' = 'kafka'"), 6);
}

// The mock keeps about 5 MB a partition and deletes older records, as retention would: a source
// paused while more than that is produced finds its checkpoint below the partition's earliest
// record, and stops in state gap naming the records lost.
TEST_F(KafkaSourceTest, RecordsDeletedByRetentionBeforeTheyWereIngestedAreAGap) {
  ASSERT_EQ(call("PUT", "/admin/sources/kafka", doc({{"partitions", {0}}}), true).status, 201u);
  const std::string filler(100, 'x');
  auto car = [&](int i) {
    kafka_->produce(0, "car-r-" + std::to_string(i), Json{{"by", "R"}, {"color", "red"}, {"pad", filler}}.dump(),
                    {{"type", "car.created"}});
  };
  for (int i = 0; i < 10; ++i) car(i);
  kafka_->flush();
  wait_ingested(10);
  EXPECT_EQ(json(call("POST", "/admin/sources/kafka/pause", "", true))["state"], "paused");
  for (int i = 10; i < 80'000; ++i) car(i);
  kafka_->flush();
  EXPECT_EQ(call("POST", "/admin/sources/kafka/resume", "", true).status, 200u);
  const auto s = wait_for([](const Json& x) { return x["state"] == "gap"; });
  const auto why = s["last_error"].get<std::string>();
  EXPECT_NE(why.find("from offset 10"), std::string::npos) << why;
  EXPECT_NE(why.find("deleted (retention)"), std::string::npos) << why;
  EXPECT_EQ(s["ingested"], 10) << s.dump();
}
