// RowSet's events: each begun, then sealed (what it changed in tables keeping history,
// TableSpec::history, becomes a RowVersion) or undone (its writes reverted, engine/row_set.hpp).
#include <utility>

#include "engine/row_set.hpp"

namespace reproj::engine {

void RowSet::begin_event(std::int64_t position) {
  if (!checks_unique_ && !keeps_history_) return;
  end_event();
  in_event_ = true;
  position_ = position;
}

void RowSet::undo_event() {
  for (auto u = journal_.rbegin(); u != journal_.rend(); ++u) {
    Table& t = tables_[u->table];
    auto it = t.rows.find(u->key);
    const Row* now = it != t.rows.end() && it->second.row ? &*it->second.row : nullptr;
    const Row* before = u->before.row ? &*u->before.row : nullptr;
    if (now) index_row(t, *now, Indexing::kRemove);
    if (before) index_row(t, *before, Indexing::kAdd);
    if (!t.unique.empty()) reindex_unique(t, u->key, now, before, 0, &u->since);  // values back with their positions
    if (u->existed) {
      it->second = std::move(u->before);
    } else if (it != t.rows.end()) {
      t.rows.erase(it);
    }
  }
  journal_.clear();
  touched_.clear();
  in_event_ = false;
}

void RowSet::end_event() {
  if (!in_event_) return;
  for (auto& u : journal_) {
    const Table& t = tables_[u.table];
    if (!keeps_history_ || !t.spec->history) continue;
    auto it = t.rows.find(u.key);
    const Row* now = it != t.rows.end() && it->second.row ? &*it->second.row : nullptr;
    const Row* before = u.before.row ? &*u.before.row : nullptr;
    if ((!now && !before) || (now && before && *now == *before)) continue;  // no change to keep
    versions_.push_back({u.table, std::move(u.key), position_, now ? std::optional<Row>{*now} : std::nullopt});
  }
  journal_.clear();
  touched_.clear();
  in_event_ = false;
}

std::vector<RowVersion> RowSet::take_versions() {
  end_event();
  return std::exchange(versions_, {});
}

}  // namespace reproj::engine
