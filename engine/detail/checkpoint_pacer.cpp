#include "engine/detail/checkpoint_pacer.hpp"

#include <algorithm>

namespace reproj::engine::detail {

CheckpointPacer::CheckpointPacer(Clock::duration every, std::int64_t every_events, Clock::time_point started)
    : every_(every), every_events_(every_events), started_(started), last_(started) {}

void CheckpointPacer::folded(std::int64_t events) {
  since_start_ += events;
  unflushed_ += events;
}

CheckpointPacer::Clock::duration CheckpointPacer::spacing() const { return std::max(every_, 4 * last_cost_); }

bool CheckpointPacer::due(Clock::time_point now, bool replaying, std::int64_t position, std::int64_t target,
                          bool over_budget) const {
  if (over_budget || (every_events_ > 0 && unflushed_ >= every_events_)) return true;
  using Seconds = std::chrono::duration<double>;
  // At 10M events one checkpoint had rewritten 2.2M rows 200,000 events before the end.
  const double left = static_cast<double>(target - position) / static_cast<double>(std::max<std::int64_t>(since_start_, 1));
  const bool ending = replaying && Seconds(now - started_).count() * left < Seconds(spacing()).count();
  return now - last_ >= spacing() && !ending;
}

void CheckpointPacer::checkpointed(Clock::time_point began, Clock::time_point ended) {
  unflushed_ = 0;
  last_ = ended;
  last_cost_ = ended - began;
}

double CheckpointPacer::rate(Clock::time_point now) const {
  const double seconds = std::chrono::duration<double>(now - started_).count();
  return seconds > 0 ? static_cast<double>(since_start_) / seconds : 0;
}

}  // namespace reproj::engine::detail
