#include "engine/detail/checkpoint_pacer.hpp"

#include <gtest/gtest.h>

using reproj::engine::detail::CheckpointPacer;
using namespace std::chrono_literals;

namespace {
const CheckpointPacer::Clock::time_point t0{};
}

TEST(CheckpointPacer, NotDueBeforeTheSpacingNorAfterItWhenTheReplayIsAboutToEnd) {
  CheckpointPacer pacer{5s, 0, t0};
  pacer.folded(1'000);
  EXPECT_FALSE(pacer.due(t0 + 4s, true, 1'000, 1'000'000, false));
  EXPECT_TRUE(pacer.due(t0 + 6s, true, 1'000, 1'000'000, false));
  // 6 s for 900k events: the last 100k come in well under the 5 s spacing, and the replay's own
  // last checkpoint writes them.
  pacer.folded(899'000);
  EXPECT_FALSE(pacer.due(t0 + 6s, true, 900'000, 1'000'000, false));
  // Following the tail there is no end in sight.
  EXPECT_TRUE(pacer.due(t0 + 6s, false, 900'000, 1'000'000, false));
}

TEST(CheckpointPacer, SpacesCheckpointsByFourTimesTheLastOnesCost) {
  CheckpointPacer pacer{1s, 0, t0};
  EXPECT_EQ(pacer.spacing(), 1s);
  pacer.folded(10);
  pacer.checkpointed(t0 + 2s, t0 + 5s);  // it took 3 s
  EXPECT_EQ(pacer.unflushed(), 0);
  EXPECT_EQ(pacer.spacing(), 12s);
  pacer.folded(10);
  EXPECT_FALSE(pacer.due(t0 + 16s, false, 20, 1'000'000, false));
  EXPECT_TRUE(pacer.due(t0 + 17s, false, 20, 1'000'000, false));
}

TEST(CheckpointPacer, EventCountAndMemoryBudgetForceACheckpoint) {
  CheckpointPacer pacer{1h, 500, t0};
  pacer.folded(499);
  EXPECT_FALSE(pacer.due(t0 + 1s, true, 499, 1'000'000, false));
  EXPECT_TRUE(pacer.due(t0 + 1s, true, 499, 1'000'000, true));
  pacer.folded(1);
  EXPECT_TRUE(pacer.due(t0 + 1s, true, 500, 1'000'000, false));
  EXPECT_DOUBLE_EQ(pacer.rate(t0 + 2s), 250.0);
}
