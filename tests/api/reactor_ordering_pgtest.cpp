// Issue 42: reactors with several requests in flight. The flaky receiver of the issue (30%: 500s,
// stalls past the timeout, dropped connections) gets 1,000 events over 60 streams within 60 s with
// the defaults, each stream's first acknowledgements in log order; a stream that keeps failing backs
// off alone, and a restart sends again only what was not acknowledged.
#include <map>
#include <set>

#include "tests/support/reactor_fixture.hpp"

namespace reproj::test {
namespace {

// `count` events over `streams` streams, round robin.
std::string stream_events(int count, int streams) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    out += Json{{"event_id", "ev-" + std::to_string(i)}, {"stream_id", "st-" + std::to_string(i % streams)},
                {"type", "order.placed"}, {"data", {{"n", i}}}}
               .dump() +
           "\n";
  }
  return out;
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}
std::uint64_t mix64(std::uint64_t z) {  // splitmix64's finaliser: FNV alone correlates across attempts
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class ReactorOrderingTest : public ReactorTest {
 protected:
  // Per stream, the event ids in log order: the independent answer.
  std::map<std::string, std::vector<std::string>> by_stream() {
    pqxx::connection conn{db_->url()};
    pqxx::read_transaction tx{conn};
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& r : tx.exec("SELECT stream_id, event_id FROM reproj.events ORDER BY global_position")) {
      out[r[0].as<std::string>()].push_back(r[1].as<std::string>());
    }
    return out;
  }
  // Per stream, event ids in the order of their first 2xx at the receiver.
  static std::map<std::string, std::vector<std::string>> acked_by_stream(const Receiver& receiver) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& id : receiver.acknowledged_in_order()) {
      const int n = std::stoi(id.substr(3));
      out["st-" + std::to_string(n % streams_)].push_back(id);
    }
    return out;
  }
  static inline int streams_ = 60;
};

TEST_F(ReactorOrderingTest, AFlakyReceiverGetsEveryEventWithinAMinuteInStreamOrder) {
  streams_ = 60;
  import_lines(stream_events(1000, streams_));
  // 30% fail: a third answer 500, a third stall 2.5 s past the 1 s timeout, a third drop the connection.
  // Each answer is a fixed function of (event, attempt), so a run does not depend on how requests
  // interleave: with this salt 29.8% of requests fail and the unluckiest event fails 5 times in a row.
  receiver_.hang_for = 2500ms;
  receiver_.decide([&](const Receiver::Hit& h) -> unsigned {
    const double x = static_cast<double>(mix64(fnv1a("flaky-5:" + h.event_id + ":" + std::to_string(h.attempt))) % 1000) / 1000;
    return x < 0.1 ? 500 : x < 0.2 ? Receiver::kHang : x < 0.3 ? Receiver::kClose : 200;
  });
  ASSERT_EQ(put_reactor("flaky", {{"url", receiver_.url()}, {"events", {"order.*"}}, {"start", "beginning"},
                                  {"timeout_ms", 1000}})
                .status,
            201u);
  const auto started = std::chrono::steady_clock::now();
  start_runner();
  int most_in_flight = 0, most_backing_off = 0;
  Json r;
  while (std::chrono::steady_clock::now() - started < 60s) {
    r = reactor("flaky");
    most_in_flight = std::max(most_in_flight, r["in_flight"].get<int>());
    most_backing_off = std::max(most_backing_off, r["backing_off"].get<int>());
    if (r["position"] == store_->safe_tail() && r["lag"] == 0) break;
    std::this_thread::sleep_for(50ms);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(r["position"], store_->safe_tail()) << "not all delivered within 60 s: " << r.dump();
  EXPECT_EQ(r["delivered"], 1000);
  EXPECT_EQ(r["dead_letters"], 0);
  EXPECT_EQ(acked_by_stream(receiver_), by_stream()) << "within each stream, first acknowledgements in log order";
  std::size_t failed = 0;
  for (const auto& h : receiver_.hits()) {
    ASSERT_EQ(h.key, "flaky:" + h.event_id);
    if (h.answered < 200 || h.answered >= 300) ++failed;
  }
  EXPECT_GT(failed, 200u) << "the receiver failed about 30% of " << receiver_.hits().size();
  EXPECT_GT(most_in_flight, 1) << "the API showed requests in flight together";
  EXPECT_GT(most_backing_off, 0) << "the API showed streams backing off";
  std::cout << "[ reactor ] flaky receiver: 1000 events over 60 streams in " << seconds << " s, "
            << receiver_.hits().size() << " requests (" << failed << " failed); at most " << most_in_flight
            << " in flight and " << most_backing_off << " streams backing off seen\n";
}

TEST_F(ReactorOrderingTest, AFailingStreamBacksOffAloneAndARestartSendsOnlyWhatWasNotAcknowledged) {
  streams_ = 10;
  import_lines(stream_events(200, streams_));
  std::atomic<bool> stuck{true};
  receiver_.decide([&](const Receiver::Hit& h) -> unsigned {
    return stuck && std::stoi(h.event_id.substr(3)) % streams_ == 3 ? 503 : 200;  // stream st-3 fails
  });
  ASSERT_EQ(put_reactor("one-bad", {{"url", receiver_.url()}, {"events", {"*"}}, {"start", "beginning"},
                                    {"max_attempts", 1000}, {"retry_initial_ms", 50}, {"retry_max_ms", 200},
                                    {"circuit_failures", 1000}})
                .status,
            201u);
  start_runner();
  // The other 180 events are delivered while st-3's first event (position 4) keeps failing.
  const auto until = std::chrono::steady_clock::now() + 30s;
  Json r;
  while (std::chrono::steady_clock::now() < until) {
    r = reactor("one-bad");
    if (r["acknowledged_above"] == 177 && r["backing_off"] == 1) break;
    std::this_thread::sleep_for(20ms);
  }
  // ev-0..2 (positions 1-3) are below the checkpoint; st-3's 20 events wait.
  ASSERT_EQ(r["acknowledged_above"], 177) << r.dump();
  EXPECT_EQ(r["position"], 3) << "the checkpoint stays before the failing event";
  EXPECT_EQ(r["delivered"], 180);
  EXPECT_EQ(r["backing_off"], 1);
  EXPECT_NE(r["last_error"].get<std::string>().find("503"), std::string::npos);
  bool metric = false;
  for (int i = 0; i < 250 && !metric; ++i) {
    metric = call("GET", "/metrics").body.find("reproj_reactor_backing_off{reactor=\"one-bad\"} 1") != std::string::npos;
    if (!metric) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(metric) << "/metrics shows the stream backing off";
  for (const auto& h : receiver_.hits()) {
    if (std::stoi(h.event_id.substr(3)) % streams_ == 3) {
      EXPECT_EQ(h.event_id, "ev-3") << "st-3 waits for its first";
    }
  }

  runner_.reset();  // a restart: what was acknowledged above the checkpoint is not sent again
  const auto before = receiver_.hits().size();
  stuck = false;
  start_runner();
  const auto done = wait_drained("one-bad", 30s);
  EXPECT_EQ(done["delivered"], 200);
  EXPECT_EQ(done["acknowledged_above"], 0);
  std::map<std::string, int> acks;
  for (const auto& h : receiver_.hits()) {
    if (h.answered == 200) ++acks[h.event_id];
  }
  EXPECT_EQ(acks.size(), 200u);
  for (const auto& [id, n] : acks) EXPECT_EQ(n, 1) << id << " acknowledged twice";
  // After the restart: st-3's 20 events, nothing else (one more if a retry sent before the restart
  // reached the receiver after it).
  EXPECT_GE(receiver_.hits().size() - before, 20u);
  EXPECT_LE(receiver_.hits().size() - before, 21u) << "only st-3's events are sent after the restart";
  EXPECT_EQ(acked_by_stream(receiver_), by_stream());
}

TEST_F(ReactorOrderingTest, OrderingNoneSendsEventsOfOneStreamTogether) {
  streams_ = 1;
  import_lines(stream_events(40, 1));
  receiver_.answer_after_ms = 20;
  ASSERT_EQ(put_reactor("any", {{"url", receiver_.url()}, {"events", {"*"}}, {"start", "beginning"},
                                {"ordering", "none"}, {"concurrency", 4}})
                .status,
            201u);
  start_runner();
  EXPECT_EQ(wait_drained("any", 30s)["delivered"], 40);
  EXPECT_EQ(receiver_.most_concurrent(), 4) << "four of one stream's events at once, never more";
}

}  // namespace
}  // namespace reproj::test
