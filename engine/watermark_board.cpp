#include "engine/watermark_board.hpp"

namespace reproj::engine {

WatermarkBoard::Subscription::~Subscription() {
  std::scoped_lock lock{board_.mutex_};
  board_.listeners_.erase(id_);
}

void WatermarkBoard::publish(const std::string& projection, std::int64_t watermark) noexcept {
  std::scoped_lock lock{mutex_};
  auto [it, inserted] = last_.try_emplace(projection, watermark);
  if (!inserted) {
    if (it->second >= watermark) return;
    it->second = watermark;
  }
  for (auto& [id, listener] : listeners_) {
    try {
      listener(projection, watermark);
    } catch (...) {  // a listener only posts; a failure must not stop an applier
    }
  }
}

std::int64_t WatermarkBoard::last(const std::string& projection) const {
  std::scoped_lock lock{mutex_};
  auto it = last_.find(projection);
  return it == last_.end() ? -1 : it->second;
}

void WatermarkBoard::count_waiting(const std::string& projection, int delta) {
  std::scoped_lock lock{mutex_};
  if ((waiting_[projection] += delta) <= 0) waiting_.erase(projection);
}

bool WatermarkBoard::awaited(const std::string& projection) const {
  std::scoped_lock lock{mutex_};
  return waiting_.count(projection) > 0;
}

std::unique_ptr<WatermarkBoard::Subscription> WatermarkBoard::subscribe(Listener listener) {
  std::scoped_lock lock{mutex_};
  const auto id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  return std::unique_ptr<Subscription>{new Subscription{*this, id}};
}

}  // namespace reproj::engine
