// Bad events in the log, written by raw SQL that bypasses the API's validation. Under the stop
// poison policy a rebuild fails with an error naming the event and never promotes; the live
// projection stops before the event, reports it and keeps serving what it has (the skip policy:
// poison_pgtest.cpp). Invalid JSON cannot enter the log at all (jsonb), and
// a huge but valid payload is simply applied.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/rebuild.hpp"
#include "tests/support/live_fixture.hpp"

using namespace reproj;

namespace {

struct BadEvent {
  const char* name;
  const char* type;
  std::string data;  // a jsonb literal
  const char* reason;
};

class BadEvents : public test::LiveTest, public ::testing::WithParamInterface<BadEvent> {
 protected:
  void SetUp() override { SetUpLive(1); }
  std::int64_t event_count() {
    pqxx::connection c{db_->url()};
    pqxx::read_transaction tx{c};
    return tx.exec1("SELECT count(*) FROM reproj.events")[0].as<std::int64_t>();
  }
};

}  // namespace

TEST_P(BadEvents, UnderStopRebuildFailsNamingTheEventAndLiveStopsBeforeItButServes) {
  const auto bad = GetParam();
  live_->set_poison_policy("cars", engine::PoisonPolicy::kStop);
  append("c1", {test::event("ok1", "car.created", {{"by", "Ann"}, {"color", "green"}})});
  append("u1", {test::event("ok2", "customer.created", {{"name", "Bo"}})});
  insert_raw("bad3", "c1", 2, bad.type, bad.data);
  append("c2", {test::event("ok4", "car.created", {{"by", "Cy"}, {"color", "red"}})});

  engine::RebuildManager rebuilds{*pool_, *live_};
  auto info = rebuilds.run(rebuilds.start("cars", 2).id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, engine::RebuildState::kFailed);
  EXPECT_NE(info->error.find("bad3"), std::string::npos) << info->error;
  EXPECT_NE(info->error.find("position 3"), std::string::npos) << info->error;
  EXPECT_NE(info->error.find(bad.reason), std::string::npos) << info->error;
  EXPECT_EQ(test::data_tables(db_->url()), (std::set<std::string>{"cars", "cars__customer_names", "customers"}))
      << "the failed rebuild left its shadow";

  auto cars = live_->list("cars", "", 100, {});
  EXPECT_TRUE(cars.failed);
  EXPECT_EQ(cars.version, 1) << "a failed rebuild promoted";
  EXPECT_EQ(cars.watermark, 2) << "live stops at the event before the bad one";
  ASSERT_EQ(cars.rows.size(), 1u) << "and serves what it has";
  EXPECT_EQ(cars.rows[0].key(), "c1");
  EXPECT_NE(cars.error.find("bad3"), std::string::npos) << cars.error;
  EXPECT_NE(cars.error.find(bad.reason), std::string::npos) << cars.error;
  EXPECT_FALSE(live_->get("customers", "u1", {}).failed) << "the other projection goes on";
}

INSTANTIATE_TEST_SUITE_P(
    RawSql, BadEvents,
    ::testing::Values(BadEvent{"string_data", "car.repainted", R"("red")", "not a JSON object"},
                      BadEvent{"array_data", "car.created", "[1, 2]", "not a JSON object"},
                      BadEvent{"null_data", "car.sold", "null", "not a JSON object"},
                      BadEvent{"number_field", "car.repainted", R"({"color": 7})", "\"color\" is not a string"},
                      BadEvent{"object_field", "car.repainted", R"({"color": {"r": 1}})", "\"color\" is not a string"},
                      BadEvent{"missing_field", "car.sold", R"({"buyer": "u1"})", "\"to\" is missing"},
                      BadEvent{"huge_missing_field", "car.sold",
                               R"({"junk": ")" + std::string(4 << 20, 'x') + R"("})", "\"to\" is missing"}),
    [](const auto& p) { return std::string{p.param.name}; });

TEST_F(BadEvents, InvalidJsonCannotEnterTheLogEvenByRawSql) {
  append("c1", {test::event("ok1", "car.created", {{"by", "Ann"}, {"color", "green"}})});
  for (const std::string data : {R"({"color": )", R"({"color": "red"} trailing)", "{'color': 'red'}", "",
                                 R"({"color": "\u0000"})"}) {
    EXPECT_THROW(insert_raw("bad-" + data, "c1", 2, "car.repainted", data), pqxx::data_exception) << data;
  }
  EXPECT_EQ(event_count(), 1);
  EXPECT_FALSE(live_->get("cars", "c1", {}).failed);
}

TEST_F(BadEvents, AHugeValidPayloadIsAppliedByTheLiveProjectionAndTheRebuild) {
  const std::string color(2 << 20, 'r');
  append("c1", {test::event("ok1", "car.created", {{"by", "Ann"}, {"color", "green"}})});
  insert_raw("huge2", "c1", 2, "car.repainted", nlohmann::json{{"color", color}, {"pad", std::string(1 << 20, 'p')}}.dump());

  auto live = live_->get("cars", "c1", {});
  ASSERT_FALSE(live.failed) << live.error;
  ASSERT_EQ(live.rows.size(), 1u);
  EXPECT_EQ(live.rows[0].values[2], engine::Value{color});

  engine::RebuildManager rebuilds{*pool_, *live_};
  auto info = rebuilds.run(rebuilds.start("cars", 2).id);
  ASSERT_TRUE(info);
  ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  auto rebuilt = live_->get("cars", "c1", {});
  EXPECT_EQ(rebuilt.version, 2);
  EXPECT_EQ(rebuilt.rows.at(0).values[2], engine::Value{color});
}
