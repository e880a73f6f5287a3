// Rebuilds across real processes: SIGKILL at several points then resume, and two instances
// sharing one database with exactly one running the rebuild.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/rebuild.hpp"
#include "tests/support/live_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;
using namespace std::chrono_literals;

namespace {

struct KillPoint {
  const char* fault;              // REPROJ_FAULT of the first run
  engine::RebuildState left_in;   // the state the killed rebuild is found in
  bool expect_resume_mid_replay;  // the second run must resume from a checkpoint > 0
};

class RebuildProcessTest : public test::LiveTest {
 protected:
  void SetUp() override { SetUpLive(1); }
  std::vector<std::string> env() { return {"DATABASE_URL=" + db_->url(), "REPROJ_REBUILD_BATCH=1000"}; }
  std::set<std::string> data_tables() { return test::data_tables(db_->url()); }
  int active_version(const std::string& name) {
    for (const auto& s : live_->status()) {
      if (s.name == name) return s.active_version;
    }
    return 0;
  }
};

class ResumeAfterKill : public RebuildProcessTest, public ::testing::WithParamInterface<KillPoint> {};

}  // namespace

TEST_P(ResumeAfterKill, KilledRebuildResumesFromItsCheckpointAndMatchesTheFold) {
  const auto point = GetParam();
  test::seed_events(*store_, 20'000);
  engine::RebuildManager rebuilds{*pool_, *live_};
  const auto id = rebuilds.start("cars", 2).id;
  test::seed_events(*store_, 3'000, 8, 42);  // past the target: work for the catch-up phase

  {
    auto env = this->env();
    env.push_back(std::string{"REPROJ_FAULT="} + point.fault);
    test::Child child{{"rebuild", "cars", "--version", "2"}, env};
    const int status = child.wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child was not killed at " << point.fault;
  }
  auto killed = rebuilds.get(id);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->state, point.left_in) << point.fault;
  EXPECT_GT(killed->position, 0) << "no checkpoint before the kill";
  for (const auto& s : live_->status()) {
    if (s.name == "cars") {
      EXPECT_EQ(s.active_version, 1) << "a killed rebuild changed live";
    }
  }
  EXPECT_EQ(live_->get("cars", "car-100-1", {.strong = false}).version, 1) << "live serves through the crash";

  test::Child again{{"rebuild", "cars", "--version", "2"}, env()};
  const int status = again.wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the resumed rebuild did not finish";
  auto done = rebuilds.get(id);
  ASSERT_EQ(done->state, engine::RebuildState::kDone) << done->error;
  EXPECT_EQ(done->resumes, point.expect_resume_mid_replay || killed->position > 0 ? 1 : 0);
  ASSERT_TRUE(done->resumed_from.has_value());
  EXPECT_EQ(*done->resumed_from, killed->position) << "did not resume from the checkpoint";
  if (point.expect_resume_mid_replay) {
    EXPECT_GT(*done->resumed_from, 0);
    EXPECT_LT(*done->resumed_from, done->target) << "the kill was not mid-replay";
  }
  std::int64_t position = 0;
  auto rows = test::all_rows(*live_, "cars", &position);
  EXPECT_EQ(position, store_->safe_tail());
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 2, position)));
  EXPECT_EQ(data_tables(), (std::set<std::string>{"cars", "cars__customer_names", "customers",
                                                  "cars__r" + std::to_string(id),
                                                  "cars__customer_names__r" + std::to_string(id)}))
      << "orphan tables";
}

INSTANTIATE_TEST_SUITE_P(
    KillPoints, ResumeAfterKill,
    ::testing::Values(KillPoint{"checkpoint:5", engine::RebuildState::kReplaying, true},
                      // The replay's heaps committed, their indexes built but not attached.
                      KillPoint{"indexed:1", engine::RebuildState::kReplaying, false},
                      KillPoint{"catch_up_checkpoint:1", engine::RebuildState::kCatchingUp, false},
                      KillPoint{"promote:1", engine::RebuildState::kCatchingUp, false}),
    [](const auto& param_info) {
      std::string name = param_info.param.fault;
      return name.substr(0, name.find(':'));
    });

TEST_F(RebuildProcessTest, TwoInstancesExactlyOneReplaysAndTheOtherFinishesAfterAKill) {
  test::seed_events(*store_, 60'000);  // enough checkpoints that the hand-over can be watched
  auto env = this->env();
  env.push_back("REPROJ_REBUILD_BATCH=250");  // ~160 checkpoints: time to watch the hand-over
  test::Child a{{"work"}, env};
  test::Child b{{"work"}, env};
  std::this_thread::sleep_for(1s);  // both up, both polling for rebuilds

  engine::RebuildManager rebuilds{*pool_, *live_};
  const auto id = rebuilds.start("cars", 2).id;
  std::string first_runner;
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    auto r = rebuilds.get(id);
    if (r->position > 0 && !r->runner.empty()) {
      first_runner = r->runner;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(first_runner.empty()) << "nobody picked the rebuild up";
  for (int i = 0; i < 10; ++i) {  // exactly one runs it: the runner never changes while it lives
    auto r = rebuilds.get(id);
    ASSERT_TRUE(engine::is_running(r->state)) << "finished too early to test the hand-over";
    EXPECT_EQ(r->runner, first_runner);
    EXPECT_EQ(r->resumes, 0);
    std::this_thread::sleep_for(50ms);
  }
  const auto pid_of = [](const std::string& runner) { return std::stoi(runner.substr(runner.rfind(':') + 1)); };
  test::Child& victim = pid_of(first_runner) == a.pid() ? a : b;
  test::Child& survivor = &victim == &a ? b : a;
  ASSERT_TRUE(pid_of(first_runner) == a.pid() || pid_of(first_runner) == b.pid()) << first_runner;
  victim.kill(SIGKILL);
  victim.wait();

  std::optional<engine::RebuildInfo> done;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    done = rebuilds.get(id);
    if (!engine::is_running(done->state)) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(done->state, engine::RebuildState::kDone) << done->error;
  EXPECT_EQ(pid_of(done->runner), survivor.pid()) << "the survivor did not take over";
  EXPECT_EQ(done->resumes, 1);
  EXPECT_GT(done->resumed_from.value_or(0), 0) << "the survivor started over instead of resuming";
  survivor.kill(SIGTERM);
  int status = 0;
  EXPECT_TRUE(survivor.wait_for(10s, &status)) << "reproj work did not stop on SIGTERM";

  std::int64_t position = 0;
  auto rows = test::all_rows(*live_, "cars", &position);
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 2, position)));
}

namespace {
std::string environment_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/environ"};
  std::string env{std::istreambuf_iterator<char>{in}, {}};
  std::replace(env.begin(), env.end(), '\0', '\n');
  return env;
}
bool kernel_offers_huge_pages() {
  std::ifstream in{"/sys/kernel/mm/transparent_hugepage/enabled"};
  const std::string modes{std::istreambuf_iterator<char>{in}, {}};
  return modes.find("[always]") != std::string::npos || modes.find("[madvise]") != std::string::npos;
}
}  // namespace

// api/cli/huge_pages.hpp: the binary re-executes itself (same pid) with glibc's malloc on
// transparent huge pages, and does not when told not to. (Tunables given beforehand are kept, but
// the loader cuts the variable at its first ':' as it parses it, so /proc cannot show that.)
TEST_F(RebuildProcessTest, TheBinaryPutsItsHeapOnHugePagesUnlessToldNot) {
  const bool offered = kernel_offers_huge_pages();
  auto env = this->env();
  env.push_back("GLIBC_TUNABLES=");  // whatever this test runs under
  test::Child on{{"work"}, env};
  std::string seen;
  for (int i = 0; i < 100 && seen.find("glibc.malloc.hugetlb") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
    seen = environment_of(on.pid());
  }
  EXPECT_EQ(seen.find("GLIBC_TUNABLES=glibc.malloc.hugetlb=1\n") != std::string::npos, offered)
      << "transparent huge pages " << (offered ? "offered" : "off") << "; environment:\n" << seen;
  env.push_back("REPROJ_HUGE_PAGES=0");
  test::Child off{{"work"}, env};
  std::this_thread::sleep_for(1s);  // long past a re-execution
  seen = environment_of(off.pid());
  EXPECT_EQ(seen.find("glibc.malloc.hugetlb"), std::string::npos) << seen;
  for (auto* child : {&on, &off}) {
    child->kill(SIGTERM);
    int status = 0;
    EXPECT_TRUE(child->wait_for(10s, &status));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "reproj work did not run and stop cleanly";
  }
}

TEST_F(RebuildProcessTest, ABadTuningVariableIsRefusedNamingItAndStartsNothing) {
  test::seed_events(*store_, 1'000);
  const auto log = std::filesystem::temp_directory_path() / ("reproj_bad_env_" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(log);
  auto env = this->env();
  env.push_back("REPROJ_INDEX_BUILD_WORKERS=lots");
  test::Child child{{"rebuild", "cars", "--version", "2"}, env, log.string()};
  const int status = child.wait();
  std::ifstream in{log};
  const std::string out{std::istreambuf_iterator<char>{in}, {}};
  std::filesystem::remove(log);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(out.find("REPROJ_INDEX_BUILD_WORKERS must be a whole number from 0 to 1024, got 'lots'"), std::string::npos)
      << out;
  engine::RebuildManager rebuilds{*pool_, *live_};
  EXPECT_TRUE(rebuilds.list().empty()) << "a rebuild was recorded anyway";
}

// Issue 16: a manual rebuild waits at `ready` in a `reproj work` process while 4 writers append; the
// process is SIGKILLed and another takes over; the rebuild is still ready, follows on, and after the
// promote every car equals the fold: nothing written while it waited is missed. Soak longer with
// REPROJ_READY_SOAK_SECONDS (default 6).
TEST_F(RebuildProcessTest, AReadyRebuildSurvivesAKillFollowsWritersAndPromotesToTheFold) {
  const char* soak_env = std::getenv("REPROJ_READY_SOAK_SECONDS");
  const auto soak = std::chrono::seconds{soak_env ? std::atoi(soak_env) : 6};
  test::seed_events(*store_, 20'000);
  engine::RebuildManager rebuilds{*pool_, *live_};
  const auto id = rebuilds.start("cars", 2, engine::DependentViews::kRefuse, engine::PromoteMode::kManual).id;

  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      test::EventGenerator gen{300 + w, static_cast<unsigned>(w) + 9u};
      while (!stop) {
        auto [stream, e] = gen.next();
        try {
          store_->append(stream, engine::ExpectedVersion::any(), {e});
        } catch (const std::exception&) {
          ++failed;
        }
      }
    });
  }
  auto wait_for = [&](engine::RebuildState wanted, std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::optional<engine::RebuildInfo> info;
    while (std::chrono::steady_clock::now() < until) {
      info = rebuilds.get(id);
      if (info && (info->state == wanted || !engine::is_running(info->state))) break;
      std::this_thread::sleep_for(50ms);
    }
    return info;
  };
  {
    test::Child first{{"work"}, env()};
    auto ready = wait_for(engine::RebuildState::kReady, 120s);
    ASSERT_TRUE(ready && ready->state == engine::RebuildState::kReady) << (ready ? ready->error : "no rebuild");
    std::this_thread::sleep_for(soak / 2);
    first.kill();
    first.wait();
  }
  auto after_kill = rebuilds.get(id);
  ASSERT_EQ(after_kill->state, engine::RebuildState::kReady) << "the kill moved the rebuild out of ready";
  EXPECT_EQ(active_version("cars"), 1) << "a ready rebuild changed live";
  test::Child second{{"work"}, env()};
  std::this_thread::sleep_for(soak / 2);
  const auto followed = rebuilds.get(id)->position;
  EXPECT_GT(followed, after_kill->position) << "the new process does not follow the tail";
  rebuilds.request_promote(id);
  auto done = wait_for(engine::RebuildState::kDone, 120s);
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_TRUE(done && done->state == engine::RebuildState::kDone) << (done ? done->error : "no rebuild");
  EXPECT_EQ(failed, 0);
  second.kill(SIGTERM);
  second.wait();
  std::int64_t position = 0;
  const auto rows = test::all_rows(*live_, "cars", &position);
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 2, position)));
}

// Issue 18: a rebuild held to a memory budget far below its projection peaks (the kernel's count,
// from outside the process) under the budget plus the overhead README "Memory" states, and gives the
// rows the same rebuild gives without a budget (which the tests above hold to the fold; the fold of
// 600k events is too slow for the oracle, whose renames scan every car). Without a budget the same
// log peaks far above that bound, so it is the budget that holds the bounded run down.
// A spawned child's ru_maxrss starts at this process's own peak (posix_spawn shares our memory until
// the exec), so this process stays small: the log is generated and imported by children, and the
// rows are compared in SQL.
TEST_F(RebuildProcessTest, UnderAMemoryBudgetThePeakRssStaysUnderTheBudgetPlusItsStatedOverhead) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine are not the rebuild's";
#endif
  constexpr long kBudgetMib = 1;
  constexpr long kBatch = 10'000;
  // README "Memory": 25 MiB for the process, 1.5 KiB per event of a batch for the three in flight
  // and a quarter of the budget (nothing at 1 MiB).
  constexpr long kOverheadMib = 25 + kBatch * 3 / 2 / 1024;
  const auto file = std::filesystem::temp_directory_path() / ("reproj_budget_" + std::to_string(::getpid()) + ".ndjson");
  std::filesystem::remove(file);
  const auto exits_cleanly = [](test::Child& child, long* peak_kib) {
    const int status = child.wait(peak_kib);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
  long unused = 0;
  {
    test::Child generate{{"generate", "--events", "600000", "--seed", "7"}, env(), file.string()};
    ASSERT_TRUE(exits_cleanly(generate, &unused));
    test::Child import{{"import", file.string()}, env()};
    ASSERT_TRUE(exits_cleanly(import, &unused));
  }
  std::filesystem::remove(file);
  auto run = [&](int version, long budget_mib) {
    auto env = this->env();
    env.push_back("REPROJ_REBUILD_BATCH=" + std::to_string(kBatch));
    env.push_back("REPROJ_CHECKPOINT_EVENTS=0");
    env.push_back("REPROJ_REBUILD_MEMORY_MIB=" + std::to_string(budget_mib));
    test::Child child{{"rebuild", "cars", "--version", std::to_string(version)}, env};
    long peak_kib = 0;
    EXPECT_TRUE(exits_cleanly(child, &peak_kib)) << "the rebuild to v" << version << " failed";
    return peak_kib / 1024;
  };
  pqxx::connection c{db_->url()};
  const long bounded_mib = run(2, kBudgetMib);
  pqxx::nontransaction{c}.exec0("CREATE TABLE public.bounded_cars AS SELECT * FROM reproj_data.cars");
  run(1, 0);
  const long unbounded_mib = run(2, 0);
  pqxx::nontransaction tx{c};
  const auto cars = tx.exec1("SELECT count(*) FROM reproj_data.cars")[0].as<long>();
  const auto differ = tx.exec1(
                            "SELECT count(*) FROM ((TABLE reproj_data.cars EXCEPT ALL TABLE public.bounded_cars) "
                            "UNION ALL (TABLE public.bounded_cars EXCEPT ALL TABLE reproj_data.cars)) d")[0]
                          .as<long>();
  std::cout << "peak RSS: budget " << kBudgetMib << " MiB -> " << bounded_mib << " MiB; no budget -> " << unbounded_mib
            << " MiB (" << cars << " cars)\n";
  EXPECT_LE(bounded_mib, kBudgetMib + kOverheadMib) << "peak RSS past the budget plus its overhead";
  EXPECT_GT(unbounded_mib, 2 * (kBudgetMib + kOverheadMib)) << "the log is too small to show the bound";
  EXPECT_GT(cars, 100'000);
  EXPECT_EQ(differ, 0) << "the bounded rebuild's cars differ from the unbounded one's";
}
