#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "engine/projection.hpp"

namespace reproj::engine {

/// Where a RowSet finds rows it has not seen yet (the live tables). A rebuild into an empty shadow
/// has none: its memory is the whole truth.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual std::vector<Row> load(std::size_t table, const std::vector<std::string>& keys) = 0;
  virtual std::vector<Row> load_where(std::size_t table, std::size_t column,
                                      const std::vector<std::string>& values) = 0;
};

/// The one Sink: an in-memory overlay of a projection's tables that remembers which rows changed.
/// Live appliers give it a RowSource and flush the dirty rows with one upsert per table; a rebuild
/// gives it none and flushes with COPY. Not thread-safe.
class RowSet final : public Sink {
 public:
  /// `source` may be null (memory is authoritative). `record` makes find/update_where misses be
  /// remembered instead of loaded: a speculative first pass that learns which rows to prefetch.
  RowSet(const std::vector<TableSpec>& tables, RowSource* source, bool record = false);

  const Row* find(std::size_t table, const std::string& key) override;
  void put(std::size_t table, Row row) override;
  void update(std::size_t table, const std::string& key, const std::function<Row()>& make,
              const std::function<void(Row&)>& change) override;
  void update_where(std::size_t table, std::size_t column, const std::string& value,
                    const std::function<void(Row&)>& change) override;
  void erase(std::size_t table, const std::string& key) override;

  /// Loads, in one call to the source per table, what a recording RowSet missed.
  void prefetch(const RowSet& recorded);

  /// Calls `visit(row, persisted)` for each changed row of `table`; persisted rows came from (or
  /// were already flushed to) the target table, so they need an upsert rather than an insert.
  void for_each_dirty(std::size_t table, const std::function<void(const Row&, bool persisted)>& visit) const;
  /// Calls `visit(key)` for each row of `table` erased since it was persisted (it needs a DELETE).
  void for_each_erased(std::size_t table, const std::function<void(const std::string& key)>& visit) const;
  /// Calls `visit` for every present row of `table`.
  void for_each_row(std::size_t table, const std::function<void(const Row&)>& visit) const;
  /// Changed rows of `table` that were already persisted (they need an upsert).
  std::size_t dirty_persisted(std::size_t table) const;
  /// After a flush: every row is now persisted and clean.
  void mark_flushed();
  std::size_t size(std::size_t table) const { return tables_[table].rows.size(); }
  /// Adds a row known to be in the target table already (a resumed rebuild reloading its shadow).
  void load_persisted(std::size_t table, Row row);

 private:
  struct Entry {
    std::optional<Row> row;  // nullopt: known absent (erased, when dirty and persisted)
    bool dirty = false;
    bool persisted = false;
  };
  struct Table {
    const TableSpec* spec;
    // Open addressing with keys and entries inline: a lookup is one or two cache misses rather than
    // a bucket, a node and a row (the rebuild's fold is bound by these lookups).
    absl::flat_hash_map<std::string, Entry> rows;
    std::vector<int> slot;  // column -> index into `index`, or -1
    std::vector<absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>> index;
    std::vector<absl::flat_hash_set<std::string>> loaded_where;  // per slot: values fully loaded
    std::set<std::string> missed_keys;                          // record mode
    std::vector<std::set<std::string>> missed_where;            // record mode, per slot
  };
  void index_row(Table& t, const Row& row, bool add);
  void insert_loaded(Table& t, Row row);
  void mark_dirty(Entry& e);

  std::vector<Table> tables_;
  RowSource* source_;
  bool record_;
};

}  // namespace reproj::engine
