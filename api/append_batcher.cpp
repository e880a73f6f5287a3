#include "api/append_batcher.hpp"

#include "engine/errors.hpp"
#include "engine/event_store.hpp"

namespace reproj::api {

struct AppendBatcher::Waiter {
  Waiter(engine::AppendRequest r, const asio::any_io_executor& executor)
      : request(std::move(r)), timer(executor, asio::steady_timer::time_point::max()) {}
  engine::AppendRequest request;
  std::chrono::steady_clock::time_point queued = std::chrono::steady_clock::now();
  Routed answer;             // written by the group's thread before it posts `done`
  asio::steady_timer timer;  // never expires: cancelled, on the waiter's executor, once answered
  bool done = false;         // touched on the waiter's executor only
};

namespace {

// 503 "busy" with Retry-After, as the append lock's own timeout answers.
Routed busy(const std::string& why) { return answer_append({{}, std::make_exception_ptr(engine::LockTimeout(why))}); }

}  // namespace

AppendBatcher::AppendBatcher(engine::EventStore& store, asio::thread_pool& db_pool, RequestMetrics& metrics,
                             Options options)
    : store_(store), db_pool_(db_pool), metrics_(metrics), options_(options) {}

asio::awaitable<Routed> AppendBatcher::append(engine::AppendRequest request) {
  auto waiter = std::make_shared<Waiter>(std::move(request), co_await asio::this_coro::executor);
  {
    std::scoped_lock lock{mutex_};
    if (waiting_.size() >= options_.max_waiting) {
      co_return busy(std::to_string(waiting_.size()) + " appends are already waiting");
    }
    waiting_.push_back(waiter);
    dispatch();
    arrived_.notify_one();
  }
  // The answer is posted to this executor, so it cannot land between the check and the wait.
  if (!waiter->done) {
    beast::error_code ignored;
    co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  co_return std::move(waiter->answer);
}

void AppendBatcher::dispatch() {
  // One group at a time: the next would only wait for this one's append lock, and what queues
  // meanwhile joins it.
  if (running_ || waiting_.empty()) return;
  std::vector<std::shared_ptr<Waiter>> group;
  std::size_t events = 0;
  while (!waiting_.empty() && group.size() < options_.max_group) {
    const auto n = waiting_.front()->request.events.size();
    if (!group.empty() && events + n > options_.max_group_events) break;
    events += n;
    group.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  running_ = true;
  asio::post(db_pool_, [this, group = std::move(group)]() mutable { run(std::move(group)); });
}

void AppendBatcher::run(std::vector<std::shared_ptr<Waiter>> group) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<engine::AppendRequest> requests;
  std::vector<std::shared_ptr<Waiter>> members;
  requests.reserve(group.size());
  for (auto& w : group) {
    if (now - w->queued > options_.queue_wait) {
      w->answer = busy("appends are queued behind a writer that holds the append lock");
      continue;
    }
    requests.push_back(std::move(w->request));
    members.push_back(w);
  }
  if (!requests.empty()) {
    const auto outcomes = store_.append_group(requests);
    metrics_.observe_append_group(requests.size());
    for (std::size_t i = 0; i < members.size(); ++i) members[i]->answer = answer_append(outcomes[i]);
  }
  for (auto& w : group) {
    asio::post(w->timer.get_executor(), [w] {
      w->done = true;
      w->timer.cancel();
    });
  }
  std::unique_lock lock{mutex_};
  // Clients just answered often append again at once. Without waiting, the next group is only what
  // queued while this one ran and they join the one after: under steady load each group holds about
  // half the clients. So after a group of several, the next waits up to `gather` for as many more
  // requests as this one had. A lone append waits for nothing: after a group of one, or when idle.
  if (members.size() > 1 && options_.gather.count() > 0) {
    const auto target = std::min(options_.max_group, waiting_.size() + members.size());
    arrived_.wait_for(lock, options_.gather, [&] { return waiting_.size() >= target; });
  }
  running_ = false;
  dispatch();
}

}  // namespace reproj::api
