#pragma once
// The renames at the heart of promote and rollback, done so that SQL readers of the projection
// tables notice nothing but the new rows: PostgreSQL binds views, grants, policies, publications,
// comments and triggers to a table's identity, not its name, so each is carried from the table a
// swap retires to the one it puts under that name (migrations/0004_sql_readers.sql does the work
// server-side, in the swap's transaction).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "engine/projection.hpp"
#include "engine/rebuild.hpp"

namespace reproj::engine::detail {

/// Throws IncompatibleDependents when replacing the live tables of `outgoing` by those of
/// `incoming` would break an object of a user: a view or policy using a column `incoming` drops or
/// retypes (views are let through with DependentViews::kDrop), a foreign key to a live table, a
/// view or publication reproj's role may not change. Reads the catalog only.
void check_dependents(pqxx::transaction_base& tx, const Projection& outgoing, const Projection& incoming,
                      DependentViews views);

/// check_dependents(), plus the swap's catalog reads done once ahead, so that the part under the
/// metadata-row lock finds PostgreSQL's caches warm. Call before taking that lock.
void prepare_swap(pqxx::transaction_base& tx, const Projection& outgoing, const Projection& incoming,
                  DependentViews views);

/// Renames the live tables of `outgoing` to `outgoing_to` and the tables `incoming_from` to the live
/// names of `incoming`, then carries over (see above) and re-points dependent views. The caller
/// holds the projection's metadata-row lock and commits. Throws IncompatibleDependents when a view
/// cannot read the new tables (and DependentViews::kRefuse); the transaction must then roll back.
void swap_tables(pqxx::transaction_base& tx, const Projection& outgoing, const std::vector<std::string>& outgoing_to,
                 const Projection& incoming, const std::vector<std::string>& incoming_from, DependentViews views);

/// Runs `attempt(n)` (one whole transaction; n counts from 1) again whenever it fails on a lock
/// timeout (SQLSTATE 55P03: a swap gives up its lock waits quickly, since readers queue behind a
/// waiting ACCESS EXCLUSIVE), backing off from 20 ms, doubling to 1 s, with jitter, for at most
/// `budget`; then throws LockTimeout naming `what`. Other errors propagate at once.
void retry_on_lock_timeout(std::chrono::milliseconds budget, std::string_view what,
                           const std::function<void(std::int64_t attempt)>& attempt);

/// SET LOCAL lock_timeout for the swap's transaction.
void set_lock_timeout(pqxx::transaction_base& tx, std::chrono::milliseconds timeout);


/// ALTER TABLE ... RENAME for each pair (names in the projection schema).
void rename_tables(pqxx::transaction_base& tx, const std::vector<std::string>& from, const std::vector<std::string>& to);

}  // namespace reproj::engine::detail
