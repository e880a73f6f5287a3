// The gap test: concurrent appenders (some rolling back) and a reader tailing safe_tail() must
// agree exactly: every committed event seen once, in position order; nothing rolled back seen.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/event_store.hpp"
#include "engine/migrations.hpp"
#include "tests/support/pg_fixture.hpp"

using namespace reproj;

TEST(GapTest, TailingReaderSeesEveryCommittedEventOnceInOrder) {
  test::TestDatabase db;
  engine::migrate(db.url());
  engine::ConnectionPool pool{db.url(), 12};
  engine::EventStore store{pool};

  constexpr int kAppenders = 8;
  constexpr int kEventsEach = 5000;
  std::mutex mutex;
  std::set<std::string> committed;     // guarded by mutex
  std::set<std::string> rolled_back;   // guarded by mutex
  std::atomic<int> appenders_left{kAppenders};
  std::atomic<bool> failed{false};

  std::vector<std::thread> appenders;
  for (int a = 0; a < kAppenders; ++a) {
    appenders.emplace_back([&, a] {
      std::mt19937 rng(static_cast<unsigned>(a) * 7919u + 1u);
      pqxx::connection raw{db.url()};
      int written = 0, batch_no = 0;
      try {
        while (written < kEventsEach) {
          int size = std::min(kEventsEach - written, static_cast<int>(rng() % 40) + 1);
          std::vector<engine::NewEvent> batch;
          std::vector<std::string> ids;
          for (int i = 0; i < size; ++i) {
            ids.push_back("a" + std::to_string(a) + "-" + std::to_string(batch_no) + "-" + std::to_string(i));
            batch.push_back({ids.back(), "thing.happened", {{"n", i}}, {}});
          }
          if (rng() % 8 == 0) {
            // A transaction that draws positions and then rolls back: its gap must never stall or
            // confuse the reader, and its events must never be seen.
            pqxx::work tx{raw};
            for (const auto& id : ids) {
              tx.exec_params("INSERT INTO reproj.events (event_id, stream_id, stream_version, event_type, data) "
                             "VALUES ($1, $2, 1, 'rolled.back', '{}')",
                             id, "rb-" + id);
            }
            tx.abort();
            std::scoped_lock lock{mutex};
            rolled_back.insert(ids.begin(), ids.end());
          } else {
            store.append("stream-" + std::to_string(a) + "-" + std::to_string(rng() % 50), engine::ExpectedVersion::any(),
                         batch);
            written += size;
            std::scoped_lock lock{mutex};
            committed.insert(ids.begin(), ids.end());
          }
          ++batch_no;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "appender " << a << ": " << e.what();
        failed = true;
      }
      --appenders_left;
    });
  }

  std::map<std::string, std::int64_t> seen;
  std::int64_t position = 0;
  std::int64_t last_seen = 0;
  std::int64_t duplicates = 0, out_of_order = 0;
  while (true) {
    bool done = appenders_left == 0;
    const std::int64_t tail = store.safe_tail();
    auto batch = store.read(position, tail, 5000);
    for (const auto& e : batch) {
      if (e.global_position <= last_seen) ++out_of_order;
      last_seen = e.global_position;
      if (!seen.emplace(e.event_id, e.global_position).second) ++duplicates;
    }
    // Everything up to the tail is final, so a reader that got all of (position, tail] moves to the
    // tail even past positions that never appear (rolled back).
    position = batch.size() < 5000 ? tail : last_seen;
    if (done && position == store.safe_tail()) break;
  }
  for (auto& t : appenders) t.join();
  ASSERT_FALSE(failed);

  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(committed.size(), static_cast<std::size_t>(kAppenders * kEventsEach));
  EXPECT_FALSE(rolled_back.empty()) << "the test rolled nothing back";
  std::size_t missing = 0;
  for (const auto& id : committed) {
    if (!seen.count(id)) {
      if (++missing <= 5) ADD_FAILURE() << "committed event " << id << " was never seen by the reader";
    }
  }
  EXPECT_EQ(missing, 0u);
  for (const auto& id : rolled_back) EXPECT_FALSE(seen.count(id)) << "rolled-back event " << id << " was seen";
  EXPECT_EQ(seen.size(), committed.size());
}
