// RowSet's history: what each event changed in tables keeping history (TableSpec::history).
#include <utility>

#include "engine/row_set.hpp"

namespace reproj::engine {

void RowSet::end_event() {
  if (!in_event_) return;
  static const Value kNull{};
  for (auto& u : journal_) {
    const Table& t = tables_[u.table];
    if (!keeps_history_ || !t.spec->history) continue;
    auto it = t.rows.find(u.key);
    const Row* now = it != t.rows.end() && it->second.row ? &*it->second.row : nullptr;
    const Row* before = u.before.row ? &*u.before.row : nullptr;
    if ((!now && !before) || (now && before && *now == *before)) continue;  // no change to keep
    RowVersion v{u.table, u.key, position_, now ? std::optional<Row>{*now} : std::nullopt, {}};
    for (std::size_t c = 0; c < t.spec->columns.size(); ++c) {
      const Value& old = before ? before->values[c] : kNull;
      if (old != (now ? now->values[c] : kNull)) v.before.emplace_back(c, old);
    }
    versions_.push_back(std::move(v));
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
