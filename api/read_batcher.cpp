#include "api/read_batcher.hpp"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <unordered_map>

#include "engine/errors.hpp"
#include "sources/source_manager.hpp"

namespace reproj::api {

struct ReadBatcher::Waiter {
  Waiter(PointRead r, const asio::any_io_executor& executor)
      : read(std::move(r)), timer(executor, asio::steady_timer::time_point::max()) {}
  PointRead read;
  Routed answer;             // written by the statement's thread before it posts `done`
  asio::steady_timer timer;  // never expires: cancelled, on the waiter's executor, once answered
  bool done = false;         // touched on the waiter's executor only
};

ReadBatcher::ReadBatcher(engine::LiveProjections& live, sources::SourceManager* sources, asio::thread_pool& db_pool,
                         RequestMetrics& metrics, Options options)
    : live_(live), sources_(sources), db_pool_(db_pool), metrics_(metrics), options_(options) {}

asio::awaitable<Routed> ReadBatcher::read(PointRead read) {
  auto waiter = std::make_shared<Waiter>(std::move(read), co_await asio::this_coro::executor);
  const Key key{waiter->read.projection, waiter->read.options.strong, waiter->read.options.min_position};
  {
    std::scoped_lock lock{mutex_};
    auto& queue = queues_[key];
    if (queue.waiting.size() >= options_.max_waiting) {
      Routed busy = answer_point_read(waiter->read, [&]() -> engine::ReadResult {
        throw engine::LockTimeout(std::to_string(queue.waiting.size()) + " reads of " + waiter->read.projection +
                                  " are already waiting");
      });
      co_return busy;
    }
    queue.waiting.push_back(waiter);
    dispatch(key);
  }
  // The answer is posted to this executor, so it cannot land between the check and the wait.
  if (!waiter->done) {
    beast::error_code ignored;
    co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  co_return std::move(waiter->answer);
}

void ReadBatcher::dispatch(const Key& key) {
  Queue& q = queues_[key];
  while (q.in_flight < options_.max_in_flight && !q.waiting.empty()) {
    const auto n = static_cast<std::ptrdiff_t>(std::min(q.waiting.size(), options_.max_batch));
    std::vector<std::shared_ptr<Waiter>> batch(std::make_move_iterator(q.waiting.begin()),
                                               std::make_move_iterator(q.waiting.begin() + n));
    q.waiting.erase(q.waiting.begin(), q.waiting.begin() + n);
    ++q.in_flight;
    asio::post(db_pool_, [this, key, batch = std::move(batch)]() mutable { run(key, std::move(batch)); });
  }
}

void ReadBatcher::run(const Key& key, std::vector<std::shared_ptr<Waiter>> batch) {
  const auto& [projection, strong, min_position] = key;
  engine::ReadOptions options;
  options.strong = strong;
  options.min_position = min_position;
  engine::ReadResult result;
  std::exception_ptr error;
  try {
    // Read your writes across a source: what it holds now is in the log before the read looks.
    if (strong && sources_) sources_->sync_for_read();
    if (batch.size() == 1) {
      result = live_.get(projection, batch.front()->read.id, options);
    } else {
      std::vector<std::string> keys;
      keys.reserve(batch.size());
      for (const auto& w : batch) keys.push_back(w->read.id);
      result = live_.get_many(projection, keys, options);
    }
  } catch (...) {
    error = std::current_exception();  // each read of the batch answers with it
  }
  metrics_.observe_point_read_statement(batch.size());
  {
    // The next statement may start now: it overlaps rendering these answers.
    std::scoped_lock lock{mutex_};
    auto it = queues_.find(key);
    --it->second.in_flight;
    dispatch(key);
    // min_position is the client's: drop idle queues so distinct values cannot pile up.
    if (it->second.in_flight == 0 && it->second.waiting.empty()) queues_.erase(it);
  }

  const auto rows = std::move(result.rows);
  result.rows.clear();
  std::unordered_map<std::string_view, const engine::Row*> by_key;
  for (const auto& row : rows) by_key.emplace(row.key(), &row);
  for (auto& w : batch) {
    w->answer = answer_point_read(w->read, [&] {
      if (error) std::rethrow_exception(error);
      engine::ReadResult one = result;
      if (auto it = by_key.find(w->read.id); it != by_key.end()) one.rows.push_back(*it->second);
      return one;
    });
    asio::post(w->timer.get_executor(), [w] {
      w->done = true;
      w->timer.cancel();
    });
  }
}

}  // namespace reproj::api
