#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/container/inlined_vector.h>

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
  /// The rows whose `columns` equal one of `tuples` (values in `columns` order, none NULL).
  virtual std::vector<Row> load_unique(std::size_t table, const std::vector<std::size_t>& columns,
                                       const std::vector<std::vector<Value>>& tuples);
};

/// Two rows sharing a unique value, found after an event (RowSet::clash()).
struct UniqueClash {
  std::size_t table = 0;
  std::size_t rule = 0;  // index into TableSpec::unique
  std::vector<Value> values;
  std::string key;           // the row the event changed
  std::int64_t position = 0;  // the event's
  std::string existing_key;
  std::int64_t existing_position = 0;  // when the holder got the value (0: it came from the source)
};

/// One change of a row of a table keeping history (TableSpec::history), made by the event at
/// `position`: the row after it (nullopt: deleted). What the event changed is the difference from
/// the key's previous version, so it is not kept twice.
struct RowVersion {
  std::size_t table = 0;
  std::string key;
  std::int64_t position = 0;
  std::optional<Row> row;
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

  /// Unique rules (TableSpec::unique) hold after every event, so an outcome never depends on how
  /// events are batched: begin_event() before an event is applied, clash() after it (loading from
  /// the source who holds the values the event wrote), undo_event() to revert what the event
  /// changed when it must not count. No-ops without unique rules. In record mode clash() only
  /// records the values to prefetch.
  void begin_event(std::int64_t position);
  std::optional<UniqueClash> clash();
  void undo_event();
  /// Seals the event begun last (begin_event() seals the one before it): each row it changed in a
  /// table keeping history becomes a RowVersion. Every event must be begun for its history to be
  /// kept; an undone event leaves none.
  void end_event();
  /// The versions sealed since the last call, in event order (the writer of the rows' flush
  /// writes them in the same transaction). Seals the current event first.
  std::vector<RowVersion> take_versions();
  bool keeps_history() const { return keeps_history_; }
  /// clash() then checks against the rows in memory only, and prefetch() loads no holders: the
  /// caller checks the stored rows as it writes (flush with check_unique_at). Right for one event,
  /// where the state after the event is all a verdict needs; a batch needs holders per event.
  void check_stored_holders_at_flush() { stored_holders_at_flush_ = true; }

  /// A fold is bound by cache misses on the rows it looks up, one event after the other (BENCH.md:
  /// "Folding ahead"). Called before events[i] is applied, this starts loading the table slots that
  /// events[i + 8] will likely look up: those keyed by its stream id, the common case of an
  /// event-sourced projection (other keys miss as before), so the miss overlaps the folding in
  /// between instead of stalling it. Changes nothing; a hint only.
  void warm_ahead(const std::vector<Event>& events, std::size_t i) const;

  /// Loads, in one call to the source per table, what a recording RowSet missed.
  void prefetch(const RowSet& recorded);

  /// Calls `visit(row, persisted)` for each changed row of `table`; persisted rows came from (or
  /// were already flushed to) the target table, so they need an upsert rather than an insert.
  void for_each_dirty(std::size_t table, const std::function<void(const Row&, bool persisted)>& visit) const;
  /// Calls `visit(key)` for each row of `table` erased since it was persisted (it needs a DELETE).
  void for_each_erased(std::size_t table, const std::function<void(const std::string& key)>& visit) const;
  /// Calls `visit(key, row)` for every present row of `table`, in memory order. The key is the
  /// set's own copy, next to the row's entry: reading it touches no row.
  void for_each_row(std::size_t table, const std::function<void(const std::string& key, const Row&)>& visit) const;
  /// After a flush: every row is now persisted and clean.
  void mark_flushed();
  std::size_t size(std::size_t table) const { return tables_[table].rows.size(); }  // erased ones too
  /// The rows of `table` present (not erased): what a rewrite of the shadow writes. O(rows).
  std::size_t present(std::size_t table) const;
  /// Adds a row known to be in the target table already (a resumed rebuild reloading its shadow).
  void load_persisted(std::size_t table, Row row);

  /// About how much memory the rows and their indexes take (from a sample of each table's rows):
  /// what a rebuild's memory budget is checked against.
  std::size_t approx_bytes() const;
  /// Forgets every row (none may be dirty: flush and mark_flushed() first); misses then go to the
  /// source. A rebuild over its memory budget evicts this way after a checkpoint.
  void evict();
  /// Where misses are loaded from from now on (null: nowhere, memory is authoritative).
  void set_source(RowSource* source) { source_ = source; }

 private:
  struct Entry {
    std::optional<Row> row;  // nullopt: known absent (erased, when dirty and persisted)
    bool dirty = false;
    bool persisted = false;
  };
  struct Holder {
    std::string key;
    std::int64_t since = 0;  // position of the event that gave the row the value
  };
  struct UniqueIndex {
    // By encoded tuple. More than one holder only between an event and its clash() or undo.
    absl::flat_hash_map<std::string, absl::InlinedVector<Holder, 1>> holders;
    absl::flat_hash_set<std::string> loaded;              // tuples whose holders came from the source
    std::map<std::string, std::vector<Value>> missed;     // record mode
  };
  struct Table {
    const TableSpec* spec;
    std::vector<UniqueIndex> unique;  // per TableSpec::unique rule
    // Open addressing with keys and entries inline: a lookup is one or two cache misses rather than
    // a bucket, a node and a row (the rebuild's fold is bound by these lookups).
    absl::flat_hash_map<std::string, Entry> rows;
    std::vector<int> slot;  // column -> index into `index`, or -1
    std::vector<absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>> index;
    std::vector<absl::flat_hash_set<std::string>> loaded_where;  // per slot: values fully loaded
    std::set<std::string> missed_keys;                          // record mode
    std::vector<std::set<std::string>> missed_where;            // record mode, per slot
  };
  // What an event changed, to undo it: each row as it was before the event first touched it.
  struct Undo {
    std::size_t table;
    std::string key;
    bool existed;  // the entry was in memory (else undo forgets it again)
    Entry before;
    std::vector<std::int64_t> since;  // per unique rule, the before row's holder position
  };
  enum class Indexing { kRemove, kAdd };
  void index_row(Table& t, const Row& row, Indexing how);
  // Moves `key` between holders of each rule whose value differs between `before` and `after`.
  void reindex_unique(Table& t, const std::string& key, const Row* before, const Row* after, std::int64_t since,
                      const std::vector<std::int64_t>* since_per_rule = nullptr);
  void remember(std::size_t table, const std::string& key);
  void insert_loaded(Table& t, Row row);
  void mark_dirty(Entry& e);

  std::vector<Table> tables_;
  RowSource* source_;
  bool record_;
  bool checks_unique_ = false;  // some table has a unique rule
  bool keeps_history_ = false;  // some table keeps history (never in record mode)
  std::vector<RowVersion> versions_;
  bool stored_holders_at_flush_ = false;
  bool in_event_ = false;
  std::int64_t position_ = 0;
  std::vector<Undo> journal_;
  absl::flat_hash_set<std::string> touched_;  // table index and key of each journal entry
};

}  // namespace reproj::engine
