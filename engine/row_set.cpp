#include "engine/row_set.hpp"

#include <stdexcept>

#include <absl/container/inlined_vector.h>

namespace reproj::engine {

namespace {
const std::string* text_of(const Value& v) { return std::get_if<std::string>(&v); }
}  // namespace

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
    tables_.push_back(std::move(t));
  }
}

void RowSet::index_row(Table& t, const Row& row, bool add) {
  for (std::size_t c = 0; c < t.slot.size(); ++c) {
    if (t.slot[c] < 0) continue;
    const std::string* v = text_of(row.values[c]);
    if (!v) continue;
    auto& bucket = t.index[static_cast<std::size_t>(t.slot[c])];
    if (add) {
      bucket[*v].insert(row.key());
    } else if (auto it = bucket.find(*v); it != bucket.end()) {
      it->second.erase(row.key());
      if (it->second.empty()) bucket.erase(it);
    }
  }
}

void RowSet::mark_dirty(Entry& e) { e.dirty = true; }

void RowSet::insert_loaded(Table& t, Row row) {
  auto [it, fresh] = t.rows.try_emplace(row.key());
  if (!fresh && it->second.row) return;  // what we hold is newer than what was loaded
  index_row(t, row, true);
  it->second.row = std::move(row);
  it->second.persisted = true;
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
  auto [it, fresh] = t.rows.try_emplace(row.key());
  Entry& e = it->second;
  // Most puts change no indexed column (a repaint never changes the buyer): skip the index then.
  bool reindex = !e.row || t.index.empty();
  for (std::size_t c = 0; !reindex && c < t.slot.size(); ++c) {
    reindex = t.slot[c] >= 0 && e.row->values[c] != row.values[c];
  }
  if (reindex && e.row) index_row(t, *e.row, false);
  if (reindex) index_row(t, row, true);
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
  Entry& e = it->second;
  if (t.index.empty()) {  // nothing to re-index: change the row where it is
    change(*e.row);
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
    index_row(t, old, false);
    index_row(t, *e.row, true);
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
    Entry& e = t.rows.at(key);
    index_row(t, *e.row, false);
    change(*e.row);
    index_row(t, *e.row, true);
    mark_dirty(e);
  }
}

void RowSet::erase(std::size_t table, const std::string& key) {
  Table& t = tables_.at(table);
  if (!find(table, key)) return;  // loads it when the source has it: a persisted row needs a DELETE
  Entry& e = t.rows.at(key);
  index_row(t, *e.row, false);
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

void RowSet::for_each_row(std::size_t table, const std::function<void(const Row&)>& visit) const {
  for (const auto& [key, e] : tables_.at(table).rows) {
    if (e.row) visit(*e.row);
  }
}

std::size_t RowSet::dirty_persisted(std::size_t table) const {
  std::size_t n = 0;
  for (const auto& [key, e] : tables_.at(table).rows) n += e.dirty && e.persisted && e.row ? 1u : 0u;
  return n;
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
