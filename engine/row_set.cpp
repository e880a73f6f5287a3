#include "engine/row_set.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include <absl/container/inlined_vector.h>

namespace reproj::engine {

namespace {
const std::string* text_of(const Value& v) { return std::get_if<std::string>(&v); }

// A unique rule's columns of `row` as one hashable string (typed and length-prefixed, so distinct
// tuples never encode alike), or nullopt when one is NULL: NULLs never clash.
std::optional<std::string> tuple_of(const Row& row, const std::vector<std::size_t>& columns) {
  std::string out;
  for (auto c : columns) {
    const Value& v = row.values[c];
    if (const auto* s = std::get_if<std::string>(&v)) {
      out += 's' + std::to_string(s->size()) + ':' + *s;
    } else if (const auto* b = std::get_if<bool>(&v)) {
      out += *b ? "t" : "f";
    } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
      out += 'i' + std::to_string(*n) + ';';
    } else if (const auto* d = std::get_if<double>(&v)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "d%.17g;", *d);
      out += buf;
    } else {
      return std::nullopt;
    }
  }
  return out;
}
}  // namespace

std::vector<Row> RowSource::load_unique(std::size_t, const std::vector<std::size_t>&,
                                        const std::vector<std::vector<Value>>&) {
  throw std::logic_error("this row source cannot look rows up by a unique rule");
}

RowSet::RowSet(const std::vector<TableSpec>& tables, RowSource* source, bool record)
    : source_(source), record_(record) {
  for (const auto& spec : tables) {
    Table t;
    t.spec = &spec;
    t.slot.assign(spec.columns.size(), -1);
    for (std::size_t i = 0; i < spec.indexed.size(); ++i) t.slot.at(spec.indexed[i]) = static_cast<int>(i);
    t.index.resize(spec.indexed.size());
    t.loaded_where.resize(spec.indexed.size());
    t.missed_where.resize(spec.indexed.size());
    t.unique.resize(spec.unique.size());
    checks_unique_ = checks_unique_ || !spec.unique.empty();
    keeps_history_ = keeps_history_ || (spec.history && !record);
    tables_.push_back(std::move(t));
  }
}

void RowSet::index_row(Table& t, const Row& row, Indexing how) {
  for (std::size_t c = 0; c < t.slot.size(); ++c) {
    if (t.slot[c] < 0) continue;
    const std::string* v = text_of(row.values[c]);
    if (!v) continue;
    auto& bucket = t.index[static_cast<std::size_t>(t.slot[c])];
    if (how == Indexing::kAdd) {
      bucket[*v].insert(row.key());
    } else if (auto it = bucket.find(*v); it != bucket.end()) {
      it->second.erase(row.key());
      if (it->second.empty()) bucket.erase(it);
    }
  }
}

void RowSet::reindex_unique(Table& t, const std::string& key, const Row* before, const Row* after,
                            std::int64_t since, const std::vector<std::int64_t>* since_per_rule) {
  for (std::size_t r = 0; r < t.unique.size(); ++r) {
    const auto& columns = t.spec->unique[r];
    const auto from = before ? tuple_of(*before, columns) : std::nullopt;
    const auto to = after ? tuple_of(*after, columns) : std::nullopt;
    if (from == to) continue;  // the row keeps its value, and when it got it
    auto& holders = t.unique[r].holders;
    if (from) {
      if (auto it = holders.find(*from); it != holders.end()) {
        auto& list = it->second;
        list.erase(std::remove_if(list.begin(), list.end(), [&](const Holder& h) { return h.key == key; }), list.end());
        if (list.empty()) holders.erase(it);
      }
    }
    if (to) holders[*to].push_back({key, since_per_rule && r < since_per_rule->size() ? (*since_per_rule)[r] : since});
  }
}

void RowSet::remember(std::size_t table, const std::string& key) {
  if (!in_event_) return;
  // First touch only. Most events touch a row or two: a scan of the journal, no allocation (every
  // event of a history-keeping fold comes here); a set once an event touches many.
  constexpr std::size_t kScan = 16;
  const auto id = [](std::size_t t, const std::string& k) { return std::to_string(t) + '\0' + k; };
  if (journal_.size() < kScan) {
    for (const auto& u : journal_) {
      if (u.table == table && u.key == key) return;
    }
  } else {
    if (touched_.empty()) {
      for (const auto& u : journal_) touched_.insert(id(u.table, u.key));
    }
    if (!touched_.insert(id(table, key)).second) return;
  }
  Table& t = tables_[table];
  Undo u{table, key, false, {}, {}};
  if (auto it = t.rows.find(key); it != t.rows.end()) {
    u.existed = true;
    u.before = it->second;
    for (std::size_t r = 0; it->second.row && r < t.unique.size(); ++r) {
      std::int64_t since = 0;
      if (auto tuple = tuple_of(*it->second.row, t.spec->unique[r])) {
        if (auto h = t.unique[r].holders.find(*tuple); h != t.unique[r].holders.end()) {
          for (const auto& holder : h->second) since = holder.key == key ? holder.since : since;
        }
      }
      u.since.push_back(since);
    }
  }
  journal_.push_back(std::move(u));
}


std::optional<UniqueClash> RowSet::clash() {
  if (!in_event_) return std::nullopt;
  for (std::size_t j = 0; j < journal_.size(); ++j) {
    const std::size_t table = journal_[j].table;
    const std::string key = journal_[j].key;
    Table& t = tables_[table];
    for (std::size_t r = 0; r < t.unique.size(); ++r) {
      // Copied out: loading from the source below may move the rows in memory.
      auto it = t.rows.find(key);
      if (it == t.rows.end() || !it->second.row) break;
      const auto& columns = t.spec->unique[r];
      auto tuple = tuple_of(*it->second.row, columns);
      if (!tuple) continue;
      std::vector<Value> values;
      for (auto c : columns) values.push_back(it->second.row->values[c]);
      auto& index = t.unique[r];
      if ((source_ || record_) && !stored_holders_at_flush_ && !index.loaded.contains(*tuple)) {
        if (record_) {  // the real pass checks it, after a prefetch loaded its holders
          index.missed.emplace(*tuple, std::move(values));
          continue;
        }
        for (auto& row : source_->load_unique(table, columns, {values})) insert_loaded(t, std::move(row));
        index.loaded.insert(*tuple);
      }
      auto h = index.holders.find(*tuple);
      if (h == index.holders.end()) continue;
      for (const auto& holder : h->second) {
        if (holder.key != key) {
          return UniqueClash{.table = table, .rule = r, .values = std::move(values), .key = key, .position = position_,
                             .existing_key = holder.key, .existing_position = holder.since};
        }
      }
    }
  }
  return std::nullopt;
}


void RowSet::mark_dirty(Entry& e) { e.dirty = true; }

void RowSet::insert_loaded(Table& t, Row row) {
  auto [it, fresh] = t.rows.try_emplace(row.key());
  // What we hold is newer than what was loaded, also a row erased here and not yet deleted there.
  if (!fresh && (it->second.row || it->second.dirty)) return;
  index_row(t, row, Indexing::kAdd);
  if (!t.unique.empty()) reindex_unique(t, row.key(), nullptr, &row, 0);
  it->second.row = std::move(row);
  it->second.persisted = true;
}

void RowSet::warm_ahead(const std::vector<Event>& events, std::size_t i) const {
  // Eight events (~10 us of folding) is time enough for the slot to arrive, and soon enough not to
  // be evicted again. Fetching the row's values too, one step nearer, cost its own misses (a find).
  constexpr std::size_t kAhead = 8;
  if (i + kAhead >= events.size()) return;
  const std::string& key = events[i + kAhead].stream_id;
  for (const auto& t : tables_) {
    t.rows.prefetch(key);
    for (const auto& by_value : t.index) by_value.prefetch(key);
  }
}

void RowSet::load_persisted(std::size_t table, Row row) { insert_loaded(tables_.at(table), std::move(row)); }

const Row* RowSet::find(std::size_t table, const std::string& key) {
  Table& t = tables_.at(table);
  if (auto it = t.rows.find(key); it != t.rows.end()) return it->second.row ? &*it->second.row : nullptr;
  if (record_) {
    t.missed_keys.insert(key);
    return nullptr;
  }
  if (!source_) return nullptr;
  auto loaded = source_->load(table, {key});
  if (loaded.empty()) {
    t.rows.emplace(key, Entry{});  // remember the absence
    return nullptr;
  }
  insert_loaded(t, std::move(loaded.front()));
  return &*t.rows.at(key).row;
}

void RowSet::put(std::size_t table, Row row) {
  Table& t = tables_.at(table);
  if (row.values.size() != t.spec->columns.size() || !text_of(row.values[0])) {
    throw std::logic_error("row does not match table " + t.spec->name);
  }
  // A version names what the put changed: the row it replaces must be known, not just upserted.
  if (t.spec->history && !t.rows.contains(row.key())) find(table, row.key());
  remember(table, row.key());
  auto [it, fresh] = t.rows.try_emplace(row.key());
  Entry& e = it->second;
  // Most puts change no indexed column (a repaint never changes the buyer): skip the index then.
  bool reindex = !e.row || t.index.empty();
  for (std::size_t c = 0; !reindex && c < t.slot.size(); ++c) {
    reindex = t.slot[c] >= 0 && e.row->values[c] != row.values[c];
  }
  if (reindex && e.row) index_row(t, *e.row, Indexing::kRemove);
  if (reindex) index_row(t, row, Indexing::kAdd);
  if (!t.unique.empty()) reindex_unique(t, row.key(), e.row ? &*e.row : nullptr, &row, position_);
  e.row = std::move(row);
  mark_dirty(e);
}

void RowSet::update(std::size_t table, const std::string& key, const std::function<Row()>& make,
                    const std::function<void(Row&)>& change) {
  Table& t = tables_.at(table);
  auto it = t.rows.find(key);  // the fold's common case, a row held already: one lookup
  if (it == t.rows.end() && find(table, key)) it = t.rows.find(key);  // just loaded from the source
  if (it == t.rows.end() || !it->second.row) {  // absent (or unknown in record mode): change a new row
    Row row = make();
    change(row);
    put(table, std::move(row));
    return;
  }
  remember(table, key);  // (finds, never inserts: `it` stays valid)
  Entry& e = it->second;
  if (t.index.empty() && t.unique.empty()) {  // nothing to re-index: change the row where it is
    change(*e.row);
    mark_dirty(e);
    return;
  }
  if (!t.unique.empty()) {
    const Row old = *e.row;
    change(*e.row);
    index_row(t, old, Indexing::kRemove);
    index_row(t, *e.row, Indexing::kAdd);
    reindex_unique(t, key, &old, &*e.row, position_);
    mark_dirty(e);
    return;
  }
  absl::InlinedVector<Value, 2> before;  // the indexed columns, before the change
  for (std::size_t c = 0; c < t.slot.size(); ++c) {
    if (t.slot[c] >= 0) before.push_back(e.row->values[c]);
  }
  change(*e.row);
  bool reindex = false;
  for (std::size_t c = 0, i = 0; c < t.slot.size(); ++c) {
    if (t.slot[c] >= 0) reindex = reindex || before[i++] != e.row->values[c];
  }
  if (reindex) {  // the index is keyed by values: drop the old entries, add the new ones
    Row old = *e.row;
    for (std::size_t c = 0, i = 0; c < t.slot.size(); ++c) {
      if (t.slot[c] >= 0) old.values[c] = std::move(before[i++]);
    }
    index_row(t, old, Indexing::kRemove);
    index_row(t, *e.row, Indexing::kAdd);
  }
  mark_dirty(e);
}

void RowSet::update_where(std::size_t table, std::size_t column, const std::string& value,
                          const std::function<void(Row&)>& change) {
  Table& t = tables_.at(table);
  const int slot = t.slot.at(column);
  if (slot < 0) throw std::logic_error("update_where on a column that is not indexed in " + t.spec->name);
  const auto s = static_cast<std::size_t>(slot);
  if (!t.loaded_where[s].count(value)) {
    if (record_) {
      t.missed_where[s].insert(value);
    } else if (source_) {
      for (auto& row : source_->load_where(table, column, {value})) insert_loaded(t, std::move(row));
      t.loaded_where[s].insert(value);
    }
  }
  auto bucket = t.index[s].find(value);
  if (bucket == t.index[s].end()) return;
  const std::vector<std::string> keys(bucket->second.begin(), bucket->second.end());  // change() may re-index
  for (const auto& key : keys) {
    remember(table, key);
    Entry& e = t.rows.at(key);
    std::optional<Row> old;
    if (!t.unique.empty()) old = *e.row;
    index_row(t, *e.row, Indexing::kRemove);
    change(*e.row);
    index_row(t, *e.row, Indexing::kAdd);
    if (old) reindex_unique(t, key, &*old, &*e.row, position_);
    mark_dirty(e);
  }
}

void RowSet::erase(std::size_t table, const std::string& key) {
  Table& t = tables_.at(table);
  if (!find(table, key)) return;  // loads it when the source has it: a persisted row needs a DELETE
  remember(table, key);
  Entry& e = t.rows.at(key);
  index_row(t, *e.row, Indexing::kRemove);
  if (!t.unique.empty()) reindex_unique(t, key, &*e.row, nullptr, 0);
  e.row.reset();
  mark_dirty(e);
  // A row put without being loaded first (an upsert) may still be in the target: with a source,
  // only a DELETE is sure to remove it.
  if (source_) e.persisted = true;
}

void RowSet::prefetch(const RowSet& recorded) {
  if (!source_) return;
  for (std::size_t i = 0; i < tables_.size(); ++i) {
    Table& t = tables_[i];
    const Table& r = recorded.tables_.at(i);
    std::vector<std::string> keys;
    for (const auto& k : r.missed_keys) {
      if (!t.rows.count(k)) keys.push_back(k);
    }
    if (!keys.empty()) {
      for (auto& row : source_->load(i, keys)) insert_loaded(t, std::move(row));
      for (const auto& k : keys) t.rows.try_emplace(k);  // the rest are known absent
    }
    for (std::size_t s = 0; s < r.missed_where.size(); ++s) {
      std::vector<std::string> values;
      for (const auto& v : r.missed_where[s]) {
        if (!t.loaded_where[s].count(v)) values.push_back(v);
      }
      if (values.empty()) continue;
      for (auto& row : source_->load_where(i, t.spec->indexed[s], values)) insert_loaded(t, std::move(row));
      t.loaded_where[s].insert(values.begin(), values.end());
    }
    for (std::size_t u = 0; !stored_holders_at_flush_ && u < r.unique.size(); ++u) {
      std::vector<std::vector<Value>> tuples;
      for (const auto& [tuple, values] : r.unique[u].missed) {
        if (!t.unique[u].loaded.contains(tuple)) tuples.push_back(values);
      }
      if (tuples.empty()) continue;
      for (auto& row : source_->load_unique(i, t.spec->unique[u], tuples)) insert_loaded(t, std::move(row));
      for (const auto& [tuple, values] : r.unique[u].missed) t.unique[u].loaded.insert(tuple);
    }
  }
}

void RowSet::for_each_dirty(std::size_t table, const std::function<void(const Row&, bool)>& visit) const {
  for (const auto& [key, e] : tables_.at(table).rows) {
    if (e.dirty && e.row) visit(*e.row, e.persisted);
  }
}

void RowSet::for_each_erased(std::size_t table, const std::function<void(const std::string&)>& visit) const {
  for (const auto& [key, e] : tables_.at(table).rows) {
    if (e.dirty && e.persisted && !e.row) visit(key);
  }
}

void RowSet::for_each_row(std::size_t table, const std::function<void(const std::string&, const Row&)>& visit) const {
  for (const auto& [key, e] : tables_.at(table).rows) {
    if (e.row) visit(key, *e.row);
  }
}

void RowSet::mark_flushed() {
  for (auto& t : tables_) {
    for (auto& [key, e] : t.rows) {
      if (e.dirty) {
        e.dirty = false;
        e.persisted = e.row.has_value();  // an erased row is gone from the target now
      }
    }
  }
}

}  // namespace reproj::engine
