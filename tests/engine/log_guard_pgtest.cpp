// Raw SQL writers against the log's guarantees (issue 14, item 1): a position not drawn under the
// append lock is refused, and session_replication_role = replica silences none of the triggers.
#include <chrono>
#include <future>
#include <sstream>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/event_store.hpp"
#include "engine/migrations.hpp"
#include "tests/support/pg_fixture.hpp"

using namespace reproj;

namespace {

constexpr const char* kInsert =
    "INSERT INTO reproj.events (event_id, stream_id, stream_version, event_type, data) "
    "VALUES ($1, $1, 1, 'thing.happened', '{}')";
constexpr const char* kInsertAt =
    "INSERT INTO reproj.events (global_position, event_id, stream_id, stream_version, event_type, data) "
    "OVERRIDING SYSTEM VALUE VALUES ($2, $1, $1, 1, 'thing.happened', '{}')";

std::int64_t scalar(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx{c};
  return tx.exec1(sql)[0].as<std::int64_t>();
}

void append(pqxx::connection& c, const std::string& id) {
  pqxx::work tx{c};
  tx.exec_params(kInsert, id);
  tx.commit();
}

// Runs `sql` (with `id`, `position`) in its own transaction; true if PostgreSQL accepted it.
bool accepted(pqxx::connection& c, const char* sql, const std::string& id, std::int64_t position) {
  try {
    pqxx::work tx{c};
    tx.exec_params(sql, id, position);
    tx.commit();
    return true;
  } catch (const pqxx::sql_error&) {
    return false;
  }
}

class LogGuardTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    conn_ = std::make_unique<pqxx::connection>(db_->url());
    for (int i = 1; i <= 5; ++i) append(*conn_, "e" + std::to_string(i));
  }
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace

TEST_F(LogGuardTest, APositionBelowTheTailIsRefused) {
  // A hole below the tail (e.g. left by a rolled-back append) must stay empty: live readers are past it.
  {
    pqxx::work tx{*conn_};
    tx.exec_params(kInsert, "rolled-back");
    tx.abort();
  }
  append(*conn_, "e6");
  const auto hole = scalar(*conn_, "SELECT max(global_position) - 1 FROM reproj.events");
  EXPECT_FALSE(accepted(*conn_, kInsertAt, "late", hole)) << "an event was inserted below the tail at " << hole;
  EXPECT_EQ(scalar(*conn_, "SELECT count(*) FROM reproj.events"), 6);
}

TEST_F(LogGuardTest, APositionAboveWhatTheSequenceDrewIsRefused) {
  const auto tail = scalar(*conn_, "SELECT max(global_position) FROM reproj.events");
  EXPECT_FALSE(accepted(*conn_, kInsertAt, "future", tail + 1'000'000));
  EXPECT_FALSE(accepted(*conn_, kInsertAt, "next", tail + 1)) << "a position the sequence never handed out";
  append(*conn_, "after");  // the next ordinary append lands above the tail
  EXPECT_GT(scalar(*conn_, "SELECT global_position FROM reproj.events WHERE event_id = 'after'"), tail);
}

TEST_F(LogGuardTest, APositionDrawnBeforeTheLockIsRefused) {
  // Drawn, then another append commits above it, then inserted: it would land below the tail.
  const auto early = scalar(*conn_, "SELECT nextval('reproj.events_global_position_seq')");
  append(*conn_, "meanwhile");
  EXPECT_FALSE(accepted(*conn_, kInsertAt, "stale", early));
  // Even with nothing committed meanwhile, a value drawn outside the lock is not one drawn under it.
  const auto again = scalar(*conn_, "SELECT nextval('reproj.events_global_position_seq')");
  EXPECT_FALSE(accepted(*conn_, kInsertAt, "stale2", again));
}

TEST_F(LogGuardTest, OrdinaryWritersStillWork) {
  engine::ConnectionPool pool{db_->url(), 2};
  engine::EventStore store{pool};
  auto r = store.append("s", engine::ExpectedVersion::any(), {{std::nullopt, "a", {{"n", 1}}, {}}, {std::nullopt, "b", {}, {}}});
  EXPECT_EQ(r.last_position, r.first_position + 1);
  {
    pqxx::work tx{*conn_};  // several statements and a multi-row insert in one transaction
    tx.exec_params(kInsert, "m1");
    tx.exec("INSERT INTO reproj.events (event_id, stream_id, stream_version, event_type, data) "
            "SELECT 'm' || g, 'm' || g, 1, 't', '{}' FROM generate_series(2, 50) g");
    tx.exec_params(kInsert, "m51");
    tx.commit();
  }
  std::istringstream ndjson{R"({"stream_id": "i", "type": "t", "data": {}})" "\n"
                            R"({"stream_id": "i", "type": "t", "data": {}})" "\n"};
  EXPECT_EQ(store.import_ndjson(ndjson).events, 2);
  EXPECT_EQ(scalar(*conn_, "SELECT count(*) FROM reproj.events"), 5 + 2 + 51 + 2);
}

TEST_F(LogGuardTest, ReplicaRoleSilencesNoTrigger) {
  pqxx::connection replica{db_->url()};
  pqxx::nontransaction{replica}.exec("SET session_replication_role = replica");
  EXPECT_FALSE(accepted(replica, "UPDATE reproj.events SET event_type = $1 WHERE global_position = $2", "x", 1))
      << "UPDATE passed under session_replication_role = replica";
  EXPECT_FALSE(accepted(replica, "DELETE FROM reproj.events WHERE event_id = $1 OR global_position = $2", "e1", 1));
  const auto tail = scalar(replica, "SELECT max(global_position) FROM reproj.events");
  EXPECT_FALSE(accepted(replica, kInsertAt, "future", tail + 10));

  // Appends are still serialized: while an ordinary append holds the lock, a replica-role insert waits.
  pqxx::work holder{*conn_};
  holder.exec_params(kInsert, "holding");
  auto waiter = std::async(std::launch::async, [&] {
    pqxx::work tx{replica};
    tx.exec("SET LOCAL lock_timeout = '300ms'");
    tx.exec_params(kInsert, "replica-insert");
    tx.commit();
  });
  EXPECT_THROW(waiter.get(), pqxx::sql_error) << "a replica-role insert did not wait for the append lock";
  holder.abort();
  EXPECT_EQ(scalar(*conn_, "SELECT count(*) FROM reproj.events"), 5);
}
