#include "api/event_pages.hpp"

#include <thread>

namespace reproj::api {

EventPages::EventPages(engine::EventStore& store, std::size_t keep, std::size_t max_reading)
    : store_(store), keep_(keep), max_reading_(max_reading) {}

EventPages::~EventPages() {
  std::unique_lock lock{mutex_};
  idle_cv_.wait(lock, [&] { return reading_ == 0; });
}

engine::EventStore::Page EventPages::read(std::int64_t after, std::size_t limit, std::size_t max_bytes,
                                          const engine::EventFilter& filter) {
  Key key{after, limit, max_bytes, filter.stream_id, filter.type};
  std::shared_ptr<Slot> slot;
  {
    std::scoped_lock lock{mutex_};
    for (auto it = ahead_.begin(); it != ahead_.end(); ++it) {
      if (it->first == key) {
        slot = std::move(it->second);
        ahead_.erase(it);
        break;
      }
    }
  }
  std::optional<engine::EventStore::Page> page;
  if (slot) {
    std::unique_lock lock{slot->mutex};
    slot->done_cv.wait(lock, [&] { return slot->done; });  // asked for while still being read
    page = std::move(slot->page);
  }
  if (page) {
    std::scoped_lock lock{mutex_};
    ++hits_;
  } else {
    page = store_.read_page(after, limit, max_bytes, filter);
  }
  if (!page->exhausted && !page->events.empty()) {
    key.after = page->events.back().global_position;
    read_ahead(std::move(key), 1);
  }
  return std::move(*page);
}

void EventPages::read_ahead(Key key, int depth) {
  auto slot = std::make_shared<Slot>();
  {
    std::scoped_lock lock{mutex_};
    if (reading_ >= max_reading_) return;
    for (const auto& [k, s] : ahead_) {
      if (k == key) return;
    }
    ahead_.emplace_front(key, slot);
    if (ahead_.size() > keep_) ahead_.pop_back();  // a reader still holding it finishes it
    ++reading_;
    ++reads_ahead_;
  }
  std::thread([this, key = std::move(key), slot, depth]() mutable {
    std::optional<engine::EventStore::Page> page;
    try {
      page = store_.read_page(key.after, key.limit, key.max_bytes, {key.stream_id, key.type});
    } catch (...) {  // the request that wants it reads it itself, and answers any error
    }
    const bool full = page && !page->exhausted && !page->events.empty();
    const std::int64_t last = full ? page->events.back().global_position : 0;
    {
      std::scoped_lock lock{slot->mutex};
      // Only a page that did not reach the tail is final.
      if (full) slot->page = std::move(page);
      slot->done = true;
    }
    slot->done_cv.notify_all();
    if (full && depth < kDepth) {
      key.after = last;
      read_ahead(std::move(key), depth + 1);  // while this one still counts: the destructor waits for both
    }
    std::scoped_lock lock{mutex_};
    --reading_;
    idle_cv_.notify_all();
  }).detach();
}

std::int64_t EventPages::hits() const {
  std::scoped_lock lock{mutex_};
  return hits_;
}

std::int64_t EventPages::reads_ahead() const {
  std::scoped_lock lock{mutex_};
  return reads_ahead_;
}

}  // namespace reproj::api
