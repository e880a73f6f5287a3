#include "api/reactors/reactor_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/json_mapping.hpp"
#include "api/on_pool.hpp"
#include "api/reactors/delivery_policy.hpp"
#include "api/reactors/reactor_metrics.hpp"
#include "api/reactors/signature.hpp"
#include "api/reactors/webhook_client.hpp"
#include "api/reactors/webhook_url.hpp"
#include "engine/errors.hpp"

namespace reproj::api {

namespace {

std::string default_instance() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string{host} + ":" + std::to_string(::getpid());
}

// Retries sooner than this are not recorded in the database (see deliver()).
constexpr std::chrono::milliseconds kRecordedWait{250};
// Within a batch, the stored state (a pause, a delete) is looked at this often.
constexpr std::chrono::milliseconds kStateCheck{1000};

int circuit_gauge(CircuitBreaker::State s) {
  return s == CircuitBreaker::State::kOpen ? 2 : s == CircuitBreaker::State::kHalfOpen ? 1 : 0;
}

}  // namespace

// One reactor's delivery state while this instance holds its lock: the receiver's connection and
// circuit, and what was acknowledged but not yet checkpointed.
class ReactorRunner::Deliverer {
 public:
  Deliverer(ReactorRunner& runner, std::string name, std::uint64_t epoch, asio::any_io_executor executor)
      : r_(runner), name_(std::move(name)), epoch_(epoch), client_(executor), timer_(executor),
        rng_(std::random_device{}()) {}

  enum class Result { kAcknowledged, kGaveUp, kAborted };
  struct Attempted {
    Result result = Result::kAborted;
    int attempts = 0;
    std::string error;
  };

  // One pass: read what is due, deliver it, checkpoint. False when the loop should end (reactor
  // deleted, lock lost, stopping).
  asio::awaitable<bool> pass() {
    std::optional<engine::ReactorStore::Work> work;
    bool unreadable = false;
    try {
      work = co_await on_pool(r_.db_, [this] { return r_.store_.next_work(name_, r_.options_.batch); });
    } catch (const std::exception& e) {
      spdlog::warn("reactor {}: cannot read its work: {}", name_, e.what());
      unreadable = true;
    }
    if (unreadable) {  // (no co_await inside a handler)
      co_await sleep(r_.options_.poll * 5);
      co_return r_.current(epoch_);
    }
    if (!work) co_return false;  // deleted
    const auto& reactor = work->reactor;
    if (r_.metrics_) {
      r_.metrics_->set_lag(name_, reactor.lag());
      r_.metrics_->set_circuit(name_, circuit_gauge(breaker_.state(Clock::now())));
    }
    if (reactor.state != "running") {
      co_await sleep(r_.options_.poll);
      co_return r_.current(epoch_);
    }
    if (const auto bad_url = adopt(reactor.config); !bad_url.empty()) {  // edited by hand in the table
      co_await on_pool(r_.db_, [&] { r_.store_.stop_at(name_, bad_url); });
      co_return r_.current(epoch_);
    }
    for (std::size_t i = 0; i < work->retries.size(); ++i) {
      const auto& event = work->retries[i];
      const auto done = co_await deliver(event, work->retry_attempts[i]);
      if (done.result == Result::kAborted) co_return r_.current(epoch_);
      co_await on_pool(r_.db_, [&] {
        r_.store_.retried(name_, event.event_id, done.result == Result::kAcknowledged, done.attempts, done.error);
      });
    }
    committed_ = acked_ = reactor.position;
    acked_count_ = 0;
    bool finished = true;
    auto checked = Clock::now();
    for (const auto& event : work->events) {
      if (Clock::now() - checked >= kStateCheck) {  // a slow receiver: notice a pause or delete mid-batch
        checked = Clock::now();
        if (!co_await flush() || !co_await running()) {
          finished = false;
          break;
        }
      }
      const auto done = co_await deliver(event, 0);
      if (done.result == Result::kAborted) {
        finished = false;
        break;
      }
      if (done.result == Result::kAcknowledged) {
        acked_ = event.global_position;
        ++acked_count_;
        continue;
      }
      if (!co_await flush()) co_return r_.current(epoch_);
      if (config_.on_failure == engine::ReactorConfig::OnFailure::kStop) {
        co_await on_pool(r_.db_, [&] {
          r_.store_.stop_at(name_, "stopped at event " + event.event_id + " (position " +
                                       std::to_string(event.global_position) + "): " + done.error);
        });
        co_return r_.current(epoch_);
      }
      const bool moved = co_await on_pool(r_.db_, [&] {
        return r_.store_.dead_letter(name_, committed_, event, done.attempts, done.error, r_.locks_.pid());
      });
      if (!moved) co_return r_.current(epoch_);  // reset or lock lost: read again
      committed_ = acked_ = event.global_position;
    }
    // Every matching event up to the tail handled: the checkpoint may pass the ones that did not match.
    if (finished && work->complete && reactor.tail > acked_) acked_ = reactor.tail;
    if (!co_await flush()) co_return r_.current(epoch_);
    if (work->events.empty() && work->retries.empty()) co_await sleep(r_.options_.poll);
    co_return r_.current(epoch_);
  }

 private:
  // Checkpoints what was acknowledged. False when the checkpoint was not where this loop left it
  // (an operator's reset) or the lock is gone: the caller reads its work again.
  asio::awaitable<bool> flush() {
    if (acked_ == committed_) co_return true;
    bool moved = false;
    try {
      moved = co_await on_pool(r_.db_, [&] {
        return r_.store_.advance(name_, committed_, acked_, acked_count_, r_.locks_.pid());
      });
    } catch (const std::exception& e) {
      spdlog::warn("reactor {}: cannot checkpoint: {}", name_, e.what());
    }
    if (moved) {
      committed_ = acked_;
      acked_count_ = 0;
    }
    co_return moved;
  }

  asio::awaitable<Attempted> deliver(const engine::Event& event, int attempts_before) {
    std::string body;
    append_event_json(body, event);
    Attempted out;
    out.attempts = attempts_before;
    int failed = 0;
    while (r_.current(epoch_)) {
      if (const auto until = breaker_.blocked_until(Clock::now())) {
        // Open: send nothing until the cooldown ends; checkpoint what is acknowledged first.
        if (!co_await flush()) co_return out;
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*until - Clock::now());
        if (!co_await record("open", out.error, wait.count())) co_return out;
        co_await sleep(wait);
        continue;
      }
      ++out.attempts;
      std::vector<std::pair<std::string, std::string>> headers{
          {"Idempotency-Key", name_ + ":" + event.event_id},
          {"X-Reproj-Attempt", std::to_string(out.attempts)},
          {"X-Reproj-Reactor", name_},
          {"X-Reproj-Event-Type", event.type},
          {"X-Reproj-Position", std::to_string(event.global_position)},
          {"X-Reproj-Instance", r_.options_.instance}};
      if (!config_.secret.empty()) headers.emplace_back("X-Reproj-Signature", "sha256=" + hmac_sha256_hex(config_.secret, body));
      const bool probe = breaker_.state(Clock::now()) == CircuitBreaker::State::kHalfOpen;
      const auto sent = Clock::now();
      const auto reply = co_await client_.post(url_, body, headers, std::chrono::milliseconds{config_.timeout_ms});
      const auto verdict = classify(reply);
      const bool give_up = verdict == Verdict::kGiveUp ||
                           (verdict == Verdict::kRetry && out.attempts - attempts_before >= config_.max_attempts);
      if (r_.metrics_) {
        r_.metrics_->observe_delivery(name_, verdict == Verdict::kAcknowledged ? "ok" : give_up ? "failed" : "retry",
                                      Clock::now() - sent);
      }
      if (verdict == Verdict::kAcknowledged) {
        breaker_.on_success();
        if (r_.metrics_) r_.metrics_->set_circuit(name_, 0);
        if (recorded_failing_ && !co_await record("closed", "", -1)) co_return out;
        out.result = Result::kAcknowledged;
        co_return out;
      }
      out.error = describe(reply);
      breaker_.on_failure(Clock::now());
      ++failed;
      const auto state = breaker_.state(Clock::now());
      if (r_.metrics_) r_.metrics_->set_circuit(name_, circuit_gauge(state));
      if (probe) spdlog::info("reactor {}: probe failed ({}), circuit open again", name_, out.error);
      if (give_up) {
        if (!co_await record(CircuitBreaker::name(state), out.error, -1)) co_return out;
        out.result = Result::kGaveUp;
        co_return out;
      }
      if (state == CircuitBreaker::State::kOpen) continue;  // the branch above waits
      const auto delay = retry_delay(config_, failed, reply.retry_after, jitter_(rng_));
      // A quick retry costs no database round trip; before a long wait the acknowledged events are
      // checkpointed and the failure is shown (and a pause or stop noticed).
      if (delay >= kRecordedWait) {
        if (!co_await flush()) co_return out;
        if (!co_await record("closed", out.error, delay.count())) co_return out;
      }
      co_await sleep(delay);
    }
    co_return out;
  }

  // Reads what an operator last set; false when the reactor is no longer running (paused, stopped,
  // deleted). A changed configuration applies from the next request.
  asio::awaitable<bool> running() {
    try {
      co_return apply(co_await on_pool(r_.db_, [&] { return r_.store_.control(name_); }));
    } catch (const std::exception& e) {
      spdlog::warn("reactor {}: cannot read its state: {}", name_, e.what());
      co_return true;
    }
  }

  // False when the reactor is gone or not running, or its URL became unusable (the next pass stops it).
  bool apply(const std::optional<engine::ReactorStore::Control>& control) {
    return control && adopt(control->config).empty() && control->state == "running";
  }

  // Makes `config` the one deliveries follow from the next request (the client reconnects when the
  // URL names another host or port). Returns why its URL is unusable, or "" when adopted.
  std::string adopt(const engine::ReactorConfig& config) {
    if (config == config_) return "";
    try {
      url_ = parse_webhook_url(config.url);
    } catch (const std::exception& e) {
      return e.what();
    }
    config_ = config;
    breaker_.configure(config_.circuit_failures, std::chrono::milliseconds{config_.circuit_cooldown_ms});
    return "";
  }

  // Stores the receiver's health and reads the control back (see running()); false when this
  // delivery should end.
  asio::awaitable<bool> record(const char* circuit, const std::string& error, std::int64_t next_in_ms) {
    recorded_failing_ = breaker_.consecutive_failures() > 0;
    try {
      co_return apply(co_await on_pool(r_.db_, [&] {
        return r_.store_.record_health(name_, circuit, breaker_.consecutive_failures(), error, next_in_ms);
      }));
    } catch (const std::exception& e) {
      spdlog::warn("reactor {}: cannot record its state: {}", name_, e.what());
      co_return true;
    }
  }

  // Waits, waking at least every 250 ms to notice stop() or a lost lock.
  asio::awaitable<void> sleep(std::chrono::milliseconds total) {
    const auto until = Clock::now() + total;
    while (r_.current(epoch_) && Clock::now() < until) {
      timer_.expires_after(std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds{250}));
      beast::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  ReactorRunner& r_;
  const std::string name_;
  const std::uint64_t epoch_;
  WebhookClient client_;
  asio::steady_timer timer_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> jitter_{0.0, 1.0};
  CircuitBreaker breaker_;
  engine::ReactorConfig config_;
  WebhookUrl url_;
  std::int64_t committed_ = 0;  // the stored checkpoint as this loop last moved it
  std::int64_t acked_ = 0;      // acknowledged up to here (>= committed_)
  std::int64_t acked_count_ = 0;
  bool recorded_failing_ = false;  // the stored state shows failures: a success must clear it
};

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
  Deliverer deliverer{*this, name, epoch, co_await asio::this_coro::executor};
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
