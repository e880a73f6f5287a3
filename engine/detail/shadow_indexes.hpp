#pragma once
// Indexing a shadow written as bare heaps at the end of its replay. The index builds are
// independent sorts, each bound to one core of PostgreSQL: run side by side on their own
// sessions, the last checkpoint of a 10M-event replay took ~1.5 s less than building them one
// after another in its transaction (BENCH.md). The key and the unique rules then become
// constraints over the built indexes, which costs no scan.

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/projection.hpp"

namespace reproj::engine::detail {

struct IndexPlan {
  std::vector<std::string> build;   // CREATE INDEX statements, any order, each its own transaction
  std::vector<std::string> attach;  // then, in one transaction: the constraints over them
};

/// What indexes `physical`, a heap holding `spec`'s rows: its primary key, the columns
/// update_where looks rows up by, and the unique rules (deferrable, as create_indexes makes them).
IndexPlan index_plan(pqxx::transaction_base& tx, const TableSpec& spec, const std::string& physical);

/// Drops every constraint and index of `physical` (a shadow about to be rewritten, which may hold
/// the indexes of an attempt that died before attaching them).
void drop_indexes(pqxx::transaction_base& tx, const std::string& physical);

/// Runs `statements` (the largest first) on up to `sessions` new connections at once, each with
/// max_parallel_maintenance_workers = `workers`. Throws the first error after all have stopped.
void build_side_by_side(const std::string& database_url, const std::vector<std::string>& statements, int sessions,
                        int workers);

}  // namespace reproj::engine::detail
