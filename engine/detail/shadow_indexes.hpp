#pragma once
// Indexing a shadow written as bare heaps at the end of its replay. The index builds are
// independent sorts, each bound to one core of PostgreSQL: run side by side on their own
// sessions, the index step at the end of a 10M-event replay took 1.7-2.4 s instead of 3.0-3.3 s
// one after another (BENCH.md). The statements are table_sql.hpp's index_plan: the
// key and the unique rules then become constraints over the built indexes, which costs no scan.

#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace reproj::engine::detail {

/// Drops every constraint and index of `physical` (a shadow about to be rewritten, which may hold
/// the indexes of an attempt that died before attaching them).
void drop_indexes(pqxx::transaction_base& tx, const std::string& physical);

/// How a shadow's indexes are built (RebuildOptions' index_build_*).
struct IndexBuild {
  int sessions = 2;    // side by side
  int workers = 0;     // max_parallel_maintenance_workers of each
  int memory_mib = 2;  // maintenance_work_mem of each (with workers, at least the 32 MB per
                       // participant PostgreSQL needs to use them)
};

/// The SET statements that give a session `how`'s workers and memory.
std::vector<std::string> index_session_settings(const IndexBuild& how);

/// Runs `statements` in the order given (put the largest first) on up to `how.sessions` new
/// connections at once, each with index_session_settings. Throws the first error after all have
/// stopped.
void build_side_by_side(const std::string& database_url, const std::vector<std::string>& statements,
                        const IndexBuild& how);

}  // namespace reproj::engine::detail
