#include "engine/detail/read_ahead.hpp"

#include <algorithm>

namespace reproj::engine::detail {

ReadAhead::ReadAhead(Fetch fetch, std::int64_t from, std::int64_t up_to, std::size_t batch_events, std::size_t depth)
    : depth_(std::max<std::size_t>(depth, 1)),
      thread_([this, fetch = std::move(fetch), from, up_to, batch_events] { run(fetch, from, up_to, batch_events); }) {}

ReadAhead::~ReadAhead() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void ReadAhead::run(Fetch fetch, std::int64_t from, std::int64_t up_to, std::size_t batch_events) {
  try {
    while (true) {
      {
        std::unique_lock lock{mutex_};
        changed_.wait(lock, [&] { return stopping_ || ready_.size() < depth_; });
        if (stopping_) break;
      }
      auto batch = fetch(from, up_to);
      const bool last = batch.size() < batch_events || batch.back().global_position >= up_to;
      if (!batch.empty()) from = batch.back().global_position;
      {
        std::lock_guard lock{mutex_};
        ready_.push_back(std::move(batch));
        if (last) finished_ = true;
      }
      changed_.notify_all();
      if (last) return;
    }
  } catch (...) {
    std::lock_guard lock{mutex_};
    error_ = std::current_exception();
  }
  {
    std::lock_guard lock{mutex_};
    finished_ = true;
  }
  changed_.notify_all();
}

std::optional<std::vector<Event>> ReadAhead::next() {
  std::unique_lock lock{mutex_};
  changed_.wait(lock, [&] { return !ready_.empty() || finished_; });
  if (!ready_.empty()) {
    auto batch = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    changed_.notify_all();
    return batch;
  }
  if (error_) std::rethrow_exception(error_);
  return std::nullopt;
}

}  // namespace reproj::engine::detail
