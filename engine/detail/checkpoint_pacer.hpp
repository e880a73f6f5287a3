#pragma once
// When a replay writes its next checkpoint. A checkpoint costs in proportion to the projection (a
// rewrite or an upsert of its rows), not to the events since the last one, so the pacer spaces
// them by their own cost, not by a count of events alone.
#include <chrono>
#include <cstdint>

namespace reproj::engine::detail {

class CheckpointPacer {
 public:
  using Clock = std::chrono::steady_clock;

  /// `every`: the least time between checkpoints; `every_events` (0: none): a checkpoint at the
  /// latest after this many events folded since the last one.
  CheckpointPacer(Clock::duration every, std::int64_t every_events, Clock::time_point started);

  /// `events` more were folded into memory.
  void folded(std::int64_t events);

  /// Whether a checkpoint is due at `now`. `replaying`: folding to the fixed `target` (when the
  /// replay should end within the spacing at its rate so far, its own last checkpoint comes sooner
  /// than the next one would, so none is written). `over_budget`: memory is past its budget.
  bool due(Clock::time_point now, bool replaying, std::int64_t position, std::int64_t target, bool over_budget) const;

  /// A checkpoint ran from `began` to `ended`; what was folded is now written.
  void checkpointed(Clock::time_point began, Clock::time_point ended);

  /// Events folded per second since the start.
  double rate(Clock::time_point now) const;
  /// Events folded since the last checkpoint.
  std::int64_t unflushed() const { return unflushed_; }
  /// At least `every`, and 4x the last checkpoint's cost: checkpoints then take at most a fifth of
  /// the replay however large the projection grows (at 10M events every 5 s meant rewriting 2.2M
  /// rows every few seconds).
  Clock::duration spacing() const;

 private:
  const Clock::duration every_;
  const std::int64_t every_events_;
  const Clock::time_point started_;
  Clock::time_point last_;
  Clock::duration last_cost_{};
  std::int64_t since_start_ = 0;
  std::int64_t unflushed_ = 0;
};

}  // namespace reproj::engine::detail
