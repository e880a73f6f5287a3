// Rebuilds that must not throw hours away (issue 14, items 8 and 9): cancelled statements resume
// from the checkpoint, an exhausted swap budget goes back to catching up, and an instance that
// does not know the version leaves the rebuild alone.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/rebuild.hpp"
#include "projections/cars.hpp"
#include "projections/customers_v1.hpp"
#include "tests/support/live_fixture.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;
using namespace std::chrono_literals;

namespace {

class RebuildFaultsTest : public test::LiveTest {
 protected:
  void SetUp() override { SetUpLive(1); }
  // The rows of cars after `rebuild` equal the fold of the log up to its watermark.
  void expect_matches_fold() {
    std::int64_t position = 0;
    const auto rows = test::all_rows(*live_, "cars", &position);
    EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 2, position)));
  }
};

}  // namespace

TEST_F(RebuildFaultsTest, CancelledStatementsResumeFromTheCheckpointInsteadOfFailing) {
  test::seed_events(*store_, 30'000);
  std::atomic<bool> cancelling{false}, started{false}, done{false};
  std::atomic<int> cancelled{0};
  engine::RebuildOptions options;
  options.batch_events = options.checkpoint_events = 500;
  options.transient_retry_after = 50ms;
  options.fault = [&](std::string_view point, std::int64_t n) {
    if (point == "checkpoint" && n == 10 && !started.exchange(true)) cancelling = true;  // mid-replay: a storm
  };
  std::thread canceller([&] {
    pqxx::connection c{db_->url()};
    while (!done) {
      if (cancelling) {
        pqxx::nontransaction tx{c};
        cancelled += tx.exec1("SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name LIKE 'reproj rebuild%' AND state = 'active'")[0]
                         .as<int>();
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  engine::RebuildManager rebuilds{*pool_, *live_, options};
  const auto id = rebuilds.start("cars", 2).id;
  std::optional<engine::RebuildInfo> info;
  std::jthread stopper([&] {  // the storm lasts a second
    while (!started) std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(1s);
    cancelling = false;
  });
  try {
    info = rebuilds.run(id);
  } catch (...) {
    done = true;
    canceller.join();
    throw;
  }
  done = true;
  canceller.join();
  ASSERT_TRUE(info);
  EXPECT_GT(cancelled.load(), 0) << "the test cancelled nothing";
  EXPECT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  EXPECT_GE(info->resumes, 1) << "a cancel did not make it resume";
  ASSERT_TRUE(info->resumed_from);
  EXPECT_GT(*info->resumed_from, 0) << "it restarted from zero";
  EXPECT_TRUE(info->waiting.empty()) << info->waiting;
  expect_matches_fold();
}

TEST_F(RebuildFaultsTest, AnExhaustedSwapBudgetGoesBackToCatchingUpAndPromotesLater) {
  test::seed_events(*store_, 2'000);
  engine::RebuildOptions options;
  options.lock_timeout = 50ms;
  options.swap_budget = 300ms;
  options.swap_retry_after = 200ms;
  engine::RebuildManager rebuilds{*pool_, *live_, options};
  const auto id = rebuilds.start("cars", 2).id;
  // A long reader of the live table: the swap's ACCESS EXCLUSIVE lock never finds a gap.
  pqxx::connection c{db_->url()};
  pqxx::work reader{c};
  reader.exec("SELECT count(*) FROM reproj_data.cars");
  std::optional<engine::RebuildInfo> result;
  std::thread runner([&] { result = rebuilds.run(id); });
  std::string waiting;
  for (int i = 0; i < 200 && waiting.empty(); ++i) {
    std::this_thread::sleep_for(20ms);
    auto now = rebuilds.get(id);
    ASSERT_TRUE(now);
    ASSERT_NE(now->state, engine::RebuildState::kFailed) << "the rebuild failed on the swap budget: " << now->error;
    waiting = now->waiting;
  }
  EXPECT_NE(waiting.find("trying again"), std::string::npos) << "no reason given while waiting: '" << waiting << "'";
  EXPECT_EQ(rebuilds.get(id)->state, engine::RebuildState::kCatchingUp);
  reader.commit();
  runner.join();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->state, engine::RebuildState::kDone) << result->error;
  expect_matches_fold();
}

TEST_F(RebuildFaultsTest, AnInstanceThatLacksTheVersionLeavesTheRebuildToOneThatKnowsIt) {
  test::seed_events(*store_, 1'000);
  engine::RebuildManager rebuilds{*pool_, *live_};
  const auto id = rebuilds.start("cars", 2).id;
  // An older release: it knows cars v1 only.
  engine::ProjectionRegistry old_registry;
  old_registry.add(std::make_unique<projections::CarsV1>());
  old_registry.add(std::make_unique<projections::CustomersV1>());
  engine::LiveProjections old_live{*pool_, old_registry};
  engine::RebuildManager old_rebuilds{*pool_, old_live};
  EXPECT_FALSE(old_rebuilds.run(id)) << "it took a rebuild it cannot run";
  auto after = rebuilds.get(id);
  EXPECT_EQ(after->state, engine::RebuildState::kReplaying) << after->error;
  auto done = rebuilds.run(id);
  EXPECT_EQ(done->state, engine::RebuildState::kDone) << done->error;
}

TEST_F(RebuildFaultsTest, TheJanitorOfAnInstanceThatLacksARetainedVersionKeepsItsTablesAndGoesOn) {
  // Found by scripts/bench: an instance without the retained version's code made every supervisor
  // round fail ("has no version"), so it never ran another rebuild.
  test::seed_events(*store_, 500);
  engine::RebuildManager rebuilds{*pool_, *live_};
  ASSERT_EQ(rebuilds.run(rebuilds.start("cars", 2).id)->state, engine::RebuildState::kDone);  // v1 retained
  const auto before = test::data_tables(db_->url());
  engine::ProjectionRegistry newer;  // a later release: cars v2 only
  newer.add(std::make_unique<projections::CarsV2>());
  newer.add(std::make_unique<projections::CustomersV1>());
  engine::LiveProjections newer_live{*pool_, newer};
  engine::RebuildManager newer_rebuilds{*pool_, newer_live};
  EXPECT_NO_THROW(newer_rebuilds.drop_orphans());
  EXPECT_EQ(test::data_tables(db_->url()), before) << "tables of a version it does not know were dropped";
  const auto id = newer_rebuilds.start("cars", 2).id;
  auto done = newer_rebuilds.run(id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, engine::RebuildState::kDone) << done->error;
}
