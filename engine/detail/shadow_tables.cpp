#include "engine/detail/shadow_tables.hpp"

#include <algorithm>
#include <cstring>
#include <future>

#include "engine/detail/history_sql.hpp"
#include "engine/detail/shadow_indexes.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"

namespace reproj::engine::detail {

namespace {

std::vector<const Row*> in_memory_order(const RowSet& rows, std::size_t i) {
  std::vector<const Row*> out;
  out.reserve(rows.size(i));
  rows.for_each_row(i, [&](const std::string&, const Row& r) { out.push_back(&r); });
  return out;
}

// The rows of table i in key order: the primary key then builds from presorted input, ~2x
// faster for the 220k cars of the 1M-event bench (byte order is the C collation's; under another
// collation the input is merely less sorted). Sorted by a 16-byte prefix held inline, so most
// comparisons touch no row (sorting the pointers by key cost more than it saved), and the
// prefixes come from the set's keys, read in memory order (from the rows, a cache miss each:
// the last checkpoint at 10M events waited ~570 ms for its sort then, ~360 ms now).
std::vector<const Row*> in_key_order(const RowSet& rows, std::size_t i) {
  struct Keyed {
    std::uint64_t hi = 0, lo = 0;  // the key's first 16 bytes, big-endian, zero-padded
    const Row* row;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(rows.size(i));
  rows.for_each_row(i, [&](const std::string& key, const Row& r) {
    unsigned char b[16] = {};
    std::memcpy(b, key.data(), std::min<std::size_t>(key.size(), sizeof b));
    Keyed k{0, 0, &r};
    for (int j = 0; j < 8; ++j) {
      k.hi = k.hi << 8 | b[j];
      k.lo = k.lo << 8 | b[j + 8];
    }
    keyed.push_back(k);
  });
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    if (a.hi != b.hi) return a.hi < b.hi;
    if (a.lo != b.lo) return a.lo < b.lo;
    return a.row->key() < b.row->key();
  });
  std::vector<const Row*> out;
  out.reserve(keyed.size());
  for (const auto& k : keyed) out.push_back(k.row);
  return out;
}

bool has_primary_key(pqxx::transaction_base& tx, const std::string& table) {
  return tx.exec_params1("SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p')",
                         qualified(tx, table))[0]
      .as<bool>();
}

}  // namespace

// No key, no sort on a checkpoint's heaps (at 10M events keys and ordering took ~40% of those
// checkpoints). The last one makes the emptied table LOGGED before its COPY, so the rows are
// written once, not again by SET LOGGED.
void rewrite_shadow(pqxx::transaction_base& tx, const std::vector<TableSpec>& specs,
                    const std::vector<std::string>& tables, const RowSet& rows, ShadowWrite how) {
  // Every table is put in order on its own thread meanwhile (memory is only read here).
  std::vector<std::future<std::vector<const Row*>>> ordered;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    ordered.push_back(std::async(std::launch::async, [&rows, i, how] {
      return how == ShadowWrite::kLastOfReplay ? in_key_order(rows, i) : in_memory_order(rows, i);
    }));
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto table = qualified(tx, tables[i]);
    tx.exec0("TRUNCATE " + table);
    drop_indexes(tx, tables[i]);
    if (how == ShadowWrite::kLastOfReplay) tx.exec0("ALTER TABLE " + table + " SET LOGGED");
    copy_rows(tx, specs[i], tables[i], ordered[i].get());
  }
}

std::vector<std::string> build_shadow_indexes(pqxx::connection& conn, const std::string& database_url,
                                              const Projection& projection, const std::vector<std::string>& tables,
                                              const RowSet& rows, const IndexBuild& how, HistoryKeys histories) {
  const auto& specs = projection.tables();
  std::vector<std::size_t> order(specs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return rows.size(a) > rows.size(b); });
  std::vector<std::string> build, attach;
  {
    pqxx::read_transaction tx{conn};
    for (auto i : order) {
      auto plan = index_plan(tx, specs[i], tables[i], KeyIndex::kBuild);
      build.insert(build.end(), plan.build.begin(), plan.build.end());
      attach.insert(attach.end(), plan.attach.begin(), plan.attach.end());
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {  // a history holds about a row per event: first
      if (auto h = history_of(projection, i)) {
        auto plan = history_index_plan(tx, specs[i], tables.at(*h));
        if (histories == HistoryKeys::kBuild) build.insert(build.begin(), plan.build.begin(), plan.build.end());
        attach.insert(attach.end(), plan.attach.begin(), plan.attach.end());
      }
    }
  }
  build_side_by_side(database_url, build, how);
  return attach;
}

std::vector<std::string> history_key_build(pqxx::connection& conn, const Projection& projection,
                                           const std::vector<std::string>& tables, const IndexBuild& how) {
  auto out = index_session_settings(how);
  pqxx::read_transaction tx{conn};
  for (std::size_t i = 0; i < projection.tables().size(); ++i) {
    if (auto h = history_of(projection, i)) {
      const auto plan = history_index_plan(tx, projection.tables()[i], tables.at(*h));
      out.insert(out.end(), plan.build.begin(), plan.build.end());
    }
  }
  return out;
}

void index_for_reads(pqxx::transaction_base& tx, const std::vector<TableSpec>& specs,
                     const std::vector<std::string>& tables) {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (!has_primary_key(tx, tables[i])) {
      // A replaying checkpoint's bare heap, maybe holding indexes an interrupted end of the
      // replay built but never attached: index it from scratch.
      drop_indexes(tx, tables[i]);
      create_indexes(tx, specs[i], tables[i], KeyIndex::kBuild);
      continue;
    }
    const auto indexes =
        tx.exec_params1("SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass", qualified(tx, tables[i]))[0]
            .as<int>();
    if (indexes <= 1) create_indexes(tx, specs[i], tables[i]);  // only the key's so far
  }
}

std::size_t shadow_bytes(pqxx::transaction_base& tx, const std::vector<std::string>& tables) {
  std::int64_t bytes = 0;
  for (const auto& t : tables) {
    bytes += tx.exec_params1("SELECT pg_table_size($1::regclass)", qualified(tx, t))[0].as<std::int64_t>();
  }
  return static_cast<std::size_t>(bytes);
}

std::int64_t shadow_rows(pqxx::transaction_base& tx, const std::vector<std::string>& tables) {
  std::int64_t rows = 0;
  for (const auto& t : tables) rows += tx.exec1("SELECT count(*) FROM " + qualified(tx, t))[0].as<std::int64_t>();
  return rows;
}

}  // namespace reproj::engine::detail
