// Concurrency oracle: appenders, strong readers and the catch-up worker race on real PostgreSQL;
// every answer must equal the independent fold at the position it reports, the tables must equal
// the fold of the whole log, and every event must be applied exactly once.
#include <algorithm>
#include <iostream>
#include <atomic>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "engine/catch_up.hpp"
#include "tests/support/live_fixture.hpp"
#include "tests/support/oracle.hpp"

using namespace reproj;

namespace {

struct Answer {
  std::string projection;
  std::string key;
  std::optional<engine::Row> row;
  std::int64_t position;
};

class LiveConcurrency : public test::LiveTest, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override { SetUpLive(GetParam()); }
};

}  // namespace

TEST_P(LiveConcurrency, ReadersWritersAndWorkerAgreeWithTheFold) {
  constexpr int kWriters = 4;
  constexpr int kEventsEach = 1500;
  constexpr int kReaders = 16;
  engine::CatchUpWorker worker{*live_, {"customers", "cars"},
                               {.batch_events = 200, .idle_wait = std::chrono::milliseconds{20}}};

  std::atomic<int> writers_left{kWriters};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      test::EventGenerator gen{w, static_cast<unsigned>(w) + 11u};
      try {
        for (int i = 0; i < kEventsEach;) {
          // Batches of 1-3 events for one stream, as writers do.
          auto [stream, first] = gen.next();
          std::vector<engine::NewEvent> batch{first};
          store_->append(stream, engine::ExpectedVersion::any(), batch);
          i += static_cast<int>(batch.size());
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "writer " << w << ": " << e.what();
        ++errors;
      }
      --writers_left;
    });
  }
  std::mutex answers_mutex;
  std::vector<Answer> answers;  // guarded by answers_mutex
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(static_cast<unsigned>(r) + 100u);
      std::vector<Answer> mine;
      try {
        while (writers_left > 0) {
          const bool cars = rng() % 3 != 0;
          const std::string key = cars ? "car-" + std::to_string(rng() % kWriters) + "-" + std::to_string(rng() % 40)
                                       : "cust-" + std::to_string(rng() % kWriters) + "-" + std::to_string(rng() % 30);
          const std::int64_t log_at_request = store_->safe_tail();
          auto res = live_->get(cars ? "cars" : "customers", key, {});
          if (res.watermark < log_at_request) {
            ADD_FAILURE() << "a strong read answered at " << res.watermark << ", staler than the log (at "
                          << log_at_request << ") when it was asked";
            ++errors;
          }
          mine.push_back({cars ? "cars" : "customers", key,
                          res.rows.empty() ? std::nullopt : std::optional<engine::Row>{res.rows[0]}, res.watermark});
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "reader " << r << ": " << e.what();
        ++errors;
      }
      std::scoped_lock lock{answers_mutex};
      answers.insert(answers.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors, 0);
  ASSERT_TRUE(worker.wait_caught_up(std::chrono::seconds(30)));

  const std::int64_t tail = store_->safe_tail();
  ASSERT_EQ(tail, kWriters * kEventsEach);
  // Bring both projections to the tail (the worker may still be between rounds).
  live_->get("cars", "x", {});
  live_->get("customers", "x", {});

  // Fold the log once; check each answer when the fold reaches the position it reports.
  std::sort(answers.begin(), answers.end(), [](const Answer& a, const Answer& b) { return a.position < b.position; });
  ASSERT_GT(answers.size(), 100u) << "readers barely ran";
  std::cout << "answers checked: " << answers.size() << "\n";
  test::Oracle oracle{GetParam()};
  std::size_t next = 0, mismatches = 0;
  auto check_until = [&](std::int64_t position) {
    for (; next < answers.size() && answers[next].position <= position; ++next) {
      const auto& a = answers[next];
      auto expected = a.projection == "cars" ? oracle.car(a.key) : oracle.customer(a.key);
      if (expected != a.row && ++mismatches <= 5) {
        ADD_FAILURE() << a.projection << "/" << a.key << " answered at position " << a.position
                      << " differs from the fold there";
      }
    }
  };
  check_until(0);
  for (const auto& e : store_->read(0, tail, static_cast<std::size_t>(tail))) {
    oracle.apply(e);
    check_until(e.global_position);
  }
  EXPECT_EQ(next, answers.size()) << "answers reported positions beyond the tail";
  EXPECT_EQ(mismatches, 0u);

  // Whole tables, page by page, must equal the fold of the whole log.
  auto all_rows = [&](const std::string& projection) {
    std::vector<engine::Row> rows;
    std::string after;
    while (true) {
      auto page = live_->list(projection, after, 1000, {});
      EXPECT_EQ(page.watermark, tail) << projection;
      rows.insert(rows.end(), page.rows.begin(), page.rows.end());
      if (page.rows.size() < 1000) return rows;
      after = page.rows.back().key();
    }
  };
  auto cars = all_rows("cars");
  ASSERT_EQ(cars.size(), oracle.cars().size());
  for (const auto& row : cars) EXPECT_EQ(std::optional<engine::Row>{row}, oracle.car(row.key())) << row.key();
  auto customers = all_rows("customers");
  ASSERT_EQ(customers.size(), oracle.customers().size());
  for (const auto& row : customers) {
    EXPECT_EQ(std::optional<engine::Row>{row}, oracle.customer(row.key())) << row.key();
  }

  for (const char* p : {"cars", "customers"}) {
    const auto applied = live_->applied_events(p, engine::ApplyMode::kWorker) +
                         live_->applied_events(p, engine::ApplyMode::kRead);
    EXPECT_EQ(applied, tail) << p << ": events applied (worker "
                             << live_->applied_events(p, engine::ApplyMode::kWorker) << ", reads "
                             << live_->applied_events(p, engine::ApplyMode::kRead) << ") vs log";
  }
  EXPECT_GT(live_->applied_events("cars", engine::ApplyMode::kRead), 0) << "no read had to catch up";
}

INSTANTIATE_TEST_SUITE_P(CarsVersions, LiveConcurrency, ::testing::Values(1, 2));
