#include "engine/detail/read_ahead.hpp"

#include <algorithm>

namespace reproj::engine::detail {

std::size_t approx_bytes(const std::vector<Event>& batch) {
  std::size_t bytes = batch.capacity() * sizeof(Event);
  const auto heap = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
  for (const auto& e : batch) {
    bytes += heap(e.event_id) + heap(e.stream_id) + heap(e.type) + heap(e.data) + heap(e.metadata) +
             heap(e.recorded_at);
  }
  return bytes;
}

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

void ReadAhead::set_depth(std::size_t depth) {
  {
    std::lock_guard lock{mutex_};
    depth_ = std::max<std::size_t>(depth, 1);
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
