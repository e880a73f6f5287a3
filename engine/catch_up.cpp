#include "engine/catch_up.hpp"

#include <algorithm>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/sleep.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"

namespace reproj::engine {

namespace {
using Clock = std::chrono::steady_clock;

using detail::sleep_unless_stopped;

class Wakeup final : public pqxx::notification_receiver {
 public:
  explicit Wakeup(pqxx::connection& c) : pqxx::notification_receiver(c, "reproj_events") {}
  void operator()(const std::string&, int) override {}
};
}  // namespace

CatchUpWorker::CatchUpWorker(LiveProjections& live, std::vector<std::string> projections, CatchUpOptions options)
    : live_(live),
      projections_(std::move(projections)),
      options_(options),
      thread_([this](std::stop_token stop) { run(stop); }) {}

CatchUpWorker::~CatchUpWorker() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

bool CatchUpWorker::caught_up() const {
  std::scoped_lock lock{mutex_};
  return caught_up_;
}

bool CatchUpWorker::wait_caught_up(std::chrono::milliseconds timeout) const {
  std::unique_lock lock{mutex_};
  return changed_.wait_for(lock, timeout, [&] { return caught_up_; });
}

std::int64_t CatchUpWorker::start_tail() const {
  std::scoped_lock lock{mutex_};
  return start_tail_;
}

bool CatchUpWorker::database_reachable() const {
  std::scoped_lock lock{mutex_};
  return reachable_;
}

std::map<std::string, double> CatchUpWorker::rates() const {
  std::scoped_lock lock{mutex_};
  return rates_;
}

void CatchUpWorker::round(std::int64_t tail, const std::stop_token& stop) {
  // None named: every projection the registry knows now (specs deployed while serving join).
  std::vector<std::string> pending = projections_.empty() ? live_.registry().names() : projections_;
  std::vector<std::pair<std::string, Applied>> last;
  // One batch per projection in turn: one far behind (after an import) holds up no other, and
  // each one's reads can answer as soon as it is within what a read applies. Projections that
  // reads wait for go first, alone: the others' batches would only make those reads wait longer.
  while (!pending.empty() && !stop.stop_requested()) {
    std::vector<std::string> again, turn;
    for (const auto& name : pending) {
      if (live_.watermarks().awaited(name)) turn.push_back(name);
    }
    if (turn.empty()) {
      turn = pending;
    } else {
      for (const auto& name : pending) {
        if (std::find(turn.begin(), turn.end(), name) == turn.end()) again.push_back(name);
      }
    }
    for (const auto& name : turn) {
      Applied a;
      const auto started = Clock::now();
      try {
        a = live_.catch_up(name, tail, ApplyMode::kWorker, options_.batch_events);
      } catch (const UnknownProjection&) {
        continue;  // registered from another instance's deploy an instant before it created the projection
      }
      if (a.events > 0) {
        const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        const double now = static_cast<double>(a.events) / std::max(seconds, 1e-6);
        std::scoped_lock lock{mutex_};
        auto [it, fresh] = rates_.try_emplace(name, now);
        if (!fresh) it->second = 0.7 * it->second + 0.3 * now;
      }
      if (!a.failed && a.watermark < tail && a.events > 0) {
        again.push_back(name);
      } else {
        last.emplace_back(name, a);
      }
    }
    pending = std::move(again);
  }
  std::scoped_lock lock{mutex_};
  bool all_there = pending.empty();
  for (const auto& [name, a] : last) {
    if (!a.building && (a.failed || a.watermark < start_tail_)) all_there = false;  // a new one builds apart
  }
  reachable_ = true;
  if (all_there && !caught_up_) {
    caught_up_ = true;
    spdlog::info("caught up: every projection reached the start tail {}", start_tail_);
  }
  changed_.notify_all();
}

void CatchUpWorker::run(std::stop_token stop) {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Wakeup> wakeup;
  auto backoff = std::chrono::milliseconds{100};
  auto last_round = Clock::time_point{};
  while (!stop.stop_requested()) {
    try {
      if (!conn) {
        conn = detail::connect(live_.pool().database_url());
        wakeup = std::make_unique<Wakeup>(*conn);  // LISTEN before reading the tail: no wake-up lost
      }
      // Under a steady stream of appends, one round per `min_interval` applies many events per
      // transaction instead of one each (strong reads catch up by themselves meanwhile); an
      // isolated append is applied at once.
      const auto since = Clock::now() - last_round;
      if (since < options_.min_interval) sleep_unless_stopped(stop, options_.min_interval - since);
      last_round = Clock::now();
      std::int64_t tail;
      {
        pqxx::nontransaction tx{*conn};  // one statement: no BEGIN/ROLLBACK round trips
        tail = log::safe_tail(tx);
      }
      {
        std::scoped_lock lock{mutex_};
        if (start_tail_ < 0) start_tail_ = tail;
      }
      round(tail, stop);
      backoff = std::chrono::milliseconds{100};
      const auto wait_us = std::chrono::duration_cast<std::chrono::microseconds>(options_.idle_wait).count();
      conn->await_notification(static_cast<long>(wait_us / 1'000'000), static_cast<long>(wait_us % 1'000'000));
    } catch (const std::exception& e) {
      {
        std::scoped_lock lock{mutex_};
        reachable_ = false;
      }
      spdlog::warn("catch-up worker: {} (retrying in {} ms)", e.what(), backoff.count());
      wakeup.reset();
      conn.reset();
      sleep_unless_stopped(stop, backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds{5000});
    }
  }
}

}  // namespace reproj::engine
