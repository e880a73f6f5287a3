#include "engine/detail/stream_versions.hpp"

#include <cstring>
#include <utility>

namespace reproj::engine::detail {

namespace {

constexpr std::size_t kBlock = std::size_t{1} << 20;  // ids are copied into blocks this large
constexpr std::size_t kOwnBlock = kBlock / 64;        // a longer id gets a block of its own

using Slot = std::pair<const std::string_view, std::int64_t>;

// absl's table: capacities 2^k - 1, filled to 7/8 before growing; a control byte per slot plus a
// group's width cloned at the end.
std::size_t capacity_for(std::size_t streams) {
  std::size_t capacity = 1;
  while (capacity - capacity / 8 < streams) capacity = capacity * 2 + 1;
  return capacity;
}
std::size_t table_bytes(std::size_t capacity) {
  constexpr std::size_t kGroupWidth = 16;
  return capacity == 0 ? 0 : capacity * (sizeof(Slot) + 1) + 1 + kGroupWidth;
}
// While growing to `capacity`, the table's old array (half as large) is still held.
std::size_t table_peak(std::size_t streams) {
  const std::size_t capacity = capacity_for(streams);
  return table_bytes(capacity) + table_bytes(capacity / 2);
}
// Blocks waste at most 1/64 at their ends (the longest id copied into one is 1/64 of it), and the
// last block is only partly used.
std::size_t ids_peak(std::size_t id_bytes) { return id_bytes + id_bytes / 64 + kBlock; }

}  // namespace

StreamVersions::StreamVersions(std::size_t max_bytes, bool log_was_empty)
    : max_bytes_(max_bytes), log_was_empty_(log_was_empty) {}

std::size_t StreamVersions::peak_bytes(std::size_t streams, std::size_t id_bytes) {
  return table_peak(streams) + ids_peak(id_bytes);
}

std::size_t StreamVersions::held_bytes() const { return table_bytes(next_.capacity()) + ids_bytes_; }

void StreamVersions::make_room(std::size_t streams, std::size_t id_bytes) {
  if (table_peak(next_.size() + streams) + ids_bytes_ + ids_peak(id_bytes) <= max_bytes_) return;
  next_ = {};
  ids_.clear();
  ids_bytes_ = block_left_ = 0;
  free_ = nullptr;
  emptied_ = true;
}

std::string_view StreamVersions::keep(std::string_view id) {
  char* at = nullptr;
  if (id.size() > kOwnBlock) {
    ids_.push_back(std::make_unique_for_overwrite<char[]>(id.size()));
    ids_bytes_ += id.size();
    at = ids_.back().get();
  } else {
    if (id.size() > block_left_) {
      ids_.push_back(std::make_unique_for_overwrite<char[]>(kBlock));
      ids_bytes_ += kBlock;
      free_ = ids_.back().get();
      block_left_ = kBlock;
    }
    at = free_;
    free_ += id.size();
    block_left_ -= id.size();
  }
  std::memcpy(at, id.data(), id.size());
  return {at, id.size()};
}

bool StreamVersions::add(std::string_view stream_id) {
  if (next_.contains(stream_id)) return false;
  next_.emplace(keep(stream_id), 1);
  return !log_was_empty_ || emptied_;
}

std::int64_t& StreamVersions::of(std::string_view stream_id) { return next_.find(stream_id)->second; }

}  // namespace reproj::engine::detail
