// Online rebuilds in-process: under load, poison, rollback, cancel, a second request, a long reader.
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/catch_up.hpp"
#include "engine/errors.hpp"
#include "engine/rebuild.hpp"
#include "tests/support/live_fixture.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;
using namespace std::chrono_literals;

namespace {

class RebuildTest : public test::LiveTest {
 protected:
  void SetUp() override { SetUpLive(1); }
  std::unique_ptr<engine::RebuildManager> manager(engine::RebuildOptions options = {}) {
    return std::make_unique<engine::RebuildManager>(*pool_, *live_, std::move(options));
  }
  std::set<std::string> data_tables() { return test::data_tables(db_->url()); }
  int active_version(const std::string& name) {
    for (const auto& s : live_->status()) {
      if (s.name == name) return s.active_version;
    }
    return 0;
  }
};

struct Answer {
  int version;
  std::int64_t position;
  std::string key;
  std::optional<engine::Row> row;
};

}  // namespace

TEST_F(RebuildTest, OnlineRebuildUnderLoadLosesNothingAndFailsNoRead) {
  test::seed_events(*store_, 100'000);
  engine::CatchUpWorker worker{*live_, {"customers", "cars"}, {.batch_events = 20'000, .idle_wait = 50ms}};
  ASSERT_TRUE(worker.wait_caught_up(120s));

  std::atomic<bool> stop{false};
  std::atomic<int> append_errors{0}, read_errors{0};
  std::atomic<std::int64_t> appended{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      test::EventGenerator gen{w, static_cast<unsigned>(w) + 500u};
      while (!stop) {
        auto [stream, e] = gen.next();
        try {
          store_->append(stream, engine::ExpectedVersion::any(), {e});
          ++appended;
        } catch (const std::exception& ex) {
          if (++append_errors <= 3) ADD_FAILURE() << "append: " << ex.what();
        }
      }
    });
  }
  std::mutex mutex;
  std::vector<Answer> answers;  // guarded by mutex
  for (int r = 0; r < 16; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(static_cast<unsigned>(r));
      std::vector<Answer> mine;
      while (!stop) {
        // Cars of the seeded writers (100..107) and of the live appenders (0..3).
        const int writer = rng() % 2 ? 100 + static_cast<int>(rng() % 8) : static_cast<int>(rng() % 4);
        const std::string key = "car-" + std::to_string(writer) + "-" + std::to_string(rng() % 300);
        try {
          auto res = live_->get("cars", key, {});
          mine.push_back({res.version, res.watermark, key,
                          res.rows.empty() ? std::nullopt : std::optional<engine::Row>{res.rows[0]}});
        } catch (const std::exception& ex) {
          if (++read_errors <= 3) ADD_FAILURE() << "read: " << ex.what();
        }
      }
      std::scoped_lock lock{mutex};
      answers.insert(answers.end(), mine.begin(), mine.end());
    });
  }

  std::this_thread::sleep_for(500ms);
  engine::RebuildOptions options;
  options.batch_events = 20'000;
  auto rebuilds = manager(options);
  auto started = rebuilds->start("cars", 2);
  auto info = rebuilds->run(started.id);
  std::this_thread::sleep_for(700ms);  // keep the load on past the swap
  stop = true;
  for (auto& t : threads) t.join();

  ASSERT_TRUE(info.has_value());
  ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  EXPECT_EQ(read_errors, 0);
  EXPECT_EQ(append_errors, 0);
  EXPECT_EQ(active_version("cars"), 2);
  EXPECT_GT(appended, 0);

  std::int64_t position = 0;
  auto rows = test::all_rows(*live_, "cars", &position);
  EXPECT_EQ(position, store_->safe_tail());
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 2, position)));

  // Every answer: v1 or v2 content, equal to that version's fold at the position it reports.
  std::sort(answers.begin(), answers.end(), [](const Answer& a, const Answer& b) { return a.position < b.position; });
  test::Oracle v1{1}, v2{2};
  std::size_t next = 0, mismatches = 0, by_version[3] = {0, 0, 0};
  auto check_until = [&](std::int64_t pos) {
    for (; next < answers.size() && answers[next].position <= pos; ++next) {
      const auto& a = answers[next];
      ++by_version[a.version == 2 ? 2 : 1];
      auto expected = (a.version == 2 ? v2 : v1).car(a.key);
      if (expected != a.row && ++mismatches <= 5) {
        ADD_FAILURE() << "car " << a.key << " v" << a.version << " at position " << a.position << " differs";
      }
    }
  };
  check_until(0);
  for (const auto& e : store_->read(0, position, static_cast<std::size_t>(position))) {
    v1.apply(e);
    v2.apply(e);
    check_until(e.global_position);
  }
  EXPECT_EQ(next, answers.size());
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(by_version[1], 0u) << "no read answered from v1";
  EXPECT_GT(by_version[2], 0u) << "no read answered from v2";
  std::cout << "answers: v1 " << by_version[1] << ", v2 " << by_version[2] << "; appended during the test "
            << appended << "\n";
  EXPECT_EQ(data_tables(), (std::set<std::string>{"cars", "cars__customer_names", "customers",
                                                  "cars__r" + std::to_string(started.id),
                                                  "cars__customer_names__r" + std::to_string(started.id)}));
}

TEST_F(RebuildTest, UnderStopAPoisonEventFailsTheRebuildNamingItAndLiveStillServes) {
  live_->set_poison_policy("cars", engine::PoisonPolicy::kStop);
  append("c1", {test::event("e1", "car.created", {{"by", "Al"}, {"color", "red"}})});
  append("u1", {test::event("e2", "customer.created", {{"name", "Uma"}})});
  // v1 and customers ignore nothing here... but cars v2 needs a string name on renames.
  append("u1", {test::event("poison3", "customer.renamed", {{"name", 42}})});
  // customers v1 would stop on it too, so rebuild only cars; live cars v1 ignores renames.
  auto rebuilds = manager();
  auto info = rebuilds->run(rebuilds->start("cars", 2).id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, engine::RebuildState::kFailed);
  EXPECT_NE(info->error.find("poison3"), std::string::npos) << info->error;
  EXPECT_NE(info->error.find("position 3"), std::string::npos) << info->error;
  EXPECT_EQ(active_version("cars"), 1);
  auto car = live_->get("cars", "c1", {});
  EXPECT_FALSE(car.failed);
  EXPECT_EQ(car.rows.size(), 1u);
  EXPECT_EQ(car.watermark, 3);
  EXPECT_EQ(data_tables(), (std::set<std::string>{"cars", "cars__customer_names", "customers"})) << "shadow left";
  EXPECT_FALSE(rebuilds->running("cars")) << "a failed rebuild must not block the next";
}

TEST_F(RebuildTest, SecondRequestWhileRunningIsRefusedWithTheRunningId) {
  auto rebuilds = manager();
  auto first = rebuilds->start("cars", 2);
  try {
    rebuilds->start("cars", 1);
    FAIL() << "second rebuild accepted";
  } catch (const engine::StateConflict& e) {
    EXPECT_EQ(e.holder(), first.id);
  }
  EXPECT_NO_THROW(rebuilds->start("customers", 1)) << "another projection may rebuild meanwhile";
  EXPECT_THROW(rebuilds->start("cars", 7), engine::UnknownProjection);
  EXPECT_THROW(rebuilds->start("trucks", 1), engine::UnknownProjection);
}

TEST_F(RebuildTest, RebuildInPlaceOfTheActiveVersionWorks) {
  test::seed_events(*store_, 5'000);
  auto rebuilds = manager();
  auto info = rebuilds->run(rebuilds->start("cars", 1).id);
  ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  std::int64_t position = 0;
  auto rows = test::all_rows(*live_, "cars", &position);
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 1, position)));
}

TEST_F(RebuildTest, IndexBuildsWithParallelWorkersGiveTheSameProjection) {
  test::seed_events(*store_, 5'000);
  engine::RebuildOptions options;
  options.index_build_workers = 2;  // PostgreSQL's default; reproj's is 0 (serial)
  auto rebuilds = manager(options);
  auto info = rebuilds->run(rebuilds->start("cars", 2).id);
  ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  std::int64_t position = 0;
  auto rows = test::all_rows(*live_, "cars", &position);
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 2, position)));
}

// A memory budget far below the projection: the rebuild checkpoints and lets its rows go each
// time it passes the budget, reads back (by key and by indexed column: cars v2 renames buyers) what
// each batch touches, and ends equal to the fold.
TEST_F(RebuildTest, UnderAMemoryBudgetFarBelowTheProjectionTheRebuildEqualsTheFold) {
  test::seed_events(*store_, 20'000);
  engine::RebuildOptions options;
  options.memory_budget = 64 << 10;  // ~200 cars' rows; the projection holds thousands
  options.batch_events = 1'000;
  std::atomic<int> spills{0};
  options.fault = [&](std::string_view point, std::int64_t) { spills += point == "spill"; };
  auto rebuilds = manager(options);
  auto info = rebuilds->run(rebuilds->start("cars", 2).id);
  ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  EXPECT_GE(spills.load(), 5) << "the budget was never passed";
  std::int64_t position = 0;
  auto rows = test::all_rows(*live_, "cars", &position);
  EXPECT_EQ(position, store_->safe_tail());
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 2, position)));
  // And back to v1 the same way, with a fresh manager (nothing carried over in memory).
  auto again = manager(options);
  info = again->run(again->start("cars", 1).id);
  ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  rows = test::all_rows(*live_, "cars", &position);
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 1, position)));
}

TEST_F(RebuildTest, CancelStopsTheRebuildDropsItsShadowAndChangesNothingLive) {
  test::seed_events(*store_, 10'000);
  std::unique_ptr<engine::RebuildManager> rebuilds;
  std::int64_t id = 0;
  engine::RebuildOptions options;
  options.batch_events = options.checkpoint_events = 1000;
  options.fault = [&](std::string_view point, std::int64_t n) {
    if (point == "checkpoint" && n == 3) rebuilds->cancel(id);
  };
  rebuilds = manager(options);
  id = rebuilds->start("cars", 2).id;
  auto info = rebuilds->run(id);
  EXPECT_EQ(info->state, engine::RebuildState::kCancelled);
  EXPECT_LT(info->position, info->target) << "it ran to the end despite the cancel";
  EXPECT_EQ(active_version("cars"), 1);
  EXPECT_EQ(data_tables(), (std::set<std::string>{"cars", "cars__customer_names", "customers"}));
  EXPECT_THROW(rebuilds->cancel(id), engine::StateConflict);
  EXPECT_THROW(rebuilds->cancel(999), engine::NotFound);
}

TEST_F(RebuildTest, RollbackReturnsThePreviousVersionCaughtUp) {
  test::seed_events(*store_, 5'000);
  auto rebuilds = manager();
  auto done = rebuilds->run(rebuilds->start("cars", 2).id);
  ASSERT_EQ(done->state, engine::RebuildState::kDone) << done->error;
  test::seed_events(*store_, 2'000, 8, 99);  // events the retired v1 has not seen

  rebuilds->rollback("cars");
  EXPECT_EQ(active_version("cars"), 1);
  std::int64_t position = 0;
  auto rows = test::all_rows(*live_, "cars", &position);
  EXPECT_EQ(position, store_->safe_tail());
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 1, position)));

  test::seed_events(*store_, 500, 8, 7);
  rebuilds->rollback("cars");  // and forward again
  EXPECT_EQ(active_version("cars"), 2);
  rows = test::all_rows(*live_, "cars", &position);
  EXPECT_TRUE(test::cars_match(rows, test::fold(*store_, 2, position)));
  EXPECT_THROW(rebuilds->rollback("customers"), engine::StateConflict);
}

TEST_F(RebuildTest, SwapDoesNotQueueReadersBehindALongReaderAndSucceedsAfter) {
  test::seed_events(*store_, 5'000);
  live_->get("cars", "x", {});  // caught up: readers stay on the one-statement path
  const auto lock_timeout = 100ms;
  engine::RebuildOptions options;
  options.lock_timeout = lock_timeout;
  auto rebuilds = manager(options);

  std::atomic<bool> holding{false}, stop{false};
  std::thread long_reader([&] {
    pqxx::connection c{db_->url()};
    pqxx::work tx{c};
    tx.exec("SELECT count(*) FROM reproj_data.cars");
    holding = true;
    std::this_thread::sleep_for(5s);
    tx.commit();
    holding = false;
  });
  while (!holding) std::this_thread::sleep_for(5ms);
  const auto released_at = std::chrono::steady_clock::now() + 5s;

  std::atomic<std::int64_t> max_us{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(static_cast<unsigned>(r));
      while (!stop) {
        const auto t0 = std::chrono::steady_clock::now();
        try {
          live_->get("cars", "car-10" + std::to_string(rng() % 8) + "-" + std::to_string(rng() % 100), {});
        } catch (const std::exception&) {
          ++errors;
        }
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
        std::int64_t seen = max_us;
        while (us > seen && !max_us.compare_exchange_weak(seen, us)) {
        }
      }
    });
  }
  auto info = rebuilds->run(rebuilds->start("cars", 2).id);
  const auto finished_at = std::chrono::steady_clock::now();
  stop = true;
  for (auto& t : readers) t.join();
  long_reader.join();

  ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  EXPECT_GE(finished_at, released_at - 200ms) << "the swap cannot finish while the long reader holds the table";
  EXPECT_EQ(errors, 0);
  std::cout << "longest read during the swap attempts: " << static_cast<double>(max_us.load()) / 1000.0 << " ms\n";
  // Readers queue behind a waiting swap for at most one lock_timeout (plus scheduling slack on a
  // loaded 2-core machine), never for the long reader's 5 s.
  EXPECT_LT(max_us.load(), std::chrono::duration_cast<std::chrono::microseconds>(lock_timeout + 900ms).count());
}
