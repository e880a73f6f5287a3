// Sources, kind redis_stream (issue 39): Redis streams an application writes with XADD, ingested
// into the log exactly once, over the admin API as a user drives it, against a throwaway
// redis-server (scripts/redis). Checked against what Redis holds and an independent fold.
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/support/source_fixture.hpp"
#include "tests/support/example_specs.hpp"
#include "tests/support/http_load.hpp"
#include "tests/support/oracle.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;
using test::ApiTest;
using test::Json;
using namespace std::chrono_literals;

namespace {

class RedisSourceTest : public test::SourceApiTest {
 protected:
  RedisSourceTest() : SourceApiTest("redis") {}
  void SetUp() override {
    SourceApiTest::SetUp();
    redis_ = std::make_unique<test::RedisServer>();
    client_ = std::make_unique<test::RedisClient>(redis_->port());
  }
  void TearDown() override {
    SourceApiTest::TearDown();
    client_.reset();
    redis_.reset();
  }
  std::string doc(const Json& extra = Json::object()) {
    Json d{{"kind", "redis_stream"},
           {"url", redis_->url()},
           {"streams", {"cars", "customers"}},
           {"mapping", {{"stream_id", "$field.stream_id"}, {"type", "$field.type"}, {"data", "$json.data"}}},
           {"start", "beginning"}};
    for (const auto& [k, v] : extra.items()) d[k] = v;
    return d.dump();
  }
  // An application's event as a stream entry, in the key of its kind.
  static std::string key_of(const std::string& stream_id) { return stream_id.starts_with("car") ? "cars" : "customers"; }
  static std::string xadd(test::RedisClient& c, const std::pair<std::string, engine::NewEvent>& e) {
    return c.xadd(key_of(e.first), {{"stream_id", e.first}, {"type", e.second.type}, {"data", e.second.data.dump()}});
  }
  // Every entry Redis holds is in the log exactly once as "redis:{key}:{id}", and each key's
  // entries in their order; nothing else came from the source.
  void expect_exactly_once(test::RedisClient& c) {
    pqxx::connection conn{db_->url()};
    pqxx::read_transaction tx{conn};
    std::map<std::string, std::vector<std::string>> logged;  // key -> ids in log order
    std::size_t events = 0;
    for (const auto& r : tx.exec("SELECT event_id FROM reproj.events WHERE metadata->>'source' = 'redis' ORDER BY global_position")) {
      const auto id = r[0].as<std::string>();
      const auto key = id.substr(6, id.rfind(':') - 6);
      logged[key].push_back(id.substr(id.rfind(':') + 1));
      ++events;
    }
    std::size_t entries = 0;
    for (const char* key : {"cars", "customers"}) {
      const auto ids = c.ids(key);
      entries += ids.size();
      EXPECT_EQ(logged[key], ids) << "the log's entries of " << key << " differ from the stream (lost, doubled or out of order)";
    }
    EXPECT_EQ(events, entries);
  }
  void expect_cars_match_fold() {
    const auto tail = store_->safe_tail();
    const auto oracle = test::fold(*store_, 1, tail);
    EXPECT_TRUE(test::cars_match(test::all_rows(*live_, "cars"), oracle));
  }

  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<test::RedisClient> client_;
};

}  // namespace

TEST_F(RedisSourceTest, InvalidDocumentsAreRefusedNamingEveryProblem) {
  client_->command({"RPUSH", "a-list", "x"});
  const std::vector<std::pair<std::string, std::string>> bad{
      {doc({{"streams", nullptr}}), "/streams"},
      {doc({{"streams", Json::array()}}), "/streams"},
      {doc({{"streams", {"cars", "cars"}}}), "/streams/1"},
      {doc({{"streams", {"cars", 7}}}), "/streams/1"},
      {doc({{"on_gap", "ignore"}}), "/on_gap"},
      {doc({{"url", "http://127.0.0.1:6379"}}), "/url"},
      {doc({{"url", "rediss://127.0.0.1:6379"}}), "/url"},
      {doc({{"url", "redis://127.0.0.1:port"}}), "/url"},
      {doc({{"table", "x"}}), "/table"},
      {doc({{"mapping", {{"stream_id", "$col.stream_id"}, {"type", "$field.type"}, {"data", "$json.data"}}}}), "/mapping/stream_id"},
      {doc({{"mapping", {{"stream_id", "$field"}, {"type", "$field.type"}, {"data", "$json.data"}}}}), "/mapping/stream_id"},
      {doc({{"streams", {"cars", "a-list"}}}), "/streams/1"},
  };
  for (const auto& [d, path] : bad) {
    auto r = call("PUT", "/admin/sources/redis", d, true);
    EXPECT_EQ(r.status, 422u) << d << " -> " << r.body;
    const auto body = Json::parse(r.body);
    EXPECT_EQ(body["error"], "invalid_source") << r.body;
    bool found = false;
    for (const auto& p : body["problems"]) found = found || p["path"] == path;
    EXPECT_TRUE(found) << "no problem at " << path << ": " << r.body;
  }
  auto no_url = Json::parse(doc());
  no_url.erase("url");
  EXPECT_EQ(call("PUT", "/admin/sources/redis", no_url.dump(), true).status, 422u);
  EXPECT_EQ(rows("SELECT count(*) FROM reproj.sources"), 0) << "an invalid document was stored";
}

TEST_F(RedisSourceTest, ConcurrentWritersAreIngestedExactlyOnceInEachKeysOrder) {
  ASSERT_EQ(call("PUT", "/admin/sources/redis", doc({{"batch", 7}}), true).status, 201u);
  std::vector<std::jthread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      test::RedisClient c{redis_->port()};
      projections::EventGenerator gen{800 + w, static_cast<unsigned>(w + 1)};
      for (int i = 0; i < 250; ++i) xadd(c, gen.next());
    });
  }
  writers.clear();
  wait_ingested(1000);
  expect_exactly_once(*client_);
  // The entry's coordinates go with its event.
  pqxx::connection conn{db_->url()};
  pqxx::read_transaction tx{conn};
  auto r = tx.exec("SELECT event_id, metadata->>'source', (metadata->>'source_position')::bigint FROM reproj.events "
                   "WHERE event_id LIKE 'redis:cars:%' ORDER BY global_position LIMIT 1");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0][1].as<std::string>(), "redis");
  EXPECT_EQ(r[0][2].as<std::int64_t>(), 1) << "the first entry of its key";
  // The status's tail is refreshed about once a second.
  const auto s = wait_for([](const Json& x) { return x["state"] == "live" && x["tail"] == 1000; });
  EXPECT_EQ(s["lag"], 0) << s.dump();
  expect_cars_match_fold();
}

TEST_F(RedisSourceTest, AStrongReadRightAfterAnXaddReflectsIt) {
  ASSERT_EQ(call("PUT", "/admin/sources/redis", doc({{"sync_reads", true}}), true).status, 201u);
  for (int i = 0; i < 50; ++i) {
    const auto id = "car-redis-" + std::to_string(i);
    client_->xadd("cars", {{"stream_id", id}, {"type", "car.created"}, {"data", Json{{"by", "Ann"}, {"color", "c" + std::to_string(i)}}.dump()}});
    auto r = call("GET", "/cars/" + id);
    ASSERT_EQ(r.status, 200u) << "read " << i << " after its XADD: " << r.body;
    EXPECT_EQ(json(r)["color"], "c" + std::to_string(i));
  }
  expect_exactly_once(*client_);
}

TEST_F(RedisSourceTest, ReferencesReachIdKeyAndFieldsAndBadEntriesAreQuarantined) {
  ASSERT_EQ(call("PUT", "/admin/sources/redis",
                 doc({{"mapping", {{"stream_id", "$field.stream_id"}, {"type", "$field.type"}, {"data", "$json.data"},
                                   {"metadata", {{"entry", "$id"}, {"key", "$key"}, {"via", "redis"}}}}}}),
                 true)
                .status,
            201u);
  const auto good = client_->xadd("cars", {{"stream_id", "car-q-1"}, {"type", "car.created"}, {"data", R"({"by": "A", "color": "red"})"}});
  const auto not_json = client_->xadd("cars", {{"stream_id", "car-q-2"}, {"type", "car.created"}, {"data", "{oops"}});
  const auto missing = client_->xadd("cars", {{"type", "car.created"}, {"data", "{}"}});
  client_->xadd("cars", {{"stream_id", "car-q-3"}, {"type", "car.created"}, {"data", R"({"by": "B", "color": "blue"})"}});
  const auto s = wait_ingested(4);
  EXPECT_EQ(s["ingested"], 2) << s.dump();
  EXPECT_EQ(s["quarantined"], 2) << s.dump();
  auto q = json(call("GET", "/admin/sources/redis/quarantine", "", true));
  ASSERT_EQ(q["items"].size(), 2u) << q.dump();
  EXPECT_EQ(q["items"][0]["position"], "cars:" + not_json);
  EXPECT_NE(q["items"][0]["reason"].get<std::string>().find("not JSON"), std::string::npos) << q.dump();
  EXPECT_EQ(q["items"][0]["record"]["fields"]["data"], "{oops");
  EXPECT_EQ(q["items"][1]["position"], "cars:" + missing);
  EXPECT_NE(q["items"][1]["reason"].get<std::string>().find("stream_id"), std::string::npos) << q.dump();
  pqxx::connection conn{db_->url()};
  pqxx::read_transaction tx{conn};
  auto r = tx.exec("SELECT metadata::text FROM reproj.events WHERE event_id = 'redis:cars:" + good + "'");
  ASSERT_EQ(r.size(), 1u);
  const auto meta = Json::parse(r[0][0].as<std::string>());
  EXPECT_EQ(meta["entry"], good);
  EXPECT_EQ(meta["key"], "cars");
  EXPECT_EQ(meta["via"], "redis");
  EXPECT_EQ(meta["source"], "redis");
}

TEST_F(RedisSourceTest, ATrimPastTheCheckpointStopsInGapAndSkipGoesOnRecordingIt) {
  ASSERT_EQ(call("PUT", "/admin/sources/redis", doc(), true).status, 201u);
  projections::EventGenerator gen{900, 9};
  std::vector<std::string> cars;
  auto add_car = [&](int i) {
    cars.push_back(client_->xadd("cars", {{"stream_id", "car-gap-" + std::to_string(i)}, {"type", "car.created"},
                                          {"data", R"({"by": "G", "color": "grey"})"}}));
  };
  for (int i = 0; i < 10; ++i) add_car(i);
  wait_ingested(10);
  EXPECT_EQ(json(call("POST", "/admin/sources/redis/pause", "", true))["state"], "paused");
  for (int i = 10; i < 20; ++i) add_car(i);
  client_->command({"XTRIM", "cars", "MAXLEN", "3"});  // entries 10-16 go before they were ingested
  EXPECT_EQ(call("POST", "/admin/sources/redis/resume", "", true).status, 200u);
  auto s = wait_for([](const Json& x) { return x["state"] == "gap"; });
  EXPECT_EQ(s["ingested"], 10) << s.dump();
  const auto why = s["last_error"].get<std::string>();
  EXPECT_NE(why.find(cars[9]), std::string::npos) << "the range starts after the checkpoint: " << why;
  EXPECT_NE(why.find(cars[17]), std::string::npos) << "and ends before the first entry left: " << why;
  EXPECT_NE(why.find("7 entries"), std::string::npos) << why;
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(source()["ingested"], 10) << "ingested past a gap";

  // A resume with the same document stops at the same gap; under "skip" the gap is quarantined.
  EXPECT_EQ(call("POST", "/admin/sources/redis/resume", "", true).status, 200u);
  s = wait_for([](const Json& x) { return x["state"] == "gap"; });
  EXPECT_EQ(s["ingested"], 10);
  EXPECT_EQ(json(call("POST", "/admin/sources/redis/pause", "", true))["state"], "paused");
  ASSERT_EQ(call("PUT", "/admin/sources/redis", doc({{"on_gap", "skip"}}), true).status, 200u);
  EXPECT_EQ(call("POST", "/admin/sources/redis/resume", "", true).status, 200u);
  s = wait_ingested(14);
  EXPECT_EQ(s["ingested"], 13) << s.dump();
  EXPECT_EQ(s["quarantined"], 1) << s.dump();
  auto q = json(call("GET", "/admin/sources/redis/quarantine", "", true));
  ASSERT_EQ(q["items"].size(), 1u) << q.dump();
  EXPECT_EQ(q["items"][0]["position"], "cars:" + cars[9] + ".." + cars[17]) << q.dump();
  s = wait_for([](const Json& x) { return x["state"] == "live"; });
  EXPECT_EQ(s["lag"], 0) << "the trimmed entries count as passed: " << s.dump();

  // An XDEL past the checkpoint is a gap too; one behind it is not.
  EXPECT_EQ(json(call("POST", "/admin/sources/redis/pause", "", true))["state"], "paused");
  client_->command({"XDEL", "cars", cars[18]});
  for (int i = 20; i < 23; ++i) add_car(i);
  const auto deleted = cars[21];
  client_->command({"XDEL", "cars", deleted});
  EXPECT_EQ(call("POST", "/admin/sources/redis/resume", "", true).status, 200u);
  s = wait_ingested(17);
  q = json(call("GET", "/admin/sources/redis/quarantine", "", true));
  ASSERT_EQ(q["items"].size(), 2u) << q.dump();
  EXPECT_NE(q["items"][1]["reason"].get<std::string>().find("removed"), std::string::npos) << q.dump();
  EXPECT_EQ(s["ingested"], 15) << "car 20 and car 22: " << s.dump();
}

TEST_F(RedisSourceTest, RestartingRedisAndKillingReprojLoseAndDoubleNothing) {
  // The in-process sources stand aside: a child `reproj serve` ingests and is killed -9 again
  // and again, while Redis restarts twice (AOF on) under a writer that goes on through it.
  sources_->stop();
  std::atomic<bool> writing{true};
  std::atomic<int> written{0};
  std::jthread writer{[&] {
    projections::EventGenerator gen{950, 95};
    std::unique_ptr<test::RedisClient> c;
    auto next = gen.next();
    while (writing) {
      try {
        if (!c) c = std::make_unique<test::RedisClient>(redis_->port());
        xadd(*c, next);
        next = gen.next();
        ++written;
      } catch (const std::exception&) {
        c.reset();  // Redis is restarting: the same event again (a lost reply may mean it is in twice, as two entries)
        std::this_thread::sleep_for(20ms);
      }
      std::this_thread::sleep_for(1ms);
    }
  }};
  std::mt19937 rng{39};
  const std::string log = ::testing::TempDir() + "/redis_source_kill.log";
  for (int round = 0; round < 6; ++round) {
    const int port = test::free_port();
    auto child = serve_child(port, log);
    ASSERT_TRUE(child) << "the server did not come up; see " << log;
    if (round == 0) {
      auto r = put_on(port, doc({{"batch", 20}}));
      ASSERT_EQ(r.status, 201u) << r.body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{150 + rng() % 400});
    if (round == 1 || round == 4) redis_->restart();
    std::this_thread::sleep_for(std::chrono::milliseconds{100 + rng() % 300});
    child->kill(SIGKILL);
    child->wait();
  }
  writing = false;
  writer.join();
  test::RedisClient c{redis_->port()};
  const auto n = static_cast<std::int64_t>(c.ids("cars").size() + c.ids("customers").size());
  auto last = serve_child(test::free_port(), log);
  EXPECT_EQ(wait_stored_ingested(n), n);
  EXPECT_GT(n, 300) << "too few entries written to prove anything";
  expect_exactly_once(c);
}

TEST_F(RedisSourceTest, AnUnreachableRedisIsStoredAndReportedWhileTheServerServes) {
  const int port = test::free_port();
  auto d = Json::parse(doc());
  d["url"] = "redis://127.0.0.1:" + std::to_string(port) + "/0";
  ASSERT_EQ(call("PUT", "/admin/sources/redis", d.dump(), true).status, 201u);
  auto s = wait_for([](const Json& x) { return x["state"] == "reconnecting"; });
  EXPECT_NE(s["last_error"].get<std::string>().find("Redis"), std::string::npos) << s.dump();
  EXPECT_EQ(call("GET", "/healthz").status, 200u);
  EXPECT_EQ(call("GET", "/cars/none").status, 404u);
}

// The seed's example end to end: users with a balance and items, from entries XADDed to a Redis
// stream, served by a spec over HTTP and rebuilt online (v1 -> v2) while a writer goes on and
// strong reads after each XADD see it; the served rows equal a fold of what was written.
TEST_F(RedisSourceTest, UsersFromARedisStreamAreServedAndRebuiltOnlineWhileEntriesArrive) {
  ASSERT_EQ(call("PUT", "/admin/sources/users",
                 Json{{"kind", "redis_stream"}, {"url", redis_->url()}, {"streams", {"users"}},
                      {"mapping", {{"stream_id", "$field.user"}, {"type", "$field.type"}, {"data", "$json.data"}}},
                      {"sync_reads", true}}
                     .dump(),
                 true)
                .status,
            201u);
  auto v1 = call("PUT", "/admin/projections/users/versions/1", test::example_spec("users_v1.json"), true);
  ASSERT_EQ(v1.status, 201u) << v1.body;
  ASSERT_EQ(wait_rebuild(json(v1)["rebuild_id"].get<std::int64_t>()), "done");

  struct User {
    std::int64_t balance = 0, movements = 0;
    std::vector<std::string> items;
  };
  std::map<std::string, User> model;  // the independent fold
  std::atomic<int> stale{0}, failed{0};
  std::atomic<bool> writing{true};
  std::mt19937 rng{7};
  auto write_some = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const auto id = "u" + std::to_string(rng() % 20);
      auto& u = model[id];
      const auto roll = rng() % 10;
      const auto item = "item" + std::to_string(rng() % 5);
      if (roll < 4) {
        const auto amount = static_cast<std::int64_t>(1 + rng() % 100);
        client_->xadd("users", {{"user", id}, {"type", "user.credited"}, {"data", Json{{"amount", amount}}.dump()}});
        u.balance += amount, ++u.movements;
      } else if (roll < 6) {
        const auto amount = static_cast<std::int64_t>(1 + rng() % 50);
        client_->xadd("users", {{"user", id}, {"type", "user.debited"}, {"data", Json{{"amount", amount}}.dump()}});
        u.balance -= amount, ++u.movements;
      } else if (roll < 8) {
        client_->xadd("users", {{"user", id}, {"type", "item.added"}, {"data", Json{{"item", item}}.dump()}});
        u.items.push_back(item);
      } else {
        client_->xadd("users", {{"user", id}, {"type", "item.removed"}, {"data", Json{{"item", item}}.dump()}});
        std::erase(u.items, item);
      }
      // Read your write: the strong read right after the XADD reflects it.
      auto r = call("GET", "/users/" + id);
      if (r.status == 404 && roll >= 8 && model[id].movements == 0 && model[id].items.empty()) continue;  // a pull on no row
      if (r.status != 200) {
        ++failed;
        ADD_FAILURE() << "GET /users/" << id << ": " << r.status << " " << r.body;
        continue;
      }
      if (json(r)["balance"] != u.balance) ++stale;
    }
  };
  write_some(300);
  // Readers meanwhile: any answer but 200 or 404 is a failed request.
  std::jthread reader{[&] {
    std::mt19937 pick{8};
    while (writing) {
      auto r = call("GET", "/users/u" + std::to_string(pick() % 20));
      if (r.status != 200 && r.status != 404) ++failed;
    }
  }};
  ASSERT_EQ(call("PUT", "/admin/projections/users/versions/2", test::example_spec("users_v2.json"), true).status, 201u);
  auto started = call("POST", "/admin/projections/users/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(started.status, 202u) << started.body;
  write_some(300);
  EXPECT_EQ(wait_rebuild(json(started)["rebuild_id"].get<std::int64_t>()), "done");
  write_some(100);
  writing = false;
  reader.join();
  EXPECT_EQ(stale, 0) << "strong reads that missed the XADD just before";
  EXPECT_EQ(failed, 0);
  for (const auto& [id, u] : model) {
    auto r = call("GET", "/users/" + id);
    if (u.movements == 0 && u.items.empty() && r.status == 404) continue;
    ASSERT_EQ(r.status, 200u) << id << ": " << r.body;
    EXPECT_EQ(r.headers["x-projection-version"], "2");
    const auto row = json(r);
    EXPECT_EQ(row["balance"], u.balance) << id;
    EXPECT_EQ(row["movements"], u.movements) << id;
    EXPECT_EQ(row["items"], Json(u.items)) << id;
  }
}
