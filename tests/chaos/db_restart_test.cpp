// PostgreSQL restarts three times (pg_ctl restart -m fast) under a serving reproj with appends, strong reads
// and a rebuild in flight: every request gets an answer (503 + Retry-After while the database is
// away, never a hang or a dropped connection), /readyz goes 503 then 200, connections come back,
// the rebuild resumes from its checkpoint and finishes, and the result equals the fold.
// The test starts a cluster of its own so restarting it disturbs no other test.
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "engine/connection_pool.hpp"
#include "engine/event_store.hpp"
#include "engine/migrations.hpp"
#include "tests/support/http_load.hpp"
#include "tests/support/process.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/verify.hpp"

using namespace reproj;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string run_script(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + command);
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  if (pclose(p) != 0) throw std::runtime_error(command + " failed: " + out);
  return out;
}

// A throwaway cluster of this test's own, through scripts/pg.
class OwnCluster {
 public:
  OwnCluster() {
    const auto out = run_script(pg_ + " start");
    auto value = [&](const std::string& key) {
      const auto at = out.find(key + "=");
      if (at == std::string::npos) throw std::runtime_error("scripts/pg start printed no " + key + ": " + out);
      const auto from = at + key.size() + 1;
      return out.substr(from, out.find('\n', from) - from);
    };
    dir_ = value("REPROJ_PGDIR");
    url_ = value("DATABASE_URL");
  }
  ~OwnCluster() {
    try {
      run_script(pg_ + " stop " + dir_);
    } catch (const std::exception&) {
    }
  }
  const std::string& url() const { return url_; }
  void restart() { run_script(pg_ + " restart " + dir_); }

 private:
  const std::string pg_ = std::string{REPROJ_SOURCE_DIR} + "/scripts/pg";
  std::string dir_, url_;
};

}  // namespace

TEST(DatabaseRestart, ServingRebuildingAndAppendingSurviveAFastRestart) {
  OwnCluster cluster;
  engine::migrate(cluster.url());
  {
    engine::ConnectionPool pool{cluster.url(), 1};
    engine::EventStore store{pool};
    test::seed_events(store, 60'000);
  }

  const int port = test::free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const std::map<std::string, std::string> admin{{"Authorization", "Bearer t"}};
  test::Child server{{"serve", "--listen", "127.0.0.1:" + std::to_string(port), "--admin-token", "t",
                      "--initial-version", "cars=1"},
                     {"DATABASE_URL=" + cluster.url(), "REPROJ_REBUILD_BATCH=500"}};
  const auto ready = [&] {
    try {
      return api::http_call(base, "GET", "/readyz", "", {}, 5).status == 200;
    } catch (const std::exception&) {
      return false;
    }
  };
  for (auto until = Clock::now() + 60s; !ready();) {
    ASSERT_LT(Clock::now(), until) << "the server never became ready";
    std::this_thread::sleep_for(50ms);
  }

  test::HttpLoad load{base, 5, "t"};
  std::vector<unsigned> readiness;  // /readyz answers, consecutive repeats folded
  std::jthread poller{[&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      unsigned status = 0;
      try {
        status = api::http_call(base, "GET", "/readyz", "", {}, 30).status;
      } catch (const std::exception&) {  // status 0: no answer (must never happen)
      }
      if (readiness.empty() || readiness.back() != status) readiness.push_back(status);
      std::this_thread::sleep_for(20ms);
    }
  }};

  auto started = api::http_call(base, "POST", "/admin/projections/cars/rebuild", R"({"version": 2})", admin);
  ASSERT_EQ(started.status, 202u) << started.body;
  const auto id = nlohmann::json::parse(started.body).at("rebuild_id").get<std::int64_t>();
  const auto rebuild = [&] {
    pqxx::connection c{cluster.url()};
    pqxx::read_transaction tx{c};
    return tx.exec_params1("SELECT state, position, resumes, coalesce(resumed_from, -1) FROM reproj.rebuilds "
                           "WHERE id = $1",
                           id);
  };
  for (auto until = Clock::now() + 60s; rebuild()[1].as<std::int64_t>() == 0;) {
    ASSERT_LT(Clock::now(), until) << "the rebuild made no checkpoint";
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(rebuild()[0].as<std::string>(), "replaying") << "the rebuild finished before the restart";

  // Three restarts: the first mid-replay, the others wherever the rebuild has got to by then.
  constexpr int kRestarts = 3;
  double longest_restart = 0;
  for (int i = 0; i < kRestarts; ++i) {
    const auto restart_began = Clock::now();
    cluster.restart();
    longest_restart = std::max(longest_restart, std::chrono::duration<double>(Clock::now() - restart_began).count());
    for (auto until = Clock::now() + 60s; !ready();) {
      ASSERT_LT(Clock::now(), until) << "readiness did not come back after restart " << i + 1;
      std::this_thread::sleep_for(50ms);
    }
    std::this_thread::sleep_for(400ms);  // serve, append and rebuild on the new connections a while
  }
  std::string state;
  for (auto until = Clock::now() + 120s; (state = rebuild()[0].as<std::string>()) != "done";) {
    ASSERT_NE(state, "failed") << "the restart failed the rebuild";
    ASSERT_LT(Clock::now(), until) << "the rebuild did not finish after the restart";
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(500ms);  // some load against the promoted version
  poller.request_stop();
  poller.join();
  load.stop();

  int status = 0;
  ASSERT_FALSE(server.wait_for(0ms, &status)) << "the server died";
  const auto done = rebuild();
  EXPECT_GE(done[2].as<int>(), 1) << "the rebuild started over instead of resuming";
  EXPECT_GT(done[3].as<std::int64_t>(), 0) << "resumed from nothing";

  const auto counts = load.counts();
  for (const auto& s : load.surprises()) ADD_FAILURE() << "unexpected answer: " << s;
  EXPECT_EQ(counts.transport_errors, 0) << "requests went unanswered (hang or dropped connection)";
  EXPECT_EQ(counts.unavailable_no_retry, 0) << "503 without Retry-After";
  EXPECT_EQ(counts.other, 0);
  EXPECT_LT(counts.max_request_seconds, 15.0) << "a request hung";
  ASSERT_GE(readiness.size(), 3u);
  EXPECT_EQ(readiness.front(), 200u);
  EXPECT_EQ(readiness.back(), 200u);
  EXPECT_NE(std::find(readiness.begin(), readiness.end(), 503u), readiness.end()) << "readiness never said 503";
  EXPECT_EQ(std::find(readiness.begin(), readiness.end(), 0u), readiness.end()) << "/readyz went unanswered";

  // Everything applied up to the tail by strong reads, then checked straight from PostgreSQL.
  EXPECT_EQ(api::http_call(base, "GET", "/cars?limit=1").status, 200u);
  EXPECT_EQ(api::http_call(base, "GET", "/customers?limit=1").status, 200u);
  engine::ConnectionPool pool{cluster.url(), 1};  // opened after the restart
  engine::EventStore store{pool};
  const auto fold = test::check_against_fold(cluster.url(), store);
  EXPECT_EQ(fold.differences, 0u) << fold.describe();
  EXPECT_EQ(fold.cars_version, 2);
  EXPECT_EQ(fold.cars_at, fold.tail);
  EXPECT_EQ(test::missing_appends(cluster.url(), load.acked()), 0u);
  EXPECT_TRUE(test::orphan_tables(cluster.url()).empty());
  std::cout << "database restarts: " << kRestarts << ", longest " << longest_restart << " s; appends acked " << counts.appends_acked << ", reads ok "
            << counts.reads_ok << ", 503+Retry-After " << counts.unavailable << ", longest request "
            << counts.max_request_seconds << " s, rebuild resumed from " << done[3].as<std::int64_t>() << "\n";
  server.kill(SIGTERM);
  EXPECT_TRUE(server.wait_for(20s, &status)) << "no clean stop after the restart";
}
