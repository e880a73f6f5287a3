// Reactors against a real receiver (tests/support/receiver.hpp) and a real server and database:
// delivery through failures, dead letters and stop, the circuit breaker, rebuilds that cause no
// delivery, and the admin API's contract.
#include <prometheus/text_serializer.h>

#include <random>
#include <set>
#include <sstream>

#include <pqxx/pqxx>

#include "api/reactors/reactor_metrics.hpp"
#include "api/reactors/reactor_runner.hpp"
#include "api/reactors/signature.hpp"
#include "tests/support/api_fixture.hpp"
#include "tests/support/reactor_fixture.hpp"
#include "tests/support/receiver.hpp"
#include "tests/support/seed.hpp"

namespace reproj::test {
namespace {

std::string order_events(int from, int count) {
  std::string out;
  for (int i = from; i < from + count; ++i) {
    const char* type = i % 5 == 4 ? "audit.noise" : i % 2 ? "invoice.sent" : "order.placed";
    out += Json{{"event_id", "ev-" + std::to_string(i)}, {"stream_id", "s-" + std::to_string(i % 97)},
                {"type", type}, {"data", {{"n", i}}}}
               .dump() +
           "\n";
  }
  return out;
}

TEST_F(ReactorTest, EveryMatchingEventArrivesInOrderThroughThirtyPercentFailures) {
  constexpr int kEvents = 50'000;
  import_lines(order_events(0, kEvents));
  std::mt19937 rng{7};
  std::uniform_real_distribution<double> u{0, 1};
  // 30% of requests fail: 22% answer 500, 7.9% close the connection, 0.1% hang past the timeout.
  receiver_.hang_for = 300ms;
  receiver_.decide([&](const Receiver::Hit&) -> unsigned {
    const double x = u(rng);
    return x < 0.22 ? 500 : x < 0.299 ? Receiver::kClose : x < 0.30 ? Receiver::kHang : 200;
  });
  ASSERT_EQ(put_reactor("orders", {{"url", receiver_.url()}, {"events", {"order.*", "invoice.sent"}},
                                   {"start", "beginning"}, {"timeout_ms", 100}, {"max_attempts", 1000},
                                   {"secret", "k3y"}, {"retry_initial_ms", 1}, {"retry_max_ms", 10}, {"ordering", "global"},
                                   {"circuit_failures", 5}, {"circuit_cooldown_ms", 5}})
                .status,
            201u);
  const auto started = std::chrono::steady_clock::now();
  start_runner();
  const auto done = wait_drained("orders", 300s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const auto expected = matching("event_type IN ('order.placed', 'invoice.sent')");
  ASSERT_EQ(expected.size(), 40'000u);
  EXPECT_EQ(receiver_.acknowledged_in_order(), expected) << "every matching event, in log order of first success";
  const auto hits = receiver_.hits();
  std::map<std::string, int> last_attempt;
  std::size_t failed = 0, duplicates = 0;
  std::set<std::string> acked;
  for (const auto& h : hits) {
    ASSERT_EQ(h.key, "orders:" + h.event_id) << "the same key on every attempt";
    EXPECT_GE(h.attempt, last_attempt[h.event_id]) << h.event_id;
    last_attempt[h.event_id] = h.attempt;
    if (h.answered < 200 || h.answered >= 300) ++failed;
    else if (!acked.insert(h.event_id).second) ++duplicates;
  }
  EXPECT_EQ(hits.front().signature, "sha256=" + api::hmac_sha256_hex("k3y", hits.front().body));
  EXPECT_EQ(done["delivered"], 40'000);
  EXPECT_EQ(done["dead_letters"], 0);
  EXPECT_EQ(done["state"], "running");
  EXPECT_GT(failed, 10'000u) << "the receiver failed about 30% of " << hits.size();
  std::cout << "[ reactor ] " << expected.size() << " events delivered in " << seconds << " s through " << hits.size()
            << " requests (" << failed << " failed, " << duplicates << " duplicate acks)\n";
}

TEST_F(ReactorTest, ARefusedEventIsDeadLetteredAndRetriedOrStopsTheReactor) {
  import_lines(order_events(0, 10));
  std::atomic<bool> refuse{true};
  receiver_.decide([&](const Receiver::Hit& h) -> unsigned {
    return refuse && h.event_id == (h.key.rfind("dl:", 0) == 0 ? "ev-2" : "ev-6") ? 400 : 200;
  });
  const Json config = {{"url", receiver_.url()}, {"events", {"*"}}, {"start", "beginning"}, {"retry_initial_ms", 1}};
  ASSERT_EQ(put_reactor("dl", config).status, 201u);
  Json stop_config = config;
  stop_config["on_failure"] = "stop";
  stop_config["ordering"] = "global";  // nothing after the refused event, in any stream
  ASSERT_EQ(put_reactor("stopper", stop_config).status, 201u);
  start_runner();

  auto dl = wait_drained("dl", 30s);
  EXPECT_EQ(dl["delivered"], 9);
  EXPECT_EQ(dl["dead_letters"], 1);
  auto letters = json(call("GET", "/admin/reactors/dl/dead-letters", "", true));
  ASSERT_EQ(letters["dead_letters"].size(), 1u) << letters.dump();
  EXPECT_EQ(letters["dead_letters"][0]["event_id"], "ev-2");
  EXPECT_EQ(letters["dead_letters"][0]["attempts"], 1) << "a 4xx is not retried";
  EXPECT_EQ(letters["dead_letters"][0]["last_error"], "HTTP 400");

  // stop mode: the checkpoint stays before the refused event, nothing after it is sent.
  const auto until = std::chrono::steady_clock::now() + 30s;
  Json stopper;
  while (std::chrono::steady_clock::now() < until && (stopper = reactor("stopper"))["state"] != "stopped") {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(stopper["state"], "stopped") << stopper.dump();
  EXPECT_EQ(stopper["delivered"], 6);
  EXPECT_NE(stopper["last_error"].get<std::string>().find("ev-6"), std::string::npos) << stopper.dump();
  std::this_thread::sleep_for(300ms);
  for (const auto& h : receiver_.hits()) {
    if (h.key.rfind("stopper:", 0) == 0) {
      EXPECT_LE(h.position, 7) << "nothing after the stop";
    }
  }

  refuse = false;
  EXPECT_EQ(call("POST", "/admin/reactors/dl/dead-letters/ev-2/retry", "", true).status, 202u);
  EXPECT_EQ(call("POST", "/admin/reactors/dl/dead-letters/nope/retry", "", true).status, 404u);
  EXPECT_EQ(call("POST", "/admin/reactors/stopper/resume", "", true).status, 200u);
  wait_drained("stopper", 30s);
  for (int i = 0; i < 200 && reactor("dl")["dead_letters"] != 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(reactor("dl")["dead_letters"], 0);
  EXPECT_EQ(reactor("dl")["delivered"], 10);
  EXPECT_EQ(reactor("stopper")["delivered"], 10);
  std::map<std::string, int> acks;
  for (const auto& h : receiver_.hits()) {
    if (h.answered == 200) ++acks[h.key];
  }
  EXPECT_EQ(acks.size(), 20u);
  for (const auto& [key, n] : acks) EXPECT_EQ(n, 1) << key;
}

TEST_F(ReactorTest, ACircuitOpensWhileTheReceiverIsDownThenHalfOpensAndCloses) {
  import_lines(order_events(0, 5));
  std::atomic<bool> down{false};
  receiver_.decide([&](const Receiver::Hit&) -> unsigned { return down ? 503 : 200; });
  ASSERT_EQ(put_reactor("cb", {{"url", receiver_.url()}, {"events", {"*"}}, {"start", "beginning"},
                               {"max_attempts", 1000}, {"retry_initial_ms", 50}, {"circuit_failures", 3},
                               {"circuit_cooldown_ms", 2500}, {"ordering", "global"}})
                .status,
            201u);
  start_runner();
  wait_drained("cb", 30s);

  down = true;
  const auto went_down = Receiver::Clock::now();
  import_lines(order_events(5, 20));
  bool seen_open = false, metric_open = false;
  while (Receiver::Clock::now() - went_down < 30s) {
    const auto r = reactor("cb");
    seen_open = seen_open || r["state"] == "circuit_open";
    metric_open = metric_open ||
                  call("GET", "/metrics").body.find("reproj_reactor_circuit_state{reactor=\"cb\"} 2") != std::string::npos;
    std::this_thread::sleep_for(200ms);
  }
  down = false;
  const auto came_back = Receiver::Clock::now();
  const auto r = wait_drained("cb", 60s);
  EXPECT_TRUE(seen_open) << "the API showed circuit_open";
  EXPECT_TRUE(metric_open) << "/metrics showed the circuit open (2)";
  EXPECT_EQ(r["circuit"], "closed");
  EXPECT_EQ(r["state"], "running");
  EXPECT_EQ(r["delivered"], 25);

  std::vector<Receiver::Clock::time_point> while_down;
  for (const auto& h : receiver_.hits()) {
    if (h.at >= went_down && h.at < came_back) while_down.push_back(h.at);
  }
  // 3 quick failures open it; then one probe per cooldown (2.5 s, 5 s, 10 s, ...): a handful in 30 s.
  ASSERT_GE(while_down.size(), 5u);
  EXPECT_LE(while_down.size(), 8u) << "nothing is sent while the circuit is open";
  std::vector<double> gaps;
  for (std::size_t i = 1; i < while_down.size(); ++i) {
    gaps.push_back(std::chrono::duration<double>(while_down[i] - while_down[i - 1]).count());
  }
  EXPECT_GE(gaps[2], 2.4) << "the first cooldown";
  EXPECT_GE(gaps[3], 4.9) << "a failed probe doubles it";
  std::cout << "[ reactor ] requests while down: " << while_down.size() << "\n";
}

TEST_F(ReactorTest, RebuildAndRollbackOfAProjectionCauseNoDelivery) {
  seed_events(*store_, 600);
  receiver_.decide([&](const Receiver::Hit&) -> unsigned {
    std::this_thread::sleep_for(2ms);  // delivery spans the rebuild
    return 200;
  });
  ASSERT_EQ(put_reactor("cars-hook", {{"url", receiver_.url()}, {"events", {"car.*"}}, {"start", "beginning"},
                                      {"ordering", "global"}})
                .status,
            201u);
  start_runner();
  auto started = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(started.status, 202u) << started.body;
  EXPECT_EQ(wait_rebuild(json(started)["rebuild_id"]), "done");
  EXPECT_EQ(call("POST", "/admin/projections/cars/rollback", "", true).status, 200u);
  const auto r = wait_drained("cars-hook", 60s);

  const auto expected = matching("event_type LIKE 'car.%'");
  ASSERT_GT(expected.size(), 100u);
  EXPECT_EQ(receiver_.hits().size(), expected.size()) << "each car event once, nothing for the rebuild or rollback";
  EXPECT_EQ(receiver_.acknowledged_in_order(), expected);
  EXPECT_EQ(r["delivered"], expected.size());
}

TEST_F(ReactorTest, APauseStopsDeliveriesMidBatchAndResumeGoesOn) {
  import_lines(order_events(0, 100));
  receiver_.decide([&](const Receiver::Hit&) -> unsigned {
    std::this_thread::sleep_for(50ms);  // a slow receiver: one batch would take 5 s
    return 200;
  });
  ASSERT_EQ(
      put_reactor("slow", {{"url", receiver_.url()}, {"events", {"*"}}, {"start", "beginning"}, {"ordering", "global"}})
          .status,
      201u);
  start_runner();
  while (receiver_.acknowledged_count() < 5) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(json(call("POST", "/admin/reactors/slow/pause", "", true))["state"], "paused");
  std::this_thread::sleep_for(1500ms);  // noticed within a second, plus the request in flight
  const auto paused_at = receiver_.hits().size();
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(receiver_.hits().size(), paused_at) << "nothing sent while paused";
  EXPECT_LT(paused_at, 60u);
  const auto r = reactor("slow");
  EXPECT_EQ(r["delivered"], paused_at) << "what was acknowledged before the pause is checkpointed";
  EXPECT_EQ(call("POST", "/admin/reactors/slow/resume", "", true).status, 200u);
  EXPECT_EQ(wait_drained("slow", 30s)["delivered"], 100);
  EXPECT_EQ(receiver_.acknowledged_in_order(), matching("event_type <> 'nothing'"));
}

TEST_F(ReactorTest, ANewUrlAppliesFromTheNextAttempt) {
  import_lines(order_events(0, 3));
  receiver_.decide([](const Receiver::Hit&) -> unsigned { return 503; });
  Receiver fixed;
  Json config = {{"url", receiver_.url()}, {"events", {"*"}}, {"start", "beginning"}, {"max_attempts", 1000},
                 {"retry_initial_ms", 300}, {"circuit_failures", 1000}, {"ordering", "global"}};
  ASSERT_EQ(put_reactor("moving", config).status, 201u);
  start_runner();
  while (receiver_.hits().size() < 2) std::this_thread::sleep_for(10ms);
  config["url"] = fixed.url();
  ASSERT_EQ(put_reactor("moving", config).status, 200u);
  const auto moved_at = receiver_.hits().size();
  const auto r = wait_drained("moving", 30s);
  EXPECT_EQ(r["delivered"], 3);
  EXPECT_EQ(fixed.acknowledged_in_order(), matching("true"));
  EXPECT_LE(receiver_.hits().size(), moved_at + 1) << "at most the request already scheduled went to the old URL";
}

TEST_F(ReactorTest, TheAdminApiChecksWhatItIsGiven) {
  const Json good = {{"url", receiver_.url()}, {"events", {"car.sold", "customer.*"}}, {"secret", "s"}};
  EXPECT_EQ(call("PUT", "/admin/reactors/hook", good.dump()).status, 401u);
  auto bad = [&](const Json& body, const std::string& name = "hook") {
    const auto r = call("PUT", "/admin/reactors/" + name, body.dump(), true);
    EXPECT_EQ(r.status, 400u) << body.dump() << " " << r.body;
    return json(r)["message"].get<std::string>();
  };
  Json j = good;
  j["url"] = "https://example.com/hook";
  j["ca_file"] = "/nonexistent/ca.pem";
  EXPECT_NE(bad(j).find("ca_file"), std::string::npos);
  j["url"] = receiver_.url();
  EXPECT_NE(bad(j).find("https:// URLs only"), std::string::npos);
  j = good;
  j["client_cert_file"] = "/x.pem";
  EXPECT_NE(bad(j).find("client_key_file"), std::string::npos) << "both or neither";
  j = good;
  j["ordering"] = "random";
  bad(j);
  j = good;
  j["concurrency"] = 0;
  bad(j);
  j["url"] = "/relative";
  bad(j);
  j["url"] = "http://:80/x";
  bad(j);
  j["url"] = "http://host:99999/x";
  bad(j);
  j = good;
  j["events"] = Json::array();
  bad(j);
  j["events"] = {"car*"};
  bad(j);
  j = good;
  j["timeout_ms"] = 0;
  bad(j);
  j = good;
  j["on_failure"] = "explode";
  bad(j);
  j = good;
  j["colour"] = "red";
  EXPECT_NE(bad(j).find("colour"), std::string::npos);
  j = good;
  j["start"] = 999'999;
  bad(j);
  bad(good, "Bad_Name");
  EXPECT_EQ(call("PUT", "/admin/reactors/hook", "{not json", true).status, 400u);
  EXPECT_EQ(call("GET", "/admin/reactors", "", true).body, R"({"reactors":[]})") << "nothing half applied";

  const auto created = put_reactor("hook", good);
  EXPECT_EQ(created.status, 201u) << created.body;
  auto r = json(created);
  EXPECT_EQ(r["state"], "running");
  EXPECT_EQ(r["has_secret"], true);
  EXPECT_EQ(r["ordering"], "stream") << "the default";
  EXPECT_EQ(r["concurrency"], 8);
  EXPECT_EQ(r["in_flight"], 0);
  EXPECT_EQ(r["backing_off"], 0);
  EXPECT_EQ(r["ca_file"], nullptr);
  EXPECT_FALSE(r.contains("secret")) << "the secret is never shown";
  EXPECT_EQ(put_reactor("hook", good).status, 200u) << "same config";
  Json changed = good;
  changed["timeout_ms"] = 1000;
  EXPECT_EQ(json(put_reactor("hook", changed))["timeout_ms"], 1000);
  EXPECT_EQ(json(call("POST", "/admin/reactors/hook/pause", "", true))["state"], "paused");
  EXPECT_EQ(json(call("POST", "/admin/reactors/hook/resume", "", true))["state"], "running");
  EXPECT_EQ(call("POST", "/admin/reactors/hook/reset", R"({"position": -1})", true).status, 400u);
  EXPECT_EQ(call("POST", "/admin/reactors/hook/reset", R"({"position": 0})", true).status, 200u);
  EXPECT_EQ(call("GET", "/admin/reactors/nope", "", true).status, 404u);
  EXPECT_EQ(call("GET", "/admin/reactors/hook/dead-letters", "", true).status, 200u);
  EXPECT_EQ(call("DELETE", "/admin/reactors/hook/dead-letters/x", "", true).status, 404u);
  EXPECT_EQ(json(call("GET", "/admin/reactors", "", true))["reactors"].size(), 1u);
  EXPECT_EQ(call("DELETE", "/admin/reactors/hook", "", true).status, 204u);
  EXPECT_EQ(call("DELETE", "/admin/reactors/hook", "", true).status, 404u);

  // Delivered with the documented headers and counted in /metrics.
  import_lines(order_events(0, 3));
  ASSERT_EQ(
      put_reactor("hook", {{"url", receiver_.url()}, {"events", {"*"}}, {"start", "beginning"}, {"ordering", "global"}})
          .status,
      201u);
  start_runner();
  wait_drained("hook", 30s);
  const auto hits = receiver_.hits();
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].key, "hook:ev-0");
  EXPECT_EQ(hits[0].attempt, 1);
  EXPECT_TRUE(hits[0].signature.empty()) << "no secret, no signature";
  const auto body = Json::parse(hits[0].body);
  for (const char* key : {"event_id", "global_position", "stream_id", "stream_version", "type", "data", "metadata", "recorded_at"}) {
    EXPECT_TRUE(body.contains(key)) << key;
  }
  const auto metrics = call("GET", "/metrics").body;
  for (const char* series : {"reproj_reactor_deliveries_total{reactor=\"hook\",result=\"ok\"} 3",
                             "reproj_reactor_lag_events{reactor=\"hook\"}", "reproj_reactor_circuit_state{reactor=\"hook\"} 0",
                             "reproj_reactor_delivery_duration_seconds_count{reactor=\"hook\"} 3"}) {
    EXPECT_NE(metrics.find(series), std::string::npos) << series;
  }
}

}  // namespace
}  // namespace reproj::test
