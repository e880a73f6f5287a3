// DeliveryWindow, the reactor's scheduling state, on its own clock: what may be sent for each
// ordering, a failing stream waiting alone, and the checkpoint with what is done above it.
#include <gtest/gtest.h>

#include "api/reactors/delivery_window.hpp"

namespace reproj::api {
namespace {

using namespace std::chrono_literals;
using Ordering = engine::ReactorConfig::Ordering;

engine::Event event(std::int64_t position, const std::string& stream) {
  engine::Event e;
  e.global_position = position;
  e.stream_id = stream;
  e.event_id = "e" + std::to_string(position);
  e.type = "t";
  return e;
}

// Takes everything that may go now.
std::vector<std::int64_t> take_all(DeliveryWindow& w, Clock::time_point now) {
  std::vector<std::int64_t> out;
  while (const auto p = w.take(now)) out.push_back(*p);
  return out;
}

const auto t0 = Clock::time_point{} + 1h;

TEST(DeliveryWindow, StreamOrderingSendsOneEventPerStreamLowestFirstUpToTheLimit) {
  DeliveryWindow w;
  w.reset(Ordering::kStream, 2, 10, {});
  for (auto [p, s] : {std::pair{11, "a"}, {12, "a"}, {13, "b"}, {14, "c"}, {15, "b"}}) w.add(event(p, s));
  w.read_to(20);
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{11, 13})) << "a's head and b's head; 2 in flight";
  w.done(13);
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{14})) << "a is busy; c before b's next";
  EXPECT_EQ(w.checkpoint(), 10) << "11 is in flight";
  EXPECT_EQ(w.take_done_above(), (std::vector<std::int64_t>{13}));
  EXPECT_TRUE(w.take_done_above().empty()) << "reported once";
  w.done(11);
  w.done(14);
  EXPECT_EQ(w.checkpoint(), 11);
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{12, 15}));
  w.done(15);
  w.done(12);
  EXPECT_TRUE(w.idle());
  EXPECT_EQ(w.checkpoint(), 20) << "everything read up to 20 is done";
}

TEST(DeliveryWindow, AFailingStreamWaitsAloneAndHoldsTheCheckpoint) {
  DeliveryWindow w;
  w.reset(Ordering::kStream, 8, 0, {});
  for (int p = 1; p <= 6; ++p) w.add(event(p, p % 2 ? "odd" : "even"));
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{1, 2}));
  w.failed(1, t0 + 1s);
  EXPECT_EQ(w.backing_off(), 1);
  w.done(2);
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{4})) << "odd waits; even goes on";
  w.done(4);
  EXPECT_EQ(take_all(w, t0 + 500ms), (std::vector<std::int64_t>{6}));
  w.done(6);
  EXPECT_EQ(w.checkpoint(), 0);
  EXPECT_EQ(w.take_done_above(), (std::vector<std::int64_t>{2, 4, 6}));
  EXPECT_EQ(w.next_retry(), t0 + 1s);
  EXPECT_EQ(take_all(w, t0 + 1s), (std::vector<std::int64_t>{1})) << "its time came";
  EXPECT_EQ(w.backing_off(), 0);
  w.done(1);
  EXPECT_EQ(w.checkpoint(), 2) << "3 is next in odd";
  EXPECT_EQ(take_all(w, t0 + 1s), (std::vector<std::int64_t>{3}));
}

TEST(DeliveryWindow, GlobalSendsOneAtATimeAndNoneIgnoresStreams) {
  DeliveryWindow g;
  g.reset(Ordering::kGlobal, 1, 0, {});
  for (int p = 1; p <= 3; ++p) g.add(event(p, "s" + std::to_string(p)));
  EXPECT_EQ(take_all(g, t0), (std::vector<std::int64_t>{1}));
  g.failed(1, t0 + 1s);
  EXPECT_TRUE(take_all(g, t0).empty()) << "global: nothing passes a failed event";
  DeliveryWindow n;
  n.reset(Ordering::kNone, 3, 0, {});
  for (int p = 1; p <= 5; ++p) n.add(event(p, "same"));
  EXPECT_EQ(take_all(n, t0), (std::vector<std::int64_t>{1, 2, 3}));
  n.failed(2, t0 + 1s);
  EXPECT_EQ(take_all(n, t0), (std::vector<std::int64_t>{4}));
}

TEST(DeliveryWindow, EventsDoneBeforeARestartAreSkippedAndAbandonedOnesGoAgain) {
  DeliveryWindow w;
  w.reset(Ordering::kStream, 8, 100, {102, 104});
  for (int p = 101; p <= 105; ++p) w.add(event(p, "s" + std::to_string(p)));
  EXPECT_EQ(w.outstanding(), 3u);
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{101, 103, 105}));
  w.abandoned(103);
  w.done(101);
  EXPECT_EQ(w.checkpoint(), 102) << "102 was done before";
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{103}));
  w.done(103);
  w.done(105);
  EXPECT_EQ(w.checkpoint(), 105);
  EXPECT_TRUE(w.take_done_above().empty());
}

TEST(DeliveryWindow, ARetriedDeadLetterGoesFirstAndLeavesTheCheckpointAlone) {
  DeliveryWindow w;
  w.reset(Ordering::kStream, 8, 50, {});
  w.add_retry(event(7, "a"), 8);
  w.add(event(51, "a"));
  EXPECT_EQ(w.at(7).attempts, 8);
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{7})) << "then a's next";
  w.done(7);
  EXPECT_EQ(w.checkpoint(), 50);
  EXPECT_EQ(take_all(w, t0), (std::vector<std::int64_t>{51}));
}

}  // namespace
}  // namespace reproj::api
