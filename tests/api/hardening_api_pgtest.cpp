// Issue 14 from outside, over real HTTP: poison cannot enter through the API, what still gets in
// is quarantined (or stops the projection, by policy), and engine errors map to clear answers.
#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/api_fixture.hpp"

using namespace reproj;
using test::ApiTest;
using test::ev;
using Json = nlohmann::json;
using namespace std::chrono_literals;

TEST_F(ApiTest, AnAppendLackingWhatAProjectionRequiresIsRefusedWhole) {
  auto r = append("c1", "any", {ev("ok", "car.created", {{"by", "A"}, {"color", "b"}}),
                                ev("bad", "car.sold", Json::object())});
  ASSERT_EQ(r.status, 422u) << r.body;
  auto body = json(r);
  EXPECT_EQ(body["error"], "invalid_event");
  EXPECT_EQ(body["event_index"], 1);
  EXPECT_EQ(body["event_type"], "car.sold");
  EXPECT_EQ(body["field"], "to");
  EXPECT_EQ(body["expected"], "a string");
  EXPECT_EQ(body["projection"], "cars");
  EXPECT_EQ(json(call("GET", "/events"))["events"].size(), 0u) << "half of the batch was written";
  auto typed = append("c1", "any", {ev("t", "car.repainted", {{"color", 7}})});
  EXPECT_EQ(typed.status, 422u) << typed.body;
  EXPECT_EQ(append("c1", "any", {ev("fine", "car.repainted", {{"color", "red"}})}).status, 201u);
  EXPECT_EQ(append("x1", "any", {ev("other", "anything.else", Json::object())}).status, 201u)
      << "types no projection reads are not checked";
  unsigned ready = 0;
  for (int i = 0; i < 100 && ready != 200; ++i, std::this_thread::sleep_for(50ms)) ready = call("GET", "/readyz").status;
  EXPECT_EQ(ready, 200u) << "a refused append stopped a projection";
}

TEST_F(ApiTest, UnderSkipAPoisonEventIsQuarantinedAndReadinessStays) {
  append("c1", "any", {ev("ok", "car.created", {{"by", "A"}, {"color", "b"}})});
  insert_raw("bad", "c1", 2, "car.sold", "{}");
  append("c2", "any", {ev("ok2", "car.created", {{"by", "B"}, {"color", "c"}})});
  auto car = call("GET", "/cars/c2");
  EXPECT_EQ(car.status, 200u) << car.body;
  EXPECT_EQ(car.headers.count("x-projection-state"), 0u) << "reported as stopped";
  // The worker may still be catching up with the start tail on a loaded machine: wait for it, as a
  // poison event that stopped the projection would keep this 503 for good.
  auto ready = call("GET", "/readyz");
  for (int i = 0; i < 100 && ready.status != 200; ++i, std::this_thread::sleep_for(50ms)) ready = call("GET", "/readyz");
  ASSERT_EQ(ready.status, 200u) << ready.body;
  bool reported = false;
  auto ready_body = json(ready);
  for (const auto& p : ready_body["projections"]) {
    if (p["name"] == "cars") reported = p["quarantined"] == 1 && p["poison_policy"] == "skip";
  }
  EXPECT_TRUE(reported) << ready.body;
  EXPECT_EQ(call("GET", "/admin/projections/cars/quarantine").status, 401u);
  auto q = call("GET", "/admin/projections/cars/quarantine", "", true);
  ASSERT_EQ(q.status, 200u) << q.body;
  auto qb = json(q);
  ASSERT_EQ(qb["items"].size(), 1u) << q.body;
  EXPECT_EQ(qb["items"][0]["event_id"], "bad");
  EXPECT_EQ(qb["items"][0]["global_position"], 2);
  EXPECT_EQ(qb["items"][0]["type"], "car.sold");
  EXPECT_NE(qb["items"][0]["error"].get<std::string>().find("\"to\" is missing"), std::string::npos);
  EXPECT_NE(call("GET", "/metrics").body.find("reproj_events_quarantined{projection=\"cars\",version=\"1\"} 1"),
            std::string::npos);
  EXPECT_EQ(call("GET", "/admin/projections/trucks/quarantine", "", true).status, 404u);
  EXPECT_EQ(call("GET", "/admin/projections/cars/quarantine?limit=0", "", true).status, 400u);
}

TEST_F(ApiTest, ThePoisonPolicyIsSetPerProjectionAndBadBodiesAreRefused) {
  EXPECT_EQ(call("PUT", "/admin/projections/cars/poison_policy", R"({"poison_policy": "stop"})").status, 401u);
  for (const char* bad : {"", "{}", R"({"poison_policy": "ignore"})", R"({"poison_policy": 1})", "[]"}) {
    auto r = call("PUT", "/admin/projections/cars/poison_policy", bad, true);
    EXPECT_EQ(r.status, 400u) << bad << ": " << r.body;
  }
  auto r = call("PUT", "/admin/projections/cars/poison_policy", R"({"poison_policy": "stop"})", true);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json(r)["poison_policy"], "stop");
  EXPECT_EQ(call("PUT", "/admin/projections/nope/poison_policy", R"({"poison_policy": "stop"})", true).status, 404u);
}

TEST_F(ApiTest, ARollbackThatMeetsAPoisonEventUnderStopAnswers409) {
  append("c1", "any", {ev("ok", "car.created", {{"by", "A"}, {"color", "b"}})});
  auto start = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(start.status, 202u) << start.body;
  ASSERT_EQ(wait_rebuild(json(start)["rebuild_id"]), "done");
  insert_raw("bad", "c1", 2, "car.sold", "{}");  // past what v1, retained, has applied
  EXPECT_EQ(call("GET", "/cars/c1").status, 200u) << "v2 quarantines it";
  EXPECT_EQ(call("PUT", "/admin/projections/cars/poison_policy", R"({"poison_policy": "stop"})", true).status, 200u);
  auto back = call("POST", "/admin/projections/cars/rollback", "", true);
  EXPECT_EQ(back.status, 409u) << back.body;
  EXPECT_EQ(json(back)["error"], "poison_event") << back.body;
  EXPECT_EQ(json(back)["global_position"], 2) << back.body;
  EXPECT_EQ(call("GET", "/cars/c1").headers["x-projection-version"], "2") << "the failed rollback changed nothing";
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A raw SQL writer that took the append lock and sits on it, as an idle-in-transaction script or
// a long `reproj import` would.
class AppendLockHolder {
 public:
  explicit AppendLockHolder(const std::string& url) : conn_(url), tx_(conn_) {
    tx_.exec("SELECT reproj.lock_appends()");
  }
  void release() { tx_.abort(); }

 private:
  pqxx::connection conn_;
  pqxx::work tx_;
};

class StallTest : public ApiTest {
 protected:
  void SetUp() override {
    store_options_.append_lock_timeout = 500ms;
    point_reads_.max_waiting = 4;
    ApiTest::SetUp();
  }
};

}  // namespace

TEST_F(StallTest, AStuckAppenderFailsAppendsFastAndHoldsUpNoReadOrOperator) {
  // Issue 14, item 5: appends waited for the lock without a bound, on the one pool every route shared.
  append("c1", "any", {ev("ok", "car.created", {{"by", "A"}, {"color", "b"}})});
  AppendLockHolder holder{db_->url()};
  std::vector<std::thread> appenders;
  std::vector<unsigned> statuses(12);
  std::vector<double> took(12);
  std::vector<std::string> retry_after(12);
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < 12; ++i) {
    appenders.emplace_back([&, i] {
      const auto t = Clock::now();
      auto r = append("s" + std::to_string(i), "any", {ev("e" + std::to_string(i), "thing.done", Json::object())});
      statuses[i] = r.status;
      retry_after[i] = r.headers["retry-after"];
      took[i] = seconds_since(t);
    });
  }
  std::this_thread::sleep_for(100ms);  // the appenders are queued and waiting now
  for (const char* target : {"/cars/c1", "/cars", "/events", "/healthz", "/readyz"}) {
    const auto t = Clock::now();
    auto r = call("GET", target);
    EXPECT_EQ(r.status, 200u) << target << ": " << r.body;
    EXPECT_LT(seconds_since(t), 1.0) << target << " waited behind the stuck appends";
  }
  const auto t = Clock::now();
  EXPECT_EQ(call("GET", "/admin/projections", "", true).status, 200u);
  EXPECT_LT(seconds_since(t), 1.0) << "the admin API waited behind the stuck appends";
  for (auto& a : appenders) a.join();
  for (std::size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(statuses[i], 503u) << "append " << i;
    EXPECT_EQ(retry_after[i], "1") << "append " << i;
    EXPECT_LT(took[i], 3.0) << "append " << i << " was not bounded";
  }
  EXPECT_LT(seconds_since(t0), 4.0);
  holder.release();
  EXPECT_EQ(append("after", "any", {ev("after", "thing.done", Json::object())}).status, 201u);
  EXPECT_EQ(json(call("GET", "/events"))["events"].size(), 2u) << "a refused append wrote something";
}

TEST_F(StallTest, PointReadsQueuedBehindAStuckStatementAreBoundedAndAnswer503) {
  // Issue 14, item 12: the point-read batcher's queues grew without bound.
  append("c1", "any", {ev("ok", "car.created", {{"by", "A"}, {"color", "b"}})});
  EXPECT_EQ(call("GET", "/cars/c1").status, 200u);
  worker_.reset();  // the reads below must be the ones to catch up
  pqxx::connection locker{db_->url()};
  pqxx::work lock{locker};
  lock.exec("SELECT 1 FROM reproj.projections WHERE name = 'cars' FOR UPDATE");  // the appliers' door
  append("c1", "any", {ev("more", "car.repainted", {{"color", "red"}})});  // so reads must apply
  std::vector<std::thread> readers;
  std::atomic<int> busy{0}, ok{0};
  std::atomic<double> slowest_busy{0};
  for (int i = 0; i < 30; ++i) {
    readers.emplace_back([&] {
      const auto t = Clock::now();
      auto r = call("GET", "/cars/c1");
      if (r.status == 503) {
        ++busy;
        slowest_busy = std::max(slowest_busy.load(), seconds_since(t));
      } else if (r.status == 200) {
        ++ok;
      }
    });
  }
  std::this_thread::sleep_for(1500ms);
  lock.abort();
  for (auto& r : readers) r.join();
  EXPECT_GT(busy.load(), 0) << "no read was refused while 30 queued behind a stuck statement";
  EXPECT_LT(slowest_busy.load(), 1.0) << "a refused read waited";
  EXPECT_EQ(busy + ok, 30) << "reads answered something else";
}

TEST_F(ApiTest, APageOfLargeEventsIsBoundedByBytesAndPagingReturnsEachOnce) {
  // Issue 14, item 11: a page parsed every event's data into a DOM, with no bound on bytes.
  const std::string big(1 << 20, 'x');
  for (int i = 0; i < 12; ++i) {
    store_->append("big", engine::ExpectedVersion::any(), {test::event("big" + std::to_string(i), "thing.big", {{"blob", big}})});
  }
  std::int64_t after = 0;
  std::vector<std::string> seen;
  std::size_t largest = 0;
  for (int pages = 0; pages < 20; ++pages) {
    auto r = call("GET", "/events?limit=1000&after=" + std::to_string(after));
    ASSERT_EQ(r.status, 200u);
    largest = std::max(largest, r.body.size());
    auto page = json(r);
    for (const auto& e : page["events"]) {
      seen.push_back(e["event_id"]);
      EXPECT_EQ(e["data"]["blob"].get<std::string>().size(), big.size());
    }
    const std::int64_t next = page["next"];
    if (page["events"].empty()) break;
    after = next;
  }
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 12u) << "an event came twice";
  EXPECT_LT(largest, std::size_t{6} << 20) << "one page carried " << largest << " bytes";
}
