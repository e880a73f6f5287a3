#pragma once
// GET /events read page after page. A consumer pages the log in order, each request waiting for
// the one before: while it takes in one full page, the next one is read. A full page is final --
// positions up to the safe tail never change (docs/DESIGN.md, invariant 1) -- so a page read ahead
// is the right answer whenever the client asks for it, however late. A page that reached the tail
// is never read ahead or kept (its `next` depends on the tail when asked). Up to two pages are read
// ahead of the last one asked for.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/event_store.hpp"

namespace reproj::api {

class EventPages {
 public:
  /// Reads through `store`; keeps at most `keep` pages read ahead (the oldest go first), with at
  /// most `max_reading` reads ahead at once (each holds a pooled connection while it runs).
  explicit EventPages(engine::EventStore& store, std::size_t keep = 8, std::size_t max_reading = 3);
  /// Waits for the reads ahead still running.
  ~EventPages();
  EventPages(const EventPages&) = delete;
  EventPages& operator=(const EventPages&) = delete;

  /// engine::EventStore::read_page, from a page read ahead when there is one; then, when the page
  /// is full, reads the next one ahead.
  engine::EventStore::Page read(std::int64_t after, std::size_t limit, std::size_t max_bytes,
                                const engine::EventFilter& filter);

  /// Pages answered from a read ahead, and reads ahead started (for tests and metrics).
  std::int64_t hits() const;
  std::int64_t reads_ahead() const;

 private:
  struct Key {
    std::int64_t after;
    std::size_t limit, max_bytes;
    std::string stream_id, type;
    bool operator==(const Key&) const = default;
  };
  struct Slot {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    std::optional<engine::EventStore::Page> page;  // none: the read failed (read again in the open)
  };
  // Reads the page at `key` on a thread of its own; `depth`: pages between it and the one last
  // asked for. A page read ahead that is full reads the next one too, up to kDepth: PostgreSQL
  // reads a page while the server sends the one before and the client takes it in.
  void read_ahead(Key key, int depth);
  static constexpr int kDepth = 2;

  engine::EventStore& store_;
  const std::size_t keep_, max_reading_;
  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::list<std::pair<Key, std::shared_ptr<Slot>>> ahead_;  // newest first
  std::size_t reading_ = 0;
  std::int64_t hits_ = 0, reads_ahead_ = 0;
};

}  // namespace reproj::api
