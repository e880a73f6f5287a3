#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace reproj::engine {

/// The watermarks this process has seen committed, per projection, and who to tell when one moves.
/// LiveProjections publishes after every apply (its own, or another instance's seen under the
/// metadata lock), so a read waiting for the catch-up worker is woken, never polls. Thread-safe.
class WatermarkBoard {
 public:
  /// Called on the publishing thread with the board's lock held: keep it short (post elsewhere).
  using Listener = std::function<void(const std::string& projection, std::int64_t watermark)>;

  /// Keeps its listener registered while alive; destroying it waits for a call in progress.
  class Subscription {
   public:
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription();

   private:
    friend class WatermarkBoard;
    Subscription(WatermarkBoard& board, std::uint64_t id) : board_(board), id_(id) {}
    WatermarkBoard& board_;
    std::uint64_t id_;
  };

  /// Records `watermark` for `projection` if it is higher than the last one and tells every
  /// listener. Never throws.
  void publish(const std::string& projection, std::int64_t watermark) noexcept;
  /// The highest watermark published for `projection`, -1 before the first.
  std::int64_t last(const std::string& projection) const;
  /// Reads waiting for `projection` to move: +1 when one starts waiting, -1 when it stops. The
  /// catch-up worker serves projections with waiting reads first.
  void count_waiting(const std::string& projection, int delta);
  /// Whether reads wait for `projection` now.
  bool awaited(const std::string& projection) const;
  [[nodiscard]] std::unique_ptr<Subscription> subscribe(Listener listener);

 private:
  mutable std::mutex mutex_;
  // State below is protected by mutex_.
  std::map<std::string, std::int64_t, std::less<>> last_;
  std::map<std::string, int, std::less<>> waiting_;
  std::map<std::uint64_t, Listener> listeners_;
  std::uint64_t next_id_ = 0;
};

}  // namespace reproj::engine
