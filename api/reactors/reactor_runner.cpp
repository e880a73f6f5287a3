#include "api/reactors/reactor_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/reactors/reactor_deliverer.hpp"

namespace reproj::api {

namespace {

std::string default_instance() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string{host} + ":" + std::to_string(::getpid());
}

}  // namespace

ReactorRunner::ReactorRunner(engine::ReactorStore& store, const std::string& database_url, asio::io_context& io,
                             ReactorMetrics* metrics, ReactorRunnerOptions options)
    : store_(store), locks_(database_url, engine::kReactorLockClass), io_(io), metrics_(metrics), options_([&] {
        if (options.instance.empty()) options.instance = default_instance();
        return options;
      }()) {}

ReactorRunner::~ReactorRunner() { stop(); }

void ReactorRunner::start() {
  if (started_) return;
  started_ = true;
  supervisor_ = std::thread([this] { supervise(); });
}

void ReactorRunner::stop() {
  if (stopping_.exchange(true)) return;
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (loops_ > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::lock_guard lock{mutex_};
  for (const auto& name : held_) locks_.release(name);
  held_.clear();
  db_.join();
}

std::set<std::string> ReactorRunner::owned() const {
  std::lock_guard lock{mutex_};
  return active_;
}

asio::awaitable<void> ReactorRunner::deliver_loop(std::string name, std::uint64_t epoch) {
  // No co_await in the full-expression that builds the context: GCC 12 mishandles temporaries there.
  const auto executor = co_await asio::this_coro::executor;
  DelivererContext context{store_,   db_,           [this] { return locks_.pid(); }, [this, epoch] { return current(epoch); },
                           metrics_, options_.poll, options_.batch,                  options_.instance};
  ReactorDeliverer deliverer{std::move(context), name, executor};
  spdlog::info("reactor {}: delivering from this instance ({})", name, options_.instance);
  asio::steady_timer pause{co_await asio::this_coro::executor};
  while (current(epoch)) {
    bool failed = false;
    try {
      if (!co_await deliverer.pass()) break;
    } catch (const std::exception& e) {  // a bug or an unexpected database answer: log, pause, go on
      spdlog::error("reactor {}: {}", name, e.what());
      failed = true;
    }
    if (failed) {
      pause.expires_after(std::chrono::seconds(1));
      beast::error_code ec;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
}

void ReactorRunner::supervise() {
  bool connected = false;
  while (!stopping_) {
    try {
      if (!connected || !locks_.alive()) {
        if (connected) spdlog::warn("reactors: the lock session was lost; deliveries stop until it is back");
        ++epoch_;  // every loop of the old session ends
        {
          std::lock_guard lock{mutex_};
          held_.clear();
        }
        connected = false;
        locks_.reconnect();
        connected = true;
      }
      std::vector<std::string> names;
      for (const auto& r : store_.list()) names.push_back(r.name);
      std::lock_guard lock{mutex_};
      for (auto it = held_.begin(); it != held_.end();) {
        const bool listed = std::find(names.begin(), names.end(), *it) != names.end();
        if (!listed && !active_.contains(*it)) {
          locks_.release(*it);
          it = held_.erase(it);
        } else {
          ++it;
        }
      }
      for (const auto& name : names) {
        if (stopping_ || active_.contains(name)) continue;
        if (!held_.contains(name)) {
          if (!locks_.try_acquire(name)) continue;
          held_.insert(name);
        }
        active_.insert(name);
        ++loops_;
        const std::uint64_t epoch = epoch_;
        asio::co_spawn(asio::make_strand(io_), deliver_loop(name, epoch), [this, name](std::exception_ptr) {
          std::lock_guard done{mutex_};
          active_.erase(name);
          --loops_;
          wake_.notify_all();
        });
      }
    } catch (const std::exception& e) {
      spdlog::warn("reactors: {}", e.what());
    }
    std::unique_lock lock{mutex_};
    wake_.wait_for(lock, options_.supervise, [this] { return stopping_.load(); });
  }
}

}  // namespace reproj::api
