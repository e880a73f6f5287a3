// The spec twins of cars v2 and customers v1 (projections/specs/) through the real engine: random
// logs folded live in small batches and rebuilt in place, each compared with the independent
// oracle (issue 15: "live and rebuilt"; tests/projections/spec_equivalence_test.cpp compares 200
// logs in memory with the C++ versions).
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/detail/connect.hpp"
#include "engine/rebuild.hpp"
#include "engine/spec/spec_projection.hpp"
#include "tests/support/live_fixture.hpp"
#include "tests/support/new_event.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;

namespace {

// A spec file of projections/specs registered as another version of its projection.
std::unique_ptr<engine::Projection> twin(const std::string& file, int as_version) {
  std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/projections/specs/" + file};
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::ordered_json::parse(text.str());
  doc["version"] = as_version;
  auto compiled = engine::spec::compile(doc.dump());
  return std::move(std::get<std::unique_ptr<engine::spec::SpecProjection>>(compiled));
}

class SpecTwinsTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    projections::register_all(registry_);
    registry_.add(twin("cars_v2.json", 4));
    registry_.add(twin("customers_v1.json", 4));
    store_ = std::make_unique<engine::EventStore>(*pool_);
    live_ = std::make_unique<engine::LiveProjections>(*pool_, registry_);
    live_->ensure("cars", 4);
    live_->ensure("customers", 4);
  }
  engine::ProjectionRegistry registry_;
  std::unique_ptr<engine::EventStore> store_;
  std::unique_ptr<engine::LiveProjections> live_;
};

::testing::AssertionResult customers_match(const std::vector<engine::Row>& rows, const test::Oracle& oracle) {
  if (rows.size() != oracle.customers().size()) {
    return ::testing::AssertionFailure() << rows.size() << " customers, the fold has " << oracle.customers().size();
  }
  for (const auto& row : rows) {
    auto it = oracle.customers().find(row.key());
    if (it == oracle.customers().end() || row.values[1] != engine::Value{it->second}) {
      return ::testing::AssertionFailure() << "customer " << row.key() << " differs from the fold";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST_F(SpecTwinsTest, LiveInSmallBatchesAndRebuiltEqualTheOracle) {
  for (unsigned seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    projections::EventGenerator gen{static_cast<int>(seed), seed};
    for (int i = 0; i < 600; ++i) {
      auto [stream, e] = gen.next();
      store_->append(stream, engine::ExpectedVersion::any(), {e});
      if (i % 37 == 0) {  // the live path in small steps: rows go to PostgreSQL and come back
        for (const char* p : {"cars", "customers"}) live_->catch_up(p, store_->safe_tail(), engine::ApplyMode::kWorker, 11);
      }
    }
    std::int64_t position = 0;
    const auto oracle = test::fold(*store_, 2, store_->safe_tail());
    EXPECT_TRUE(test::cars_match(test::all_rows(*live_, "cars", &position), oracle)) << "live";
    EXPECT_TRUE(customers_match(test::all_rows(*live_, "customers"), oracle)) << "live";

    engine::RebuildOptions options;
    options.checkpoint_events = 500;
    engine::RebuildManager rebuilds{*pool_, *live_, options};
    for (const char* p : {"cars", "customers"}) {
      auto info = rebuilds.run(rebuilds.start(p, 4).id);
      ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
    }
    EXPECT_TRUE(test::cars_match(test::all_rows(*live_, "cars"), oracle)) << "rebuilt";
    EXPECT_TRUE(customers_match(test::all_rows(*live_, "customers"), oracle)) << "rebuilt";
  }
}

namespace {

// What readers' plans and writers' conflicts depend on, by columns (names differ by copy): each
// index (unique, primary), each constraint (type, deferrable, deferred) and whether it is logged.
std::string table_shape(pqxx::connection& c, const std::string& physical) {
  pqxx::read_transaction tx{c};
  const std::string table = "reproj_data." + tx.quote_name(physical);
  const auto columns = [](const std::string& rel, const std::string& keys) {
    return "(SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(" + keys +
           ") WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = " + rel + " AND a.attnum = k.attnum)";
  };
  const std::string indexes = "SELECT format('%s unique=%s primary=%s', " + columns("i.indrelid", "i.indkey") +
                              ", i.indisunique, i.indisprimary) AS s FROM pg_index i WHERE i.indrelid = $1::regclass";
  const std::string constraints = "SELECT format('%s %s deferrable=%s deferred=%s', c.contype, " +
                                  columns("c.conrelid", "c.conkey") +
                                  ", c.condeferrable, c.condeferred) AS s FROM pg_constraint c WHERE c.conrelid = "
                                  "$1::regclass";
  return tx.exec_params1("SELECT (SELECT relpersistence::text FROM pg_class WHERE oid = $1::regclass) || ' | ' || "
                         "(SELECT string_agg(s, '; ' ORDER BY s) FROM (" + indexes + ") x) || ' | ' || "
                         "coalesce((SELECT string_agg(s, '; ' ORDER BY s) FROM (" + constraints + ") y), '')",
                         table)[0]
      .as<std::string>();
}

}  // namespace

// The end of a replay writes heaps and indexes them on sessions of their own (engine/detail/
// shadow_indexes.hpp): the promoted table must have what a created one has, also under a name so
// long that PostgreSQL would cut its index names.
TEST_F(SpecTwinsTest, ARebuiltTableHasTheKeyIndexesAndUniqueRulesOfACreatedOne) {
  const std::string name = "customer_emails_under_a_name_long_enough_to_be_cut_at_63";
  std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/examples/specs/customer_emails_v1.json"};
  std::stringstream text;
  text << in.rdbuf();
  std::string spec = text.str();
  for (auto at = spec.find("\"customer_emails\""); at != std::string::npos; at = spec.find("\"customer_emails\"", at)) {
    spec.replace(at, 17, "\"" + name + "\"");
  }
  for (int version : {1, 2}) {
    auto doc = nlohmann::ordered_json::parse(spec);
    doc["version"] = version;
    auto compiled = engine::spec::compile(doc.dump());
    registry_.add(std::move(std::get<std::unique_ptr<engine::spec::SpecProjection>>(compiled)));
  }
  live_->ensure(name, 1);
  for (int i = 0; i < 300; ++i) {
    const std::string customer = "cust-" + std::to_string(i % 120);
    if (i < 120) {
      store_->append(customer, engine::ExpectedVersion::any(),
                     {test::new_event("customer.created", {{"name", "n"}, {"email", customer + "@example.com"}})});
    } else {
      store_->append(customer, engine::ExpectedVersion::any(),
                     {test::new_event("customer.email_changed", {{"email", "new-" + customer + "@example.com"}})});
    }
  }
  // The cars spec twin indexes customer_id (its renames reach cars by it).
  for (const std::string& table : {name, std::string{"cars"}}) {
    auto conn = engine::detail::connect(db_->url());
    const auto created = table_shape(*conn, table);
    EXPECT_NE(created.find("unique=t primary=t"), std::string::npos) << created;
    const auto before = test::all_rows(*live_, table);
    engine::RebuildOptions options;
    options.checkpoint_events = 50;  // checkpoints mid-replay: bare heaps until the end
    engine::RebuildManager rebuilds{*pool_, *live_, options};
    auto info = rebuilds.run(rebuilds.start(table, table == name ? 2 : 4).id);
    ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
    EXPECT_EQ(table_shape(*conn, table), created) << table;
    EXPECT_EQ(test::all_rows(*live_, table), before) << table;
  }
  const auto created = table_shape(*engine::detail::connect(db_->url()), name);
  EXPECT_NE(created.find("u email deferrable=t deferred=t"), std::string::npos) << created;
}
