// Reactors across processes: `reproj serve` instances delivering to a recording receiver in this
// test. Two instances: exactly one delivers, and the other takes over from the checkpoint when it
// is killed. A kill -9 loop (REPROJ_REACTOR_KILLS, default 5; scripts/chaos runs 20) with "stream"
// ordering and 8 requests in flight: nothing lost, every event sent twice carries the same
// Idempotency-Key both times, and each stream's first acknowledgements stay in log order.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "api/http_client.hpp"
#include "engine/event_store.hpp"
#include "engine/migrations.hpp"
#include "engine/reactor_store.hpp"
#include "tests/support/pg_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/receiver.hpp"

namespace reproj::test {
namespace {

using namespace std::chrono_literals;

std::uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a{io, {asio::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

class ReactorProcessTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    store_ = std::make_unique<engine::EventStore>(*pool_);
    reactors_ = std::make_unique<engine::ReactorStore>(*pool_);
  }
  void import_orders(int count) {
    std::stringstream lines;
    for (int i = 0; i < count; ++i) {
      lines << R"({"event_id":"o-)" << i << R"(","stream_id":"s-)" << i % 50 << R"(","type":"order.placed","data":{"n":)"
            << i << "}}\n";
    }
    store_->import_ndjson(lines);
  }
  // A server whose reactors poll often; returns once it answers /readyz.
  std::unique_ptr<Child> serve() {
    const auto port = free_port();
    auto child = std::make_unique<Child>(
        std::vector<std::string>{"serve", "--listen", "127.0.0.1:" + std::to_string(port), "--admin-token", "t"},
        std::vector<std::string>{"DATABASE_URL=" + db_->url(), "REPROJ_REACTOR_POLL_MS=50",
                                 "REPROJ_REACTOR_SUPERVISE_MS=200"},
        ::testing::TempDir() + "reactor-serve.log");
    for (int i = 0; i < 200; ++i) {
      try {
        if (api::http_call("http://127.0.0.1:" + std::to_string(port), "GET", "/readyz", "", {}, 2).status == 200) {
          return child;
        }
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "the server did not start";
    return child;
  }
  bool wait_drained(std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (reactors_->get("orders").position == store_->safe_tail()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  // Every event acknowledged, and every request for an event under that event's key.
  void expect_all_delivered(int count) {
    std::set<std::string> acked;
    for (const auto& h : receiver_.hits()) {
      EXPECT_EQ(h.key, "orders:" + h.event_id);
      if (h.answered == 200) acked.insert(h.event_id);
    }
    EXPECT_EQ(acked.size(), static_cast<std::size_t>(count)) << "events lost";
  }

  std::unique_ptr<engine::EventStore> store_;
  std::unique_ptr<engine::ReactorStore> reactors_;
  Receiver receiver_;
};

std::string instance_of(const Child& c) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string{host} + ":" + std::to_string(c.pid());
}

TEST_F(ReactorProcessTest, TwoInstancesExactlyOneDeliversAndTheOtherTakesOverAfterAKill) {
  constexpr int kEvents = 4000;
  import_orders(kEvents);
  receiver_.answer_after_ms = 2;  // delivery spans the kill
  reactors_->put("orders", engine::ReactorConfig::from_json({{"url", receiver_.url()}, {"events", {"order.*"}}}), 0);
  auto a = serve();
  auto b = serve();
  for (int i = 0; i < 3000 && receiver_.acknowledged_count() < 1000; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GE(receiver_.acknowledged_count(), 1000u);
  const auto before = receiver_.hits();
  const std::string first = before.front().instance;
  ASSERT_TRUE(first == instance_of(*a) || first == instance_of(*b)) << first;
  for (const auto& h : before) ASSERT_EQ(h.instance, first) << "exactly one instance delivers";
  Child& victim = first == instance_of(*a) ? *a : *b;
  Child& survivor = &victim == a.get() ? *b : *a;
  victim.kill(SIGKILL);
  victim.wait();
  ASSERT_TRUE(wait_drained(60s)) << "the survivor did not take over";

  const auto hits = receiver_.hits();
  std::size_t first_of_survivor = hits.size(), last_of_victim = 0;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    ASSERT_TRUE(hits[i].instance == instance_of(victim) || hits[i].instance == instance_of(survivor));
    if (hits[i].instance == instance_of(survivor)) first_of_survivor = std::min(first_of_survivor, i);
    else last_of_victim = i;
  }
  EXPECT_LT(last_of_victim, first_of_survivor) << "never both at once";
  EXPECT_LT(first_of_survivor, hits.size()) << "the survivor delivered the rest";
  expect_all_delivered(kEvents);
  const auto resent = hits.size() - kEvents;
  // At most what was done above the committed checkpoint -- the deliverer sends nothing more past
  // 2 batches of 100 until its checkpoint commits, however slow the database -- and in flight (8).
  // (231 were seen under a loaded suite before that cap, against a bound of 150 then.)
  EXPECT_LE(resent, 208u) << "only what was sent after the last checkpoint is sent again";
  std::cout << "[ reactor ] take-over re-sent " << resent << " events\n";
}

TEST_F(ReactorProcessTest, KillNineBetweenSendAndCheckpointLosesNothing) {
  const char* env = std::getenv("REPROJ_REACTOR_KILLS");
  const int kills = env ? std::atoi(env) : 5;
  constexpr int kEvents = 3000;
  import_orders(kEvents);
  std::mt19937 rng{11};
  std::mutex rng_mutex;
  receiver_.answer_after_ms = 1;
  receiver_.decide([&](const Receiver::Hit&) -> unsigned {
    std::lock_guard lock{rng_mutex};
    return rng() % 10 == 0 ? 500 : 200;  // some retries too
  });
  reactors_->put("orders",
                 engine::ReactorConfig::from_json(
                     {{"url", receiver_.url()}, {"events", {"order.*"}}, {"retry_initial_ms", 5}, {"max_attempts", 100},
                      {"ordering", "stream"}, {"concurrency", 8}}),
                 0);
  std::uniform_int_distribution<int> pause_ms{50, 400};
  for (int k = 0; k < kills; ++k) {
    auto server = serve();
    const auto target = std::min<std::size_t>(receiver_.acknowledged_count() + 150, kEvents);
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (receiver_.acknowledged_count() < target && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    server->kill(SIGKILL);
    server->wait();
  }
  auto last = serve();
  ASSERT_TRUE(wait_drained(120s));
  expect_all_delivered(kEvents);
  std::map<std::string, int> acks;
  for (const auto& h : receiver_.hits()) {
    if (h.answered == 200) ++acks[h.event_id];
  }
  std::size_t twice = 0;
  for (const auto& [id, n] : acks) twice += n > 1 ? 1 : 0;
  EXPECT_GT(twice, 0u) << "the kills landed between send and checkpoint (else this test proves nothing)";
  // Per stream (s-(n % 50)), the order of first acknowledgements is log order.
  std::map<int, std::vector<int>> firsts;
  std::set<std::string> seen;
  for (const auto& h : receiver_.hits()) {
    if (h.answered != 200 || !seen.insert(h.event_id).second) continue;
    const int n = std::stoi(h.event_id.substr(2));
    firsts[n % 50].push_back(n);
  }
  for (const auto& [stream, ns] : firsts) {
    EXPECT_TRUE(std::is_sorted(ns.begin(), ns.end())) << "stream s-" << stream << " acknowledged out of order";
  }
  std::cout << "[ reactor ] " << kills << " kills: " << kEvents << " events, " << twice
            << " acknowledged twice (same key each time), " << kEvents - static_cast<int>(acks.size()) << " lost\n";
}

}  // namespace
}  // namespace reproj::test
