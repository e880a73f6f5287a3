#pragma once
// A rebuild's shadow tables: how a replay writes, indexes, sizes and counts them. The rebuild
// runner decides when; these say how.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/detail/shadow_indexes.hpp"
#include "engine/projection.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine::detail {

/// How rewrite_shadow writes: bare UNLOGGED heaps in memory order (every checkpoint of a replay:
/// nothing reads them but a resume), or, at the replay's end, LOGGED heaps in key order so the
/// key's index builds from presorted input.
enum class ShadowWrite { kCheckpoint, kLastOfReplay };

/// Empties the shadow `tables` (dropping their indexes) and writes every row of `rows` with COPY.
/// Memory holds the whole projection during a replay, and writing the shadow anew beats upserting
/// most of its rows (measured ~5x per row).
void rewrite_shadow(pqxx::transaction_base& tx, const std::vector<TableSpec>& specs,
                    const std::vector<std::string>& tables, const RowSet& rows, ShadowWrite how);

/// Builds the indexes of shadow heaps written by kLastOfReplay side by side on sessions of their
/// own (largest table first, by `rows`); returns the statements that then attach the key and the
/// unique rules as constraints, to run in one transaction.
/// `tables` is the shadow's table_names() list: the keys of its histories are built too unless
/// `histories` is kBuiltElsewhere (history_key_build); their attach statements are returned either way.
enum class HistoryKeys { kBuild, kBuiltElsewhere };
std::vector<std::string> build_shadow_indexes(pqxx::connection& conn, const std::string& database_url,
                                              const Projection& projection, const std::vector<std::string>& tables,
                                              const RowSet& rows, const IndexBuild& how,
                                              HistoryKeys histories = HistoryKeys::kBuild);

/// The statements that build the keys of the shadow's histories (`tables` as above), the session's
/// settings first: what HistoryKeys::kBuiltElsewhere leaves to another session.
std::vector<std::string> history_key_build(pqxx::connection& conn, const Projection& projection,
                                           const std::vector<std::string>& tables, const IndexBuild& how);

/// Indexes the shadow for reads by key and indexed column (a spilled fold reads its rows back):
/// a bare heap from scratch, a keyed table its secondary indexes.
void index_for_reads(pqxx::transaction_base& tx, const std::vector<TableSpec>& specs,
                     const std::vector<std::string>& tables);

/// The shadow's size on disk, in bytes.
std::size_t shadow_bytes(pqxx::transaction_base& tx, const std::vector<std::string>& tables);
/// Rows in the shadow, all tables together.
std::int64_t shadow_rows(pqxx::transaction_base& tx, const std::vector<std::string>& tables);

}  // namespace reproj::engine::detail
