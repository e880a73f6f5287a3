#include "engine/detail/read_ahead.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

using reproj::engine::Event;
using reproj::engine::detail::ReadAhead;

namespace {
// A log of positions 1..n (no gaps but at `gap`), fetched as a replay does: after `from`, up to `up_to`.
ReadAhead::Fetch log_of(std::int64_t n, std::size_t batch, std::atomic<int>* fetches = nullptr,
                        std::int64_t gap = -1) {
  return [=](std::int64_t from, std::int64_t up_to) {
    if (fetches) ++*fetches;
    std::vector<Event> out;
    for (std::int64_t p = from + 1; p <= std::min(n, up_to) && out.size() < batch; ++p) {
      if (p == gap) continue;
      Event e;
      e.global_position = p;
      out.push_back(std::move(e));
    }
    return out;
  };
}
}  // namespace

TEST(ReadAhead, YieldsEveryEventOnceInOrderAndEndsAtTheTarget) {
  // Ends on a short batch (1003 after 100 of 10), on a full batch reaching the target, and on a gap.
  for (const auto& [n, up_to, gap] : {std::tuple{1003, 2000, -1}, std::tuple{1000, 1000, -1},
                                      std::tuple{5000, 1000, -1}, std::tuple{1000, 1000, 500}}) {
    ReadAhead ahead{log_of(n, 10, nullptr, gap), 0, up_to, 10, 3};
    std::int64_t expected = 1;
    std::size_t batches = 0;
    while (auto batch = ahead.next()) {
      ++batches;
      for (const auto& e : *batch) {
        if (expected == gap) ++expected;
        ASSERT_EQ(e.global_position, expected++);
      }
    }
    EXPECT_EQ(expected - 1, std::min<std::int64_t>(n, up_to)) << n << " " << up_to;
    EXPECT_GE(batches, 1u);
  }
}

TEST(ReadAhead, FetchesAtMostDepthBatchesAheadOfTheFold) {
  std::atomic<int> fetches{0};
  const auto settles_at = [&](int n) {  // reaches n within 5 s, and stays there
    for (int i = 0; i < 500 && fetches.load() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds{10});
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    return fetches.load() == n;
  };
  ReadAhead ahead{log_of(1'000, 10, &fetches), 0, 1'000, 10, 3};
  EXPECT_TRUE(settles_at(3)) << fetches.load();  // three queued, nothing taken yet
  ASSERT_TRUE(ahead.next());
  EXPECT_TRUE(settles_at(4)) << fetches.load();
  ahead.set_depth(1);  // short of memory: three queued stay, no more come until one is left
  ASSERT_TRUE(ahead.next());
  ASSERT_TRUE(ahead.next());
  EXPECT_TRUE(settles_at(4)) << fetches.load();
  ASSERT_TRUE(ahead.next());
  EXPECT_TRUE(settles_at(5)) << fetches.load();
  ahead.set_depth(3);
  EXPECT_TRUE(settles_at(7)) << fetches.load();
}

TEST(ReadAhead, AFailedFetchIsRethrownAfterTheBatchesBeforeIt) {
  int calls = 0;
  ReadAhead ahead{[&](std::int64_t from, std::int64_t) {
                    if (++calls == 3) throw std::runtime_error("connection lost");
                    std::vector<Event> out(10);
                    for (std::size_t i = 0; i < out.size(); ++i) out[i].global_position = from + 1 + static_cast<std::int64_t>(i);
                    return out;
                  },
                  0, 1'000, 10, 4};
  EXPECT_EQ(ahead.next()->front().global_position, 1);
  EXPECT_EQ(ahead.next()->front().global_position, 11);
  EXPECT_THROW(ahead.next(), std::runtime_error);
}

TEST(ReadAhead, StoppingMidReplayJoinsWithoutWaitingForTheRest) {
  std::atomic<int> fetches{0};
  {
    ReadAhead ahead{log_of(1'000'000, 10, &fetches), 0, 1'000'000, 10, 2};
    ASSERT_TRUE(ahead.next());
  }  // destroyed with batches queued and the thread waiting for room
  EXPECT_LE(fetches.load(), 4);
}
