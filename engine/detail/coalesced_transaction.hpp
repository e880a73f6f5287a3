#pragma once
// A transaction whose BEGIN and COMMIT travel with the statements beside them. libpqxx 6.4's work
// sends each in a round trip of its own, and an append group holds the log's lock across all of
// its round trips: every one saved is time each waiting appender waits less (BENCH.md, "Fewer
// round trips per append group").

#include <string>

#include <pqxx/pqxx>

namespace reproj::engine::detail {

class CoalescedTransaction {
 public:
  /// Sends nothing: the transaction starts with begin_with().
  explicit CoalescedTransaction(pqxx::connection& conn) : tx_(conn) {}
  /// Rolls back a transaction begun and not committed, unless the connection broke (the pool
  /// drops a broken one). Errors of the rollback are swallowed: the connection then is not open.
  ~CoalescedTransaction();
  CoalescedTransaction(const CoalescedTransaction&) = delete;
  CoalescedTransaction& operator=(const CoalescedTransaction&) = delete;

  /// BEGIN and `sql` (one or more statements) in one round trip: the last statement's result, or
  /// the first failing statement's error (the rest do not run; the transaction stays to roll back).
  pqxx::result begin_with(const std::string& sql);

  /// Statements between begin_with() and a commit. Not valid after either commit.
  pqxx::transaction_base& tx() { return tx_; }

  /// `sql` (one statement) and COMMIT in one round trip: `sql`'s result. When `sql` fails its
  /// error is thrown and nothing commits; when COMMIT fails, its error.
  pqxx::result exec_then_commit(const std::string& sql);

  void commit();

 private:
  pqxx::nontransaction tx_;  // sends statements as they are: BEGIN and COMMIT are ours to send
  bool open_ = false;        // begun, and neither committed nor known to be over
};

}  // namespace reproj::engine::detail
