// The spec twins of cars v2 and customers v1 (projections/specs/) through the real engine: random
// logs folded live in small batches and rebuilt in place, each compared with the independent
// oracle (issue 15: "live and rebuilt"; tests/projections/spec_equivalence_test.cpp compares 200
// logs in memory with the C++ versions).
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/rebuild.hpp"
#include "engine/spec/spec_projection.hpp"
#include "tests/support/live_fixture.hpp"
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
