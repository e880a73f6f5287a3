#include "api/read_waits.hpp"

#include <algorithm>

namespace reproj::api {

struct ReadWaits::Waiter {
  explicit Waiter(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;  // expires at the deadline; cancelled, on its executor, when woken
  bool woken = false;        // protected by ReadWaits::mutex_
};

ReadWaits::ReadWaits(engine::WatermarkBoard& board, Options options)
    : board_(board),
      options_(options),
      subscription_(board_.subscribe([this](const std::string& p, std::int64_t w) { published(p, w); })) {}

ReadWaits::~ReadWaits() { subscription_.reset(); }

std::size_t ReadWaits::waiting() const {
  std::scoped_lock lock{mutex_};
  return count_;
}

asio::awaitable<bool> ReadWaits::wait(std::string projection, std::int64_t watermark,
                                      std::chrono::steady_clock::time_point deadline) {
  if (std::chrono::steady_clock::now() >= deadline) co_return false;
  auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
  waiter->timer.expires_at(deadline);
  // The board's lock is taken before ours in published(), so never inside ours here. A watermark
  // published before the board is read is seen there; one published after it is in seen_ (or
  // finds the waiter registered) under our lock. No wake-up is lost.
  if (board_.last(projection) >= watermark) co_return true;
  {
    std::scoped_lock lock{mutex_};
    if (auto s = seen_.find(projection); s != seen_.end() && s->second >= watermark) co_return true;
    if (count_ >= options_.max_waiting) co_return false;
    waiters_[projection].emplace(watermark, waiter);
    ++count_;
  }
  board_.count_waiting(projection, +1);
  // The wake-up is posted to this executor (a connection's strand), so it runs only once this
  // coroutine is suspended in the wait below.
  beast::error_code ec;
  co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  board_.count_waiting(projection, -1);
  std::scoped_lock lock{mutex_};
  if (waiter->woken) co_return true;
  // The deadline: leave the queue (published() has not taken this waiter, or woken would be set).
  auto& queue = waiters_[projection];
  for (auto [it, end] = queue.equal_range(watermark); it != end; ++it) {
    if (it->second == waiter) {
      queue.erase(it);
      --count_;
      break;
    }
  }
  if (queue.empty()) waiters_.erase(projection);
  co_return false;
}

void ReadWaits::published(const std::string& projection, std::int64_t watermark) {
  std::scoped_lock lock{mutex_};
  auto& seen = seen_[projection];
  seen = std::max(seen, watermark);
  auto it = waiters_.find(projection);
  if (it == waiters_.end()) return;
  auto& queue = it->second;
  const auto end = queue.upper_bound(watermark);
  for (auto w = queue.begin(); w != end; ++w) {
    w->second->woken = true;
    --count_;
    // The timer is touched only on its own executor (a strand, or the caller's thread).
    asio::post(w->second->timer.get_executor(), [waiter = w->second] { waiter->timer.cancel(); });
  }
  queue.erase(queue.begin(), end);
  if (queue.empty()) waiters_.erase(it);
}

}  // namespace reproj::api
