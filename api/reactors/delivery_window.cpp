#include "api/reactors/delivery_window.hpp"

namespace reproj::api {

void DeliveryWindow::reset(engine::ReactorConfig::Ordering ordering, int limit, std::int64_t checkpoint,
                           const std::vector<std::int64_t>& done_above) {
  *this = DeliveryWindow{};
  ordering_ = ordering;
  limit_ = limit;
  read_to_ = checkpoint;
  done_above_.insert(done_above.begin(), done_above.end());
}

std::string DeliveryWindow::key_of(const engine::Event& e) const {
  switch (ordering_) {
    case engine::ReactorConfig::Ordering::kGlobal: return "";
    case engine::ReactorConfig::Ordering::kStream: return "s:" + e.stream_id;
    case engine::ReactorConfig::Ordering::kNone: return "e:" + std::to_string(e.global_position);
  }
  return "";
}

void DeliveryWindow::add(engine::Event event) {
  const auto position = event.global_position;
  if (position > read_to_) read_to_ = position;
  if (done_above_.contains(position) || pending_.contains(position)) return;
  outstanding_.insert(position);
  pending_.emplace(position, Pending{std::move(event)});
  enqueue(position);
}

void DeliveryWindow::add_retry(engine::Event event, int attempts) {
  const auto position = event.global_position;
  if (pending_.contains(position)) return;
  pending_.emplace(position, Pending{std::move(event), attempts, 0, true});
  enqueue(position);
}

void DeliveryWindow::read_to(std::int64_t position) {
  if (position > read_to_) read_to_ = position;
}

void DeliveryWindow::enqueue(std::int64_t position) {
  auto key = key_of(pending_.at(position).event);
  auto& q = queues_[key];
  q.positions.push_back(position);
  if (q.positions.size() == 1 && !q.busy && !q.waiting) ready_.emplace(position, key);
  key_.emplace(position, std::move(key));
}

std::optional<std::int64_t> DeliveryWindow::take(Clock::time_point now) {
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    const auto key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    auto& q = queues_.at(key);
    q.waiting = false;
    ready_.emplace(q.positions.front(), key);
  }
  if (in_flight_ >= limit_ || ready_.empty()) return std::nullopt;
  const auto [position, key] = *ready_.begin();
  ready_.erase(ready_.begin());
  queues_.at(key).busy = true;
  ++in_flight_;
  return position;
}

void DeliveryWindow::release(std::int64_t position, bool finished) {
  const auto key = key_.at(position);
  auto& q = queues_.at(key);
  q.busy = false;
  --in_flight_;
  if (!finished) return;
  q.positions.pop_front();
  key_.erase(position);
  if (q.positions.empty()) {
    queues_.erase(key);
  } else {
    ready_.emplace(q.positions.front(), key);
  }
}

void DeliveryWindow::done(std::int64_t position) {
  const bool retry = pending_.at(position).retry;
  release(position, true);
  pending_.erase(position);
  if (retry) return;
  outstanding_.erase(position);
  if (position > checkpoint()) {
    done_above_.insert(position);
    newly_done_.push_back(position);
  }
}

void DeliveryWindow::failed(std::int64_t position, Clock::time_point retry_at) {
  release(position, false);
  const auto& key = key_.at(position);
  queues_.at(key).waiting = true;
  waiting_.emplace(retry_at, key);
}

void DeliveryWindow::abandoned(std::int64_t position) {
  release(position, false);
  const auto& key = key_.at(position);
  ready_.emplace(position, key);
}

std::optional<Clock::time_point> DeliveryWindow::next_retry() const {
  if (waiting_.empty()) return std::nullopt;
  return waiting_.begin()->first;
}

std::int64_t DeliveryWindow::checkpoint() const {
  return outstanding_.empty() ? read_to_ : *outstanding_.begin() - 1;
}

std::vector<std::int64_t> DeliveryWindow::take_done_above() {
  const auto at = checkpoint();
  std::vector<std::int64_t> out;
  for (const auto position : newly_done_) {
    if (position > at) out.push_back(position);
  }
  newly_done_.clear();
  std::erase_if(done_above_, [at](std::int64_t p) { return p <= at; });
  return out;
}

}  // namespace reproj::api
