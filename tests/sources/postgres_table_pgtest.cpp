// Sources, kind postgres_table (issue 38): a table another application writes, ingested into the
// log exactly once and in commit-safe order, over the admin API as a user drives it. Checked against
// an independent fold of what the application wrote.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/support/source_fixture.hpp"
#include "tests/support/oracle.hpp"
#include "tests/support/process.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/http_load.hpp"

using namespace reproj;
using test::ApiTest;
using test::Json;
using namespace std::chrono_literals;

namespace {

// The application's own log: an identity position and the writing transaction's id, as Emmett's
// emt_messages has them.
constexpr const char* kAppTable =
    "CREATE SCHEMA app; CREATE TABLE app.messages ("
    " global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),"
    " stream_id text, message_type text NOT NULL, message_data jsonb NOT NULL, message_id text);"
    "CREATE INDEX ON app.messages (transaction_id, global_position)";

std::string source_doc(const Json& extra = Json::object()) {
  Json d{{"kind", "postgres_table"},
         {"table", "app.messages"},
         {"position", "global_position"},
         {"order", {{"xid", "transaction_id"}}},
         {"mapping", {{"stream_id", "$col.stream_id"}, {"type", "$col.message_type"}, {"data", "$col.message_data"}}},
         {"start", "beginning"}};
  for (const auto& [k, v] : extra.items()) d[k] = v;
  return d.dump();
}

class SourceTest : public test::SourceApiTest {
 protected:
  SourceTest() : SourceApiTest("app") {}
  void SetUp() override {
    SourceApiTest::SetUp();
    exec(kAppTable);
  }
  // Writes `n` generated events as the application would, one transaction each (or `per_tx`).
  void write(projections::EventGenerator& gen, int n, int per_tx = 1) {
    pqxx::connection c{db_->url()};
    for (int i = 0; i < n; i += per_tx) {
      pqxx::work tx{c};
      for (int k = 0; k < per_tx && i + k < n; ++k) insert(tx, gen.next());
      tx.commit();
    }
  }
  static void insert(pqxx::transaction_base& tx, const std::pair<std::string, engine::NewEvent>& e) {
    tx.exec_params("INSERT INTO app.messages (stream_id, message_type, message_data) VALUES ($1, $2, $3::jsonb)", e.first,
                   e.second.type, e.second.data.dump());
  }
  // Every application row is in the log exactly once, as "app:{position}", in (xid, position) order.
  void expect_exactly_once() {
    pqxx::connection c{db_->url()};
    pqxx::read_transaction tx{c};
    auto missing = tx.exec(
        "SELECT count(*) FROM app.messages m WHERE NOT EXISTS (SELECT 1 FROM reproj.events e "
        "WHERE e.event_id = 'app:' || m.global_position)")[0][0].as<std::int64_t>();
    auto doubled = tx.exec(
        "SELECT count(*) FROM (SELECT metadata->>'source_position' FROM reproj.events WHERE metadata->>'source' = 'app' "
        "GROUP BY 1 HAVING count(*) > 1) d")[0][0].as<std::int64_t>();
    auto extra = tx.exec(
        "SELECT count(*) FROM reproj.events e WHERE metadata->>'source' = 'app' AND NOT EXISTS "
        "(SELECT 1 FROM app.messages m WHERE e.event_id = 'app:' || m.global_position)")[0][0].as<std::int64_t>();
    EXPECT_EQ(missing, 0) << "application rows never ingested";
    EXPECT_EQ(doubled, 0) << "application rows ingested twice";
    EXPECT_EQ(extra, 0) << "events with no application row";
    // Commit-safe order: the log holds the rows in (transaction_id, global_position) order.
    auto disorder = tx.exec(
        "SELECT count(*) FROM (SELECT m.transaction_id, m.global_position, lag(m.transaction_id) OVER w AS pt, "
        "lag(m.global_position) OVER w AS pp FROM reproj.events e JOIN app.messages m ON e.event_id = 'app:' || "
        "m.global_position WINDOW w AS (ORDER BY e.global_position)) x "
        "WHERE (transaction_id, global_position) < (pt, pp)")[0][0].as<std::int64_t>();
    EXPECT_EQ(disorder, 0) << "events out of the source's commit-safe order";
  }
  // cars v1 served equals a fold of what the application wrote, in the log's order.
  void expect_cars_match_fold() {
    const auto tail = store_->safe_tail();
    const auto oracle = test::fold(*store_, 1, tail);
    const auto served = test::all_rows(*live_, "cars");
    EXPECT_TRUE(test::cars_match(served, oracle));
  }
};

}  // namespace

TEST_F(SourceTest, InvalidDocumentsAreRefusedNamingEveryProblemAndNothingIsStored) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"{not json", ""},
      {"[1]", ""},
      {R"({"kind": "mongodb", "mapping": {}})", "/kind"},
      {R"({"mapping": {}})", "/kind"},
      {source_doc({{"colour", 1}}), "/colour"},
      {source_doc({{"table", nullptr}}), "/table"},
      {source_doc({{"table", "app.messages; DROP TABLE x"}}), "/table"},
      {source_doc({{"position", 7}}), "/position"},
      {source_doc({{"order", "position"}}), "/order"},
      {source_doc({{"order", {{"xid", "nope"}}}}), "/order/xid"},
      {source_doc({{"order", {{"xid", "message_type"}}}}), "/order/xid"},
      {source_doc({{"table", "app.nothing"}}), "/table"},
      {source_doc({{"position", "message_type"}}), "/position"},
      {source_doc({{"mapping", {{"stream_id", "$col.stream_id"}, {"type", "$col.message_type"}}}}), "/mapping/data"},
      {source_doc({{"mapping", {{"stream_id", "$field.x"}, {"type", "$col.message_type"}, {"data", "$record"}}}}),
       "/mapping/stream_id"},
      {source_doc({{"mapping", {{"stream_id", "$col"}, {"type", "$col.message_type"}, {"data", "$record"}}}}),
       "/mapping/stream_id"},
      {source_doc({{"mapping", {{"stream_id", "$col.stream_id"}, {"type", "$col.kind"}, {"data", "$record"}}}}), "/mapping"},
      {source_doc({{"mapping", {{"stream_id", "$col.stream_id"}, {"type", "t"}, {"data", "$record"}, {"x", 1}}}}),
       "/mapping/x"},
      {source_doc({{"start", "yesterday"}}), "/start"},
      {source_doc({{"poison", "ignore"}}), "/poison"},
      {source_doc({{"batch", 0}}), "/batch"},
      {source_doc({{"sync_reads", "yes"}}), "/sync_reads"},
      {source_doc({{"url", "postgresql://x"}, {"url_env", "X"}}), "/url"},
  };
  for (const auto& [doc, path] : bad) {
    auto r = call("PUT", "/admin/sources/app", doc, true);
    EXPECT_EQ(r.status, 422u) << doc << " -> " << r.body;
    const auto body = Json::parse(r.body);
    EXPECT_EQ(body["error"], "invalid_source") << r.body;
    ASSERT_TRUE(body["problems"].is_array() && !body["problems"].empty()) << r.body;
    const auto n = body["problems"].size();
    EXPECT_EQ(body["message"], "the source document has " + std::to_string(n) + (n == 1 ? " problem" : " problems"));
    if (!path.empty()) {
      bool found = false;
      for (const auto& p : body["problems"]) found = found || p["path"] == path;
      EXPECT_TRUE(found) << "no problem at " << path << ": " << r.body;
    }
  }
  EXPECT_EQ(call("PUT", "/admin/sources/BadName", source_doc(), true).status, 422u);
  EXPECT_EQ(call("PUT", "/admin/sources/app", source_doc()).status, 401u);
  EXPECT_EQ(rows("SELECT count(*) FROM reproj.sources"), 0) << "an invalid document was stored";
  EXPECT_EQ(call("GET", "/admin/sources/app", "", true).status, 404u);
}

TEST_F(SourceTest, PutIsIdempotentAndAnotherDocumentNeedsAPause) {
  auto created = call("PUT", "/admin/sources/app", source_doc(), true);
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(json(created)["name"], "app");
  EXPECT_EQ(json(created)["kind"], "postgres_table");
  EXPECT_EQ(call("PUT", "/admin/sources/app", source_doc(), true).status, 200u);
  const auto other = source_doc({{"batch", 10}});
  auto conflict = call("PUT", "/admin/sources/app", other, true);
  EXPECT_EQ(conflict.status, 409u) << conflict.body;
  EXPECT_EQ(call("POST", "/admin/sources/app/pause", "", true).status, 200u);
  EXPECT_EQ(json(call("GET", "/admin/sources/app", "", true))["state"], "paused");
  EXPECT_EQ(call("PUT", "/admin/sources/app", other, true).status, 200u);
  auto list = json(call("GET", "/admin/sources", "", true));
  ASSERT_EQ(list["items"].size(), 1u);
  for (const char* key : {"name", "kind", "state", "checkpoint", "tail", "lag", "records_per_second", "eta_seconds",
                          "ingested", "quarantined", "last_error"}) {
    EXPECT_TRUE(list["items"][0].contains(key)) << key << " missing: " << list.dump();
  }
  EXPECT_EQ(call("DELETE", "/admin/sources/app", "", true).status, 204u);
  EXPECT_EQ(call("DELETE", "/admin/sources/app", "", true).status, 404u);
}

TEST_F(SourceTest, ConcurrentWritersAreIngestedExactlyOnceInCommitSafeOrder) {
  // Small batches: most are full, so the next one is read while one is written (Ingester's read
  // ahead) while the writers commit out of order.
  ASSERT_EQ(call("PUT", "/admin/sources/app", source_doc({{"batch", 7}}), true).status, 201u);
  // 8 writers, transactions of 1-5 rows that commit out of position order.
  std::vector<std::jthread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([this, w] {
      projections::EventGenerator gen{w + 200, static_cast<unsigned>(w)};
      write(gen, 400, 1 + w % 5);
    });
  }
  writers.clear();
  const auto n = rows("SELECT count(*) FROM app.messages");
  const auto s = wait_ingested(n);
  EXPECT_EQ(s["ingested"], n);
  EXPECT_EQ(s["quarantined"], 0);
  expect_exactly_once();
  expect_cars_match_fold();
  // Caught up: the state says so.
  for (int i = 0; i < 100 && source()["state"] != "live"; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(source()["state"], "live") << source().dump();
}

TEST_F(SourceTest, ARowBehindAnOpenTransactionIsNeitherSkippedNorIngestedEarly) {
  ASSERT_EQ(call("PUT", "/admin/sources/app", source_doc(), true).status, 201u);
  projections::EventGenerator gen{300, 3};
  pqxx::connection held{db_->url()};
  pqxx::work open{held};
  insert(open, gen.next());  // takes its xid and position first, commits last
  open.exec("SELECT 1");
  write(gen, 5);  // later transactions commit meanwhile
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(source()["ingested"], 0) << "rows ingested past a transaction still open: " << source().dump();
  open.commit();
  wait_ingested(6);
  expect_exactly_once();
}

TEST_F(SourceTest, AStrongReadSeesARowCommittedJustBefore) {
  ASSERT_EQ(call("PUT", "/admin/sources/app", source_doc({{"sync_reads", true}}), true).status, 201u);
  pqxx::connection c{db_->url()};
  for (int i = 0; i < 50; ++i) {
    const auto id = "sync-car-" + std::to_string(i);
    {
      pqxx::work tx{c};
      insert(tx, {id, engine::NewEvent{std::nullopt, "car.created", {{"by", "Ann"}, {"color", "c" + std::to_string(i)}}, {}}});
      tx.commit();
    }
    auto r = call("GET", "/cars/" + id);
    ASSERT_EQ(r.status, 200u) << "read " << i << " after its write: " << r.body;
    EXPECT_EQ(json(r)["color"], "c" + std::to_string(i));
  }
  expect_exactly_once();
}

TEST_F(SourceTest, BadRecordsAreQuarantinedUnderSkipAndStopTheSourceUnderStop) {
  ASSERT_EQ(call("PUT", "/admin/sources/app", source_doc(), true).status, 201u);
  exec("INSERT INTO app.messages (stream_id, message_type, message_data) VALUES "
       "('c1', 'car.created', '{\"by\": \"A\", \"color\": \"red\"}'), (NULL, 'car.created', '{}'), "
       "('c2', 'car.created', '[1, 2]'), ('c3', 'car.created', '{\"by\": \"B\", \"color\": \"blue\"}')");
  const auto s = wait_ingested(4);
  EXPECT_EQ(s["ingested"], 2);
  EXPECT_EQ(s["quarantined"], 2);
  auto q = json(call("GET", "/admin/sources/app/quarantine", "", true));
  ASSERT_EQ(q["items"].size(), 2u) << q.dump();
  EXPECT_EQ(q["items"][0]["position"], "2");
  EXPECT_NE(q["items"][0]["reason"].get<std::string>().find("stream_id"), std::string::npos) << q.dump();
  EXPECT_EQ(q["items"][0]["record"]["message_type"], "car.created");
  EXPECT_NE(q["items"][1]["reason"].get<std::string>().find("data"), std::string::npos) << q.dump();

  // Under stop: the source stops at the bad record, having ingested what precedes it.
  ASSERT_EQ(call("PUT", "/admin/sources/strict", source_doc({{"poison", "stop"}, {"mapping", {{"stream_id", "$col.stream_id"},
      {"type", "$col.message_type"}, {"data", "$col.message_data"}, {"event_id", "$col.message_type"}}}}), true).status, 201u);
  Json st;
  for (int i = 0; i < 300; ++i, std::this_thread::sleep_for(20ms)) {
    st = source("strict");
    if (st["state"] == "stopped") break;
  }
  EXPECT_EQ(st["state"], "stopped") << st.dump();
  EXPECT_EQ(st["ingested"], 1) << "the first record precedes the bad one: " << st.dump();
  EXPECT_NE(st["last_error"].get<std::string>().find("position 2"), std::string::npos) << st.dump();
}

// A batch goes through COPY (engine::copy_batch) unless the log would refuse part of it; then the
// append path answers record by record. Both cases: a replay past a lost checkpoint, and an event
// id another writer took with other content.
TEST_F(SourceTest, AReplayAndATakenEventIdGoTheAppendPathAndNothingIsDoubled) {
  ASSERT_EQ(call("PUT", "/admin/sources/app", source_doc(), true).status, 201u);
  projections::EventGenerator gen{450, 6};
  write(gen, 60, 6);
  wait_ingested(60);
  const auto events = rows("SELECT count(*) FROM reproj.events");
  // The checkpoint is lost (restored from an older backup, say): the source replays from the start.
  EXPECT_EQ(json(call("POST", "/admin/sources/app/pause", "", true))["state"], "paused");
  exec("UPDATE reproj.sources SET checkpoint = NULL, position = 0 WHERE name = 'app'");
  EXPECT_EQ(call("POST", "/admin/sources/app/resume", "", true).status, 200u);
  // The next row's id is taken already, by another writer with other content.
  const auto next = rows("SELECT coalesce(max(global_position), 0) + 1 FROM app.messages");
  ASSERT_EQ(call("POST", "/streams/other/events",
                 R"({"expected_version": "any", "events": [{"event_id": "app:)" + std::to_string(next) +
                     R"(", "type": "x", "data": {}}]})",
                 true)
                .status,
            201u);
  write(gen, 10, 5);
  const auto until = std::chrono::steady_clock::now() + 30s;
  auto checkpoint = [&] {
    const auto c = source()["checkpoint"];
    return c.is_number() ? c.get<std::int64_t>() : std::int64_t{0};
  };
  while (checkpoint() < next + 9 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(rows("SELECT count(*) FROM reproj.events"), events + 1 + 9) << "the replay appended events twice";
  auto q = json(call("GET", "/admin/sources/app/quarantine", "", true));
  ASSERT_EQ(q["items"].size(), 1u) << q.dump();
  EXPECT_EQ(q["items"][0]["position"], std::to_string(next));
  EXPECT_EQ(rows("SELECT count(*) FROM (SELECT metadata->>'source_position' FROM reproj.events WHERE "
                 "metadata->>'source' = 'app' GROUP BY 1 HAVING count(*) > 1) d"),
            0);
  expect_cars_match_fold();
}

TEST_F(SourceTest, PauseHoldsIngestionAndResumeGoesOnFromTheCheckpoint) {
  ASSERT_EQ(call("PUT", "/admin/sources/app", source_doc(), true).status, 201u);
  projections::EventGenerator gen{400, 4};
  write(gen, 20, 5);
  wait_ingested(20);
  EXPECT_EQ(json(call("POST", "/admin/sources/app/pause", "", true))["state"], "paused");
  write(gen, 20, 5);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(source()["ingested"], 20) << "ingested while paused";
  EXPECT_EQ(call("POST", "/admin/sources/app/resume", "", true).status, 200u);
  wait_ingested(40);
  expect_exactly_once();
}

TEST_F(SourceTest, ASecondInstanceTakesOverFromTheCheckpoint) {
  ASSERT_EQ(call("PUT", "/admin/sources/app", source_doc(), true).status, 201u);
  projections::EventGenerator gen{500, 5};
  write(gen, 100, 10);
  wait_ingested(100);
  // Another instance on the same database: it cannot take the source while this one holds it.
  sources::SourceManager other{*pool_, *store_, db_->url(), source_options_};
  other.start();
  sources_.reset();  // this instance goes; its lock goes with its session
  write(gen, 100, 10);
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (rows("SELECT ingested FROM reproj.sources WHERE name = 'app'") < 200 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(rows("SELECT ingested FROM reproj.sources WHERE name = 'app'"), 200);
  expect_exactly_once();
}

TEST_F(SourceTest, KillingTheIngestingProcessLosesAndDoublesNothing) {
  // The in-process sources stand aside: a child `reproj serve` ingests, and is killed -9 again and again.
  sources_->stop();
  std::atomic<bool> writing{true};
  std::jthread writer{[&] {
    projections::EventGenerator gen{600, 6};
    pqxx::connection c{db_->url()};
    while (writing) {
      pqxx::work tx{c};
      for (int k = 0; k < 3; ++k) insert(tx, gen.next());
      tx.commit();
      std::this_thread::sleep_for(2ms);
    }
  }};
  std::mt19937 rng{38};
  const std::string log = ::testing::TempDir() + "/source_kill.log";
  int kills = 0;
  for (int round = 0; round < 6; ++round) {
    const int port = test::free_port();
    auto child = serve_child(port, log);
    ASSERT_TRUE(child) << "the server did not come up; see " << log;
    if (round == 0) {
      auto r = put_on(port, source_doc({{"batch", 50}}));
      ASSERT_EQ(r.status, 201u) << r.body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{200 + rng() % 600});
    child->kill(SIGKILL);
    child->wait();
    ++kills;
  }
  writing = false;
  writer.join();
  const auto n = rows("SELECT count(*) FROM app.messages");
  auto last = serve_child(test::free_port(), log);
  EXPECT_EQ(wait_stored_ingested(n), n) << kills << " kills";
  EXPECT_GT(n, 500) << "too few rows written to prove anything";
  expect_exactly_once();
}

TEST_F(SourceTest, ARequiredSourceHoldsReadinessUntilLiveAndShowsInMetrics) {
  ASSERT_EQ(call("PUT", "/admin/sources/app", source_doc({{"required_for_ready", true}}), true).status, 201u);
  EXPECT_EQ(json(call("POST", "/admin/sources/app/pause", "", true))["state"], "paused");
  auto paused = call("GET", "/readyz");
  EXPECT_EQ(paused.status, 503u) << paused.body;
  EXPECT_EQ(json(paused)["error"], "source_not_live") << paused.body;
  EXPECT_EQ(json(paused)["sources"][0]["name"], "app") << paused.body;
  EXPECT_EQ(call("POST", "/admin/sources/app/resume", "", true).status, 200u);
  projections::EventGenerator gen{700, 7};
  write(gen, 30, 10);
  wait_ingested(30);
  auto ready = call("GET", "/readyz");
  for (int i = 0; i < 200 && ready.status != 200; ++i, std::this_thread::sleep_for(20ms)) ready = call("GET", "/readyz");
  EXPECT_EQ(ready.status, 200u) << ready.body;
  const auto metrics = call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("reproj_source_ingested_total{source=\"app\"} 30"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("reproj_source_lag{source=\"app\"}"), std::string::npos);
  EXPECT_NE(metrics.find("reproj_source_quarantined_total{source=\"app\"} 0"), std::string::npos);
  const auto series = json(call("GET", "/admin/sources", "", true));
  EXPECT_EQ(series["items"][0]["state"], "live") << series.dump();
}
