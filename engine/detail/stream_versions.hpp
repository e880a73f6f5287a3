#pragma once
// Each stream's next version during an import (`reproj import`), held in memory up to a bound in
// bytes, so a chunk asks the log only for streams new to it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>

namespace reproj::engine::detail {

class StreamVersions {
 public:
  /// `log_was_empty`: no stream had an event before the import, so a stream not remembered is new
  /// (version 1) -- until the memory was once emptied.
  StreamVersions(std::size_t max_bytes, bool log_was_empty);

  /// Before a chunk of `streams` stream ids (`id_bytes` characters in all): empties the memory if
  /// they, all new, could take it past its bound. The chunk's own streams are always remembered,
  /// so a tiny bound is slow, never wrong.
  void make_room(std::size_t streams, std::size_t id_bytes);
  /// Remembers the stream (next version 1 if it is new here); true if the log must be asked for its
  /// version, which the caller then sets with of().
  bool add(std::string_view stream_id);
  std::int64_t& of(std::string_view stream_id);

  /// True once the memory had to be emptied (every stream after asks the log).
  bool emptied() const { return emptied_; }
  /// What holding `streams` streams (ids of `id_bytes` characters in all) can take at its peak: the
  /// table growing (old and new arrays side by side) and the ids' storage.
  static std::size_t peak_bytes(std::size_t streams, std::size_t id_bytes);
  /// What it holds now, from the table's real capacity.
  std::size_t held_bytes() const;

 private:
  std::string_view keep(std::string_view id);  // a copy that lives as long as the memory

  // Keys point into `ids_`: a string key would take 32 bytes a slot and a heap block per long id.
  absl::flat_hash_map<std::string_view, std::int64_t> next_;
  std::vector<std::unique_ptr<char[]>> ids_;
  std::size_t ids_bytes_ = 0;  // allocated for ids
  char* free_ = nullptr;       // the rest of the block short ids are copied into
  std::size_t block_left_ = 0;
  std::size_t max_bytes_;
  bool log_was_empty_;
  bool emptied_ = false;
};

}  // namespace reproj::engine::detail
