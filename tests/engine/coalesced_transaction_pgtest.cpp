// CoalescedTransaction: BEGIN and COMMIT sent with the statements beside them. What it must keep
// from libpqxx's work: nothing of a failed or abandoned transaction commits, the connection comes
// back ready for the next one, and a lost connection is not reopened behind the transaction.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "engine/detail/coalesced_transaction.hpp"
#include "tests/support/pg_fixture.hpp"

using namespace reproj;
using engine::detail::CoalescedTransaction;

namespace {

class CoalescedTransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pqxx::connection c{db_.url()};
    pqxx::work w{c};
    w.exec0("CREATE TABLE t (x int PRIMARY KEY)");
    w.commit();
  }

  std::vector<int> rows() {
    pqxx::connection c{db_.url()};
    pqxx::read_transaction r{c};
    std::vector<int> out;
    for (const auto& row : r.exec("SELECT x FROM t ORDER BY x")) out.push_back(row[0].as<int>());
    return out;
  }

  // Outside an explicit transaction a statement starts its own, so now() is its start.
  static bool idle_outside_a_transaction(pqxx::connection& conn) {
    pqxx::nontransaction n{conn};
    return n.exec1("SELECT now() = statement_timestamp()")[0].as<bool>();
  }

  test::TestDatabase db_;
};

TEST_F(CoalescedTransactionTest, CommitsWhatItBeganAndTheStatementReturnsItsRows) {
  pqxx::connection conn{db_.url()};
  {
    CoalescedTransaction ct{conn};
    EXPECT_EQ(ct.begin_with("SELECT 1; INSERT INTO t VALUES (1) RETURNING x").size(), 1u);
    ct.tx().exec0("INSERT INTO t VALUES (2)");
    const auto r = ct.exec_then_commit("INSERT INTO t VALUES (3), (4) RETURNING x");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[1][0].as<int>(), 4);
  }
  EXPECT_EQ(rows(), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_TRUE(idle_outside_a_transaction(conn));
}

// The point of it: one round trip each. pg_stat_activity shows a backend's last query string.
TEST_F(CoalescedTransactionTest, TheBeginAndTheCommitTravelInTheStringsBesideThem) {
  pqxx::connection conn{db_.url()};
  pqxx::connection admin{db_.url()};
  const auto last_query = [&] {
    pqxx::nontransaction n{admin};
    return n.exec1("SELECT query FROM pg_stat_activity WHERE pid = " + std::to_string(conn.backendpid()))[0]
        .as<std::string>();
  };
  CoalescedTransaction ct{conn};
  ct.begin_with("INSERT INTO t VALUES (1)");
  EXPECT_EQ(last_query(), "BEGIN; INSERT INTO t VALUES (1)");
  ct.exec_then_commit("INSERT INTO t VALUES (2) RETURNING x");
  const auto sent = last_query();
  EXPECT_NE(sent.find("INSERT INTO t VALUES (2) RETURNING x; COMMIT"), std::string::npos) << sent;
}

TEST_F(CoalescedTransactionTest, AStatementThatFailsBeforeTheCommitCommitsNothing) {
  pqxx::connection conn{db_.url()};
  {
    CoalescedTransaction ct{conn};
    ct.begin_with("INSERT INTO t VALUES (1)");
    ct.commit();
  }
  {
    CoalescedTransaction ct{conn};
    ct.begin_with("INSERT INTO t VALUES (2)");
    EXPECT_THROW(ct.exec_then_commit("INSERT INTO t VALUES (1) RETURNING x"), pqxx::unique_violation);
  }
  EXPECT_EQ(rows(), (std::vector<int>{1}));
  EXPECT_TRUE(idle_outside_a_transaction(conn));  // rolled back, not left aborted
}

TEST_F(CoalescedTransactionTest, AFailureInTheBeginningStringLeavesNothingOpen) {
  pqxx::connection conn{db_.url()};
  {
    CoalescedTransaction ct{conn};
    EXPECT_THROW(ct.begin_with("INSERT INTO t VALUES (1); SELECT 1/0; INSERT INTO t VALUES (2)"),
                 pqxx::data_exception);
  }
  EXPECT_EQ(rows(), std::vector<int>{});
  EXPECT_TRUE(idle_outside_a_transaction(conn));
}

TEST_F(CoalescedTransactionTest, OneLeftUncommittedRollsBack) {
  pqxx::connection conn{db_.url()};
  {
    CoalescedTransaction ct{conn};
    ct.begin_with("INSERT INTO t VALUES (1)");
  }
  EXPECT_EQ(rows(), std::vector<int>{});
  EXPECT_TRUE(idle_outside_a_transaction(conn));
}

// libpqxx 6.4 reopens a broken connection on its next statement; the statement after a lost BEGIN
// would then run on its own and commit. The loss must surface instead, with nothing committed.
TEST_F(CoalescedTransactionTest, ALostConnectionFailsTheTransactionInsteadOfReopening) {
  pqxx::connection conn{db_.url()};
  const auto pid = conn.backendpid();
  {
    CoalescedTransaction ct{conn};
    ct.begin_with("INSERT INTO t VALUES (1)");
    {
      pqxx::connection admin{db_.url()};
      pqxx::nontransaction n{admin};
      n.exec1("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
    }
    EXPECT_ANY_THROW(ct.exec_then_commit("INSERT INTO t VALUES (2) RETURNING x"));
  }
  EXPECT_FALSE(conn.is_open());
  EXPECT_EQ(rows(), std::vector<int>{});
}

}  // namespace
