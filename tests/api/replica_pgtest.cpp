// Issue 43: eventual reads from real PostgreSQL standbys (scripts/pg replica start, pg_basebackup -R
// of the test cluster), through the server: read-your-writes (min_position) under 32 appending
// clients never answers below its position; a standby stopped, restarted, paused and promoted
// mid-load fails no read; a rebuild and swap on the primary reaches a standby as one transaction.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "engine/replica_set.hpp"
#include "tests/support/api_fixture.hpp"

namespace reproj::test {
namespace {

// A standby of the test cluster, stopped and removed at the end.
class Standby {
 public:
  Standby() {
    const char* primary = std::getenv("REPROJ_PGDIR");
    if (!primary) throw std::runtime_error("REPROJ_PGDIR is not set: run the tests through scripts/test");
    const auto out = run(std::string{REPROJ_SOURCE_DIR} + "/scripts/pg replica start " + primary);
    dir_ = value_of(out, "REPROJ_REPLICA_DIR");
    url_ = value_of(out, "REPROJ_REPLICA_URL");
  }
  ~Standby() { run(std::string{REPROJ_SOURCE_DIR} + "/scripts/pg stop " + dir_); }
  /// The standby's copy of database `name`.
  std::string url(const std::string& name) const { return with_database(url_, name); }
  void halt() const { run(std::string{REPROJ_SOURCE_DIR} + "/scripts/pg halt " + dir_); }
  void resume() const { run(std::string{REPROJ_SOURCE_DIR} + "/scripts/pg resume " + dir_); }
  void sql(const std::string& statement) const { run("psql -qAt '" + url_ + "' -c \"" + statement + "\""); }

 private:
  static std::string run(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) throw std::runtime_error("cannot run " + command);
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    if (::pclose(p) != 0) throw std::runtime_error(command + " failed: " + out);
    return out;
  }
  static std::string value_of(const std::string& out, const std::string& name) {
    const auto at = out.find("export " + name + "=");
    if (at == std::string::npos) throw std::runtime_error("no " + name + " in: " + out);
    const auto from = at + 8 + name.size();
    return out.substr(from, out.find('\n', from) - from);
  }
  std::string dir_, url_;
};

class ReplicaTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    standby_ = std::make_unique<Standby>();
    replicas_ = std::make_unique<engine::ReplicaSet>(
        *pool_, std::vector<std::string>{standby_->url(db_->name())},
        engine::ReplicaOptions{.max_lag = 2000ms, .probe_every = 100ms, .pool_size = 4});
    replicas_->start();
    live_->set_replicas(replicas_.get());
    services_->replicas = replicas_.get();
    wait_state("healthy", 30s);
  }
  void TearDown() override {
    ApiTest::TearDown();  // the server first: nothing reads through the set after this
    if (live_) live_->set_replicas(nullptr);
    replicas_.reset();
    standby_.reset();
  }
  Json replica_info() { return json(call("GET", "/admin/replicas", "", true))["items"][0]; }
  void wait_state(const std::string& state, std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    Json r;
    while (std::chrono::steady_clock::now() < until) {
      r = replica_info();
      if (r["state"] == state) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the replica never became " << state << ": " << r.dump();
  }

  // Clients appending a repaint of their own car and reading it back with read-your-writes.
  struct Load {
    std::atomic<bool> stop{false};
    std::atomic<long> reads{0}, from_replica{0}, failed{0}, below{0}, stale{0};
    std::string first_failure;
    std::mutex mutex;
    std::vector<std::thread> threads;
  };
  void start_load(Load& load, int clients) {
    for (int c = 0; c < clients; ++c) {
      const std::string car = "rc" + std::to_string(c);
      ASSERT_EQ(append(car, "any", {ev(car + "-0", "car.created", {{"by", "c"}, {"color", "v0"}})}).status, 201u);
    }
    for (int c = 0; c < clients; ++c) {
      load.threads.emplace_back([this, &load, c] {
        const std::string car = "rc" + std::to_string(c);
        for (int n = 1; !load.stop; ++n) {
          const std::string color = "v" + std::to_string(n);
          const auto w = call("POST", "/streams/" + car + "/events",
                              Json{{"expected_version", "any"},
                                   {"events", {{{"event_id", car + "-" + std::to_string(n)}, {"type", "car.repainted"},
                                                {"data", {{"color", color}}}}}}}
                                  .dump(),
                              true);
          if (w.status != 201) {  // an append refused under load is not what is measured
            std::this_thread::sleep_for(10ms);
            continue;
          }
          const auto position = Json::parse(w.body)["last_position"].get<std::int64_t>();
          // Right after the write, and a few times more while the client works on (each read must
          // reflect the write: min_position); the later ones find it on the standby.
          for (int k = 0; k < 4 && !load.stop; ++k) {
            if (k > 0) std::this_thread::sleep_for(25ms);
            const auto r = call("GET", "/cars/" + car + "?consistency=eventual&min_position=" + std::to_string(position));
            ++load.reads;
            auto note = [&](const std::string& what) {
              std::lock_guard lock{load.mutex};
              if (load.first_failure.empty()) load.first_failure = what;
            };
            if (r.status != 200) {
              ++load.failed;
              note("HTTP " + std::to_string(r.status) + " " + r.body);
              continue;
            }
            if (std::stoll(r.headers.at("x-projection-position")) < position) {
              ++load.below;
              note("position " + r.headers.at("x-projection-position") + " < " + std::to_string(position));
            }
            if (Json::parse(r.body)["color"] != color) {
              ++load.stale;
              note("read " + r.body + " after writing " + color);
            }
            if (r.headers.at("x-served-by") == "replica") ++load.from_replica;
          }
        }
      });
    }
  }
  void stop_load(Load& load) {
    load.stop = true;
    for (auto& t : load.threads) t.join();
  }

  std::unique_ptr<Standby> standby_;
  std::unique_ptr<engine::ReplicaSet> replicas_;
};

TEST_F(ReplicaTest, ReadYourWritesFromAStandbyNeverAnswersBelowItsPosition) {
  Load load;
  start_load(load, 32);
  std::this_thread::sleep_for(8s);
  stop_load(load);
  EXPECT_GT(load.reads, 500);
  EXPECT_EQ(load.failed, 0) << load.first_failure;
  EXPECT_EQ(load.below, 0) << load.first_failure;
  EXPECT_EQ(load.stale, 0) << load.first_failure;
  // Plain eventual reads (no position) are the standby's to answer.
  const auto r = call("GET", "/cars/rc0?consistency=eventual");
  EXPECT_EQ(r.headers.at("x-served-by"), "replica");
  EXPECT_EQ(call("GET", "/cars/rc0").headers.at("x-served-by"), "primary") << "strong reads stay on the primary";
  const auto info = replica_info();
  EXPECT_EQ(info["state"], "healthy");
  EXPECT_FALSE(info.contains("password"));
  EXPECT_GT(info["reads"].get<long>(), 0);
  EXPECT_NE(call("GET", "/metrics").body.find("reproj_replica_up{replica=\"replica-1\"} 1"), std::string::npos);
  std::cout << "[ replica ] 32 clients, 8 s: " << load.reads << " read-your-writes reads, "
            << 100.0 * static_cast<double>(load.from_replica) / static_cast<double>(std::max(1L, load.reads.load()))
            << "% answered by the standby (the rest by the primary: the standby had not replayed the write yet; "
               "each write is read back at once and 3 times 25 ms apart), "
            << info["reads"] << " reads there in all, " << info["sent_to_primary"] << " sent on to the primary\n";
}

TEST_F(ReplicaTest, AStandbyStoppedRestartedPausedAndPromotedMidLoadFailsNoRead) {
  Load load;
  start_load(load, 16);
  std::this_thread::sleep_for(1s);
  standby_->halt();  // stopped
  std::this_thread::sleep_for(2s);
  EXPECT_NE(replica_info()["state"], "healthy");
  standby_->resume();  // restarted
  wait_state("healthy", 30s);
  const long before_pause = load.from_replica;
  standby_->sql("SELECT pg_wal_replay_pause()");  // paused: every read-your-writes read is above it
  std::this_thread::sleep_for(3s);
  const auto paused = replica_info();
  standby_->sql("SELECT pg_wal_replay_resume()");
  wait_state("healthy", 30s);
  std::this_thread::sleep_for(1s);
  standby_->sql("SELECT pg_promote()");  // promoted: out of rotation for good
  wait_state("not_in_recovery", 30s);
  std::this_thread::sleep_for(1s);
  stop_load(load);
  EXPECT_EQ(load.failed, 0) << load.first_failure;
  EXPECT_EQ(load.below, 0) << load.first_failure;
  EXPECT_EQ(load.stale, 0) << load.first_failure;
  EXPECT_GT(load.from_replica, before_pause) << "the standby served again after its restart";
  EXPECT_EQ(paused["state"], "lagging") << paused.dump();
  EXPECT_GT(paused["lag_bytes"].get<long>(), 0);
  EXPECT_EQ(call("GET", "/cars/rc0?consistency=eventual").headers.at("x-served-by"), "primary")
      << "a promoted standby no longer follows the primary";
  std::cout << "[ replica ] stop, restart, pause, promote under 16 clients: " << load.reads << " reads, "
            << load.from_replica << " by the standby, 0 failed\n";
}

TEST_F(ReplicaTest, ASwapOnThePrimaryReachesTheStandbyAsOneTransaction) {
  // Bob buys a car and becomes Charlie: cars v1 shows Bob (it ignores renames), v2 Charlie.
  ASSERT_EQ(append("cu1", "any", {ev("cu1-0", "customer.created", {{"name", "Bob"}})}).status, 201u);
  for (int i = 0; i < 20; ++i) {
    const std::string car = "sw" + std::to_string(i);
    ASSERT_EQ(append(car, "any", {ev(car + "-0", "car.created", {{"by", "x"}, {"color", "red"}}),
                                  ev(car + "-1", "car.sold", {{"to", "cu1"}})})
                  .status,
              201u);
  }
  ASSERT_EQ(append("cu1", "any", {ev("cu1-1", "customer.renamed", {{"name", "Charlie"}})}).status, 201u);
  const auto tail = store_->safe_tail();
  ASSERT_EQ(call("GET", "/cars/sw0?min_position=" + std::to_string(tail)).status, 200u);

  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, v1{0}, v2{0}, torn{0}, failed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (int n = 0; !stop; ++n) {
        const auto r = call("GET", "/cars?consistency=eventual&limit=100");
        if (r.status != 200) {
          ++failed;
          continue;
        }
        if (r.headers.at("x-served-by") != "replica") continue;
        ++reads;
        const auto version = r.headers.at("x-projection-version");
        const std::string want = version == "1" ? "Bob" : "Charlie";
        (version == "1" ? v1 : v2)++;
        const auto page = Json::parse(r.body);  // alive for the loop: a range over a temporary's member is not
        for (const auto& car : page["items"]) {
          if (car["car_id"].get<std::string>().rfind("sw", 0) == 0 && car["customer_name"] != want) ++torn;
        }
      }
      (void)t;
    });
  }
  std::this_thread::sleep_for(500ms);
  auto started = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(started.status, 202u) << started.body;
  EXPECT_EQ(wait_rebuild(json(started)["rebuild_id"]), "done");
  // The first standby read after the swap replayed: version 2's rows.
  const auto until = std::chrono::steady_clock::now() + 30s;
  Json first;
  while (std::chrono::steady_clock::now() < until) {
    const auto r = call("GET", "/cars/sw0?consistency=eventual");
    if (r.headers.at("x-served-by") == "replica" && r.headers.at("x-projection-version") == "2") {
      first = Json::parse(r.body);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(500ms);
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(first["customer_name"], "Charlie") << first.dump();
  EXPECT_EQ(torn, 0) << "a standby read saw a version's header with another version's rows";
  EXPECT_EQ(failed, 0);
  EXPECT_GT(v1, 0) << "reads on the standby before the swap";
  EXPECT_GT(v2, 0) << "reads on the standby after it";
  std::cout << "[ replica ] swap during " << reads << " standby list reads: " << v1 << " of v1, " << v2
            << " of v2, 0 torn\n";
}

}  // namespace
}  // namespace reproj::test
