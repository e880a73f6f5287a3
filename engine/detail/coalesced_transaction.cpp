#include "engine/detail/coalesced_transaction.hpp"

namespace reproj::engine::detail {

CoalescedTransaction::~CoalescedTransaction() {
  if (!open_ || !tx_.conn().is_open()) return;
  try {
    tx_.exec0("ROLLBACK");
  } catch (...) {  // a connection that cannot roll back is broken: the pool will not hand it out
  }
}

pqxx::result CoalescedTransaction::begin_with(const std::string& sql) {
  open_ = true;
  return tx_.exec("BEGIN; " + sql);
}

pqxx::result CoalescedTransaction::exec_then_commit(const std::string& sql) {
  pqxx::pipeline pipe{tx_};
  pipe.retain(2);  // both queries in one string, sent by complete()
  const auto statement = pipe.insert(sql);
  const auto commit = pipe.insert("COMMIT");
  // Reads every result the server sends: a failed statement skips the COMMIT (and it stays for
  // the destructor to roll back), and nothing is left pending for the pipeline to cancel.
  pipe.complete();
  auto rows = pipe.retrieve(statement);
  pipe.retrieve(commit);
  open_ = false;
  tx_.commit();  // the nontransaction's bookkeeping only: it sends nothing
  return rows;
}

void CoalescedTransaction::commit() {
  tx_.exec0("COMMIT");
  open_ = false;
  tx_.commit();
}

}  // namespace reproj::engine::detail
