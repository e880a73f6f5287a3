#include "api/reactors/reactor_deliverer.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "api/json_mapping.hpp"
#include "api/on_pool.hpp"
#include "api/reactors/reactor_metrics.hpp"
#include "api/reactors/signature.hpp"
#include "api/reactors/webhook_tls.hpp"

namespace reproj::api {

namespace {

using std::chrono::milliseconds;

// Within a pass, the stored state (a pause, a delete, a new configuration) is looked at this often.
constexpr milliseconds kStateCheck{1000};
// What was done is checkpointed at least this often while it changes (and after `batch` events).
constexpr milliseconds kCheckpointEvery{100};
// Done events a checkpoint may lag behind, in batches: past it nothing more is sent until the
// checkpoint commits, so a take-over sends again at most this many events besides those in flight,
// however slow the database.
constexpr std::int64_t kUncommittedBatches = 2;
// A pass wakes at least this often to notice stop() or a lost lock.
constexpr milliseconds kTick{250};
// Events read and not yet done, at most: a stream that keeps failing holds back reading, not memory.
constexpr std::size_t kMaxOutstanding = 5000;

int circuit_gauge(CircuitBreaker::State s) {
  return s == CircuitBreaker::State::kOpen ? 2 : s == CircuitBreaker::State::kHalfOpen ? 1 : 0;
}

milliseconds until_ms(Clock::time_point at, Clock::time_point now) {
  return std::max(milliseconds{0}, std::chrono::duration_cast<milliseconds>(at - now));
}

}  // namespace

ReactorDeliverer::ReactorDeliverer(DelivererContext context, std::string name, asio::any_io_executor executor)
    : c_(std::move(context)), name_(std::move(name)), executor_(executor), timer_(executor), news_(executor),
      rng_(std::random_device{}()) {}

ReactorDeliverer::~ReactorDeliverer() = default;

asio::awaitable<bool> ReactorDeliverer::pass() {
  std::optional<engine::ReactorStore::Work> work;
  bool unreadable = false;
  try {
    work = co_await on_pool(c_.db, [this] { return c_.store.next_work(name_, std::nullopt, c_.batch); });
  } catch (const std::exception& e) {
    spdlog::warn("reactor {}: cannot read its work: {}", name_, e.what());
    unreadable = true;
  }
  if (unreadable) {  // (no co_await inside a handler)
    co_await sleep(c_.poll * 5);
    co_return c_.current();
  }
  if (!work) co_return false;  // deleted
  const auto& reactor = work->reactor;
  if (c_.metrics) {
    c_.metrics->set_lag(name_, reactor.lag());
    c_.metrics->set_circuit(name_, circuit_gauge(breaker_.state(Clock::now())));
  }
  if (reactor.state != "running") {
    co_await sleep(c_.poll);
    co_return c_.current();
  }
  if (const auto bad = adopt(reactor.config); !bad.empty()) {  // edited by hand, or a CA file gone
    co_await on_pool(c_.db, [&] { c_.store.stop_at(name_, bad); });
    co_return c_.current();
  }
  window_.reset(config_.ordering, config_.in_flight_limit(), reactor.position, work->acknowledged);
  committed_ = reactor.position;
  stored_in_flight_ = reactor.in_flight;
  stored_backing_off_ = reactor.backing_off;
  more_ = !work->complete;
  ending_ = failed_checkpoint_ = cancelled_ = news_pending_ = false;
  delivered_ = uncommitted_ = 0;
  dead_.clear();
  retried_.clear();
  stop_error_.reset();
  for (std::size_t i = 0; i < work->retries.size(); ++i) window_.add_retry(work->retries[i], work->retry_attempts[i]);
  for (auto& event : work->events) window_.add(std::move(event));
  if (work->complete) window_.read_to(reactor.tail);
  const bool nothing = work->events.empty() && work->retries.empty();

  auto checked = Clock::now(), flushed = Clock::now();
  while (true) {
    if (!c_.current() && !cancelled_) {
      ending_ = cancelled_ = true;
      for (auto* client : busy_) client->cancel();  // stopping: what is in flight ends now, sent again later
    }
    news_pending_ = false;
    if (!ending_) dispatch();
    if (running_attempts_ == 0 && (ending_ || (window_.idle() && !more_))) break;
    try {
      if (!ending_ && more_ && window_.outstanding() < kMaxOutstanding) co_await read_more();
      if (!ending_ && Clock::now() - checked >= kStateCheck) {
        checked = Clock::now();
        if (!co_await running()) ending_ = true;
      }
      if (Clock::now() - flushed >= kCheckpointEvery || delivered_ >= static_cast<std::int64_t>(c_.batch)) {
        flushed = Clock::now();
        if (!co_await flush()) ending_ = true;
      }
    } catch (const std::exception& e) {  // a bug or an unexpected database answer: end this pass cleanly
      spdlog::error("reactor {}: {}", name_, e.what());
      ending_ = true;
    }
    auto until = Clock::now() + kTick;
    if (const auto retry = window_.next_retry()) until = std::min(until, *retry);
    if (const auto blocked = breaker_.blocked_until(Clock::now())) until = std::min(until, *blocked);
    until = std::min(until, flushed + kCheckpointEvery);
    co_await wait_for_news(until);
  }
  if (!failed_checkpoint_) co_await flush();
  if (stop_error_) co_await on_pool(c_.db, [&] { c_.store.stop_at(name_, *stop_error_); });
  publish_window();
  if (nothing && !ending_) co_await sleep(c_.poll);
  co_return c_.current();
}

void ReactorDeliverer::dispatch() {
  while (true) {
    const auto now = Clock::now();
    const auto state = breaker_.state(now);
    if (state == CircuitBreaker::State::kOpen) return;
    const bool probe = state == CircuitBreaker::State::kHalfOpen;
    if (probe && window_.in_flight() > 0) return;  // the probe goes alone
    if (uncommitted_ >= kUncommittedBatches * static_cast<std::int64_t>(c_.batch)) return;  // checkpoint first
    const auto position = window_.take(now);
    if (!position) return;
    ++running_attempts_;
    asio::co_spawn(executor_, attempt(*position, probe), asio::detached);
    if (probe) return;
  }
}

asio::awaitable<void> ReactorDeliverer::attempt(std::int64_t position, bool probe) {
  try {
    auto& pending = window_.at(position);
    ++pending.attempts;
    const auto& event = pending.event;
    std::string body;
    append_event_json(body, event);
    std::vector<std::pair<std::string, std::string>> headers{
        {"Idempotency-Key", name_ + ":" + event.event_id},
        {"X-Reproj-Attempt", std::to_string(pending.attempts)},
        {"X-Reproj-Reactor", name_},
        {"X-Reproj-Event-Type", event.type},
        {"X-Reproj-Position", std::to_string(event.global_position)},
        {"X-Reproj-Instance", c_.instance}};
    if (!config_.secret.empty()) headers.emplace_back("X-Reproj-Signature", "sha256=" + hmac_sha256_hex(config_.secret, body));
    const WebhookUrl url = url_;  // a new configuration may replace url_ while this request is out
    WebhookClient* client = lease_client();
    const auto sent = Clock::now();
    const auto reply = co_await client->post(url, body, headers, milliseconds{config_.timeout_ms});
    busy_.erase(client);
    idle_.push_back(client);
    judge(position, reply, sent, probe);
  } catch (const std::exception& e) {
    spdlog::error("reactor {}: delivery of position {}: {}", name_, position, e.what());
    ending_ = true;
  }
  --running_attempts_;
  // Send what may go now without waiting for the pass to wake: one request at a time (global),
  // that hop would be a third of each delivery's cost.
  if (!ending_) dispatch();
  news_pending_ = true;
  news_.cancel();
}

void ReactorDeliverer::judge(std::int64_t position, const DeliveryReply& reply, Clock::time_point sent, bool probe) {
  auto& pending = window_.at(position);
  const auto verdict = classify(reply);
  const auto now = Clock::now();
  if (verdict == Verdict::kAcknowledged) {
    breaker_.on_success();
    if (c_.metrics) {
      c_.metrics->observe_delivery(name_, "ok", now - sent);
      c_.metrics->set_circuit(name_, 0);
    }
    if (recorded_failing_) health_dirty_ = true;
    if (pending.retry) {
      retried_.push_back({pending.event.event_id, true, pending.attempts, ""});
    } else {
      ++delivered_;
    }
    ++uncommitted_;
    window_.done(position);
    return;
  }
  if (ending_) {  // cancelled, or failed while the pass ends: the next pass sends it again
    window_.abandoned(position);
    return;
  }
  const auto error = describe(reply);
  breaker_.on_failure(now, sent);
  ++pending.failed;
  last_error_ = error;
  health_dirty_ = true;
  const bool give_up = verdict == Verdict::kGiveUp || pending.failed >= config_.max_attempts;
  const auto state = breaker_.state(now);
  if (c_.metrics) {
    c_.metrics->observe_delivery(name_, give_up ? "failed" : "retry", now - sent);
    c_.metrics->set_circuit(name_, circuit_gauge(state));
  }
  if (probe) spdlog::info("reactor {}: probe failed ({}), circuit open again", name_, error);
  if (!give_up) {
    // The schedule backs off by the receiver's health, not one event's luck: its step is the smaller
    // of this event's failures and the reactor's run of failures. One request at a time (global) the
    // two are the same; in parallel, a receiver that answers other streams meanwhile is up, and an
    // event that failed at random is tried again soon instead of holding its stream for minutes.
    const int step = std::max(1, std::min(pending.failed, breaker_.consecutive_failures()));
    window_.failed(position, now + retry_delay(config_, step, reply.retry_after, jitter_(rng_)));
    return;
  }
  if (pending.retry) {
    retried_.push_back({pending.event.event_id, false, pending.attempts, error});
    ++uncommitted_;
    window_.done(position);
    return;
  }
  if (config_.on_failure == engine::ReactorConfig::OnFailure::kStop) {
    // The checkpoint stays before it: it is outstanding until an operator resumes the reactor.
    stop_error_ = "stopped at event " + pending.event.event_id + " (position " + std::to_string(position) + "): " + error;
    ending_ = true;
    window_.abandoned(position);
    return;
  }
  dead_.push_back({pending.event, pending.attempts, error});
  ++uncommitted_;
  window_.done(position);
}

asio::awaitable<void> ReactorDeliverer::read_more() {
  const auto after = window_.read_position();
  const auto work = co_await on_pool(c_.db, [&] { return c_.store.next_work(name_, after, c_.batch); });
  if (!work) {  // deleted
    ending_ = true;
    co_return;
  }
  for (const auto& event : work->events) window_.add(event);
  if (work->complete) {
    window_.read_to(work->reactor.tail);
    more_ = false;
  }
  if (c_.metrics) c_.metrics->set_lag(name_, work->reactor.lag());
}

// Checkpoints what was done. False when the checkpoint was not where this pass left it (an
// operator's reset) or the lock is gone: the pass ends and the next reads its work again.
asio::awaitable<bool> ReactorDeliverer::flush() {
  const auto to = window_.checkpoint();
  auto done = window_.take_done_above();
  const int in_flight = window_.in_flight(), backing_off = window_.backing_off();
  publish_window();
  if (to == committed_ && done.empty() && dead_.empty() && delivered_ == 0 && retried_.empty() && !health_dirty_ &&
      in_flight == stored_in_flight_ && backing_off == stored_backing_off_) {
    uncommitted_ = 0;
    co_return true;
  }
  const auto taken = uncommitted_;
  engine::ReactorStore::Progress progress{committed_, to, std::move(done), delivered_, std::move(dead_), in_flight,
                                          backing_off};
  delivered_ = 0;
  dead_.clear();
  const auto retried = std::move(retried_);
  retried_.clear();
  bool moved = false;
  try {
    moved = co_await on_pool(c_.db, [&] { return c_.store.checkpoint(name_, progress, c_.lock_pid()); });
  } catch (const std::exception& e) {
    spdlog::warn("reactor {}: cannot checkpoint: {}", name_, e.what());
  }
  if (!moved) {
    failed_checkpoint_ = true;
    co_return false;
  }
  committed_ = to;
  uncommitted_ -= taken;
  stored_in_flight_ = in_flight;
  stored_backing_off_ = backing_off;
  for (const auto& r : retried) {
    co_await on_pool(c_.db, [&] { c_.store.retried(name_, r.event_id, r.delivered, r.attempts, r.error); });
  }
  if (health_dirty_) co_await record_health();
  co_return true;
}

// Stores the receiver's health (circuit, failures, last error, when the next request goes) and
// reads the control back: a pause or delete noticed here ends the pass.
asio::awaitable<void> ReactorDeliverer::record_health() {
  health_dirty_ = false;
  const auto now = Clock::now();
  recorded_failing_ = breaker_.consecutive_failures() > 0;
  std::int64_t next_ms = -1;
  if (const auto blocked = breaker_.blocked_until(now)) {
    next_ms = until_ms(*blocked, now).count();
  } else if (const auto retry = window_.next_retry()) {
    next_ms = until_ms(*retry, now).count();
  }
  const char* circuit = CircuitBreaker::name(breaker_.state(now));
  const int failures = breaker_.consecutive_failures();
  try {
    const auto control = co_await on_pool(c_.db, [&] {
      return c_.store.record_health(name_, circuit, failures, last_error_, next_ms);
    });
    if (!apply(control)) ending_ = true;
  } catch (const std::exception& e) {
    spdlog::warn("reactor {}: cannot record its state: {}", name_, e.what());
  }
}

// Reads what an operator last set; false when the reactor is no longer running (paused, stopped,
// deleted). A changed configuration applies from the next request.
asio::awaitable<bool> ReactorDeliverer::running() {
  try {
    co_return apply(co_await on_pool(c_.db, [&] { return c_.store.control(name_); }));
  } catch (const std::exception& e) {
    spdlog::warn("reactor {}: cannot read its state: {}", name_, e.what());
    co_return true;
  }
}

// False when the reactor is gone or not running, or its URL became unusable (the next pass stops it).
bool ReactorDeliverer::apply(const std::optional<engine::ReactorStore::Control>& control) {
  return control && adopt(control->config).empty() && control->state == "running";
}

// Makes `config` the one deliveries follow from the next request (a client reconnects when the URL
// names another host, port or TLS context). A new ordering ends the pass: the next one queues by it.
// Returns why the URL or its TLS files are unusable, or "" when adopted.
std::string ReactorDeliverer::adopt(const engine::ReactorConfig& config) {
  if (config == config_) return "";
  WebhookUrl url;
  std::shared_ptr<asio::ssl::context> tls;
  try {
    url = parse_webhook_url(config.url);
    if (url.tls) tls = make_webhook_tls(config);
  } catch (const std::exception& e) {
    return e.what();
  }
  if (config.ordering != config_.ordering) ending_ = true;
  url_ = std::move(url);
  tls_ = std::move(tls);
  config_ = config;
  // A run as long in rounds as one request at a time would need: with N in flight, N× the failures
  // in a row. A receiver that is down fails N at once and trips it as soon; one that fails 30% of
  // requests at random would otherwise trip it every few hundred requests and stall every stream.
  breaker_.configure(config_.circuit_failures * config_.in_flight_limit(), milliseconds{config_.circuit_cooldown_ms});
  window_.set_limit(config_.in_flight_limit());
  return "";
}

WebhookClient* ReactorDeliverer::lease_client() {
  WebhookClient* client = nullptr;
  if (idle_.empty()) {
    clients_.push_back(std::make_unique<WebhookClient>(executor_));
    client = clients_.back().get();
  } else {
    client = idle_.back();
    idle_.pop_back();
  }
  client->set_tls(tls_);
  busy_.insert(client);
  return client;
}

void ReactorDeliverer::publish_window() {
  if (c_.metrics) c_.metrics->set_window(name_, window_.in_flight(), window_.backing_off());
}

asio::awaitable<void> ReactorDeliverer::wait_for_news(Clock::time_point until) {
  if (news_pending_) co_return;
  news_.expires_at(until);
  beast::error_code ec;
  co_await news_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Waits, waking at least every 250 ms to notice stop() or a lost lock.
asio::awaitable<void> ReactorDeliverer::sleep(milliseconds total) {
  const auto until = Clock::now() + total;
  while (c_.current() && Clock::now() < until) {
    timer_.expires_after(std::min<Clock::duration>(until - Clock::now(), kTick));
    beast::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace reproj::api
