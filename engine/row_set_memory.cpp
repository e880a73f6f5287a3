// RowSet's memory: what its rows take, and letting them go (a rebuild's memory budget).
#include <stdexcept>

#include "engine/row_set.hpp"

namespace reproj::engine {

namespace {
std::size_t heap_bytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }
}  // namespace

std::size_t RowSet::approx_bytes() const {
  constexpr std::size_t kSample = 256;
  std::size_t total = 0;
  for (const auto& t : tables_) {
    if (t.rows.empty()) continue;
    std::size_t sampled = 0, bytes = 0;
    for (const auto& [key, e] : t.rows) {
      // The slot (key and entry inline) and what the key, the row and its strings hold on the heap;
      // each secondary index keeps the key once more, in a set under the column's value.
      bytes += sizeof(std::string) + sizeof(Entry) + heap_bytes(key);
      if (e.row) {
        bytes += e.row->values.capacity() * sizeof(Value);
        for (const auto& v : e.row->values) {
          if (const auto* text = std::get_if<std::string>(&v)) bytes += heap_bytes(*text);
        }
      }
      bytes += t.index.size() * (2 * sizeof(std::string) + heap_bytes(key) + 16);
      if (++sampled == kSample) break;
    }
    // A hash table keeps room for growth: slots ~1/0.875 of its rows.
    total += bytes / sampled * t.rows.size() * 8 / 7;
  }
  return total;
}

void RowSet::evict() {
  in_event_ = false;  // an event's undo journal refers to rows about to go
  journal_.clear();
  touched_.clear();
  for (auto& t : tables_) {
    for (const auto& [key, e] : t.rows) {
      if (e.dirty) throw std::logic_error("RowSet::evict with unflushed rows in " + t.spec->name);
    }
    // Fresh containers: clear() would keep the capacity, and the memory with it.
    t.rows = {};
    for (auto& i : t.index) i = {};
    for (auto& l : t.loaded_where) l = {};
    for (auto& u : t.unique) u = {};
  }
}

std::size_t RowSet::present(std::size_t table) const {
  std::size_t n = 0;
  for (const auto& [key, e] : tables_.at(table).rows) n += e.row ? 1u : 0u;
  return n;
}

}  // namespace reproj::engine
