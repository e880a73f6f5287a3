// The poison policy (issue 14, items 2 and 3): under skip (the default) an event a projection
// cannot use is quarantined and the projection -- live or rebuilding -- goes on; under stop it
// stops; a stop never lands on a version promoted meanwhile.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/catch_up.hpp"
#include "engine/errors.hpp"
#include "engine/rebuild.hpp"
#include "tests/support/live_fixture.hpp"

using namespace reproj;
using test::event;

namespace {

class PoisonTest : public test::LiveTest {
 protected:
  void SetUp() override {}
  // c1 created, a car.sold without "to" (raw SQL: the API would refuse it), c2 created after it.
  void write_history() {
    append("c1", {event("ok1", "car.created", {{"by", "Ann"}, {"color", "green"}})});
    append("u1", {event("ok2", "customer.created", {{"name", "Bo"}})});
    insert_raw("bad3", "c1", 2, "car.sold", R"({"buyer": "u1"})");
    append("c2", {event("ok4", "car.created", {{"by", "Cy"}, {"color", "red"}})});
  }
  engine::ProjectionStatus status(const std::string& name) {
    for (const auto& s : live_->status()) {
      if (s.name == name) return s;
    }
    throw std::runtime_error("no status for " + name);
  }
};

}  // namespace

TEST_F(PoisonTest, UnderSkipTheLiveProjectionQuarantinesTheEventAndGoesOn) {
  SetUpLive(2);
  write_history();
  auto cars = live_->list("cars", "", 100, {});
  EXPECT_FALSE(cars.failed) << cars.error;
  EXPECT_EQ(cars.watermark, 4) << "past the poison event";
  ASSERT_EQ(cars.rows.size(), 2u) << "c2, after the poison event, is there";
  EXPECT_EQ(cars.rows[0].values[3], engine::Value{false}) << "nothing of the poison event applied";
  const auto s = status("cars");
  EXPECT_EQ(s.poison_policy, engine::PoisonPolicy::kSkip);
  EXPECT_EQ(s.quarantined, 1);
  auto q = live_->quarantined("cars", 2, 0, 100);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].global_position, 3);
  EXPECT_EQ(q[0].event_id, "bad3");
  EXPECT_EQ(q[0].event_type, "car.sold");
  EXPECT_NE(q[0].error.find("\"to\" is missing"), std::string::npos) << q[0].error;
  EXPECT_FALSE(q[0].rebuild_id);
  EXPECT_EQ(status("customers").quarantined, 0) << "customers does not read car.sold";
}

TEST_F(PoisonTest, UnderSkipARebuildPassesAKnownBadEventAndReportsIt) {
  SetUpLive(1);
  write_history();
  engine::RebuildManager rebuilds{*pool_, *live_};
  auto info = rebuilds.run(rebuilds.start("cars", 2).id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  EXPECT_EQ(info->events_skipped, 1);
  auto q = live_->quarantined("cars", 2, 0, 100);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].rebuild_id, info->id);
  auto cars = live_->list("cars", "", 100, {});
  EXPECT_EQ(cars.version, 2);
  EXPECT_EQ(cars.rows.size(), 2u);
}

TEST_F(PoisonTest, UnderStopARebuildFailsAndSwitchingToSkipResumesTheStoppedProjection) {
  SetUpLive(1);
  live_->set_poison_policy("cars", engine::PoisonPolicy::kStop);
  write_history();
  EXPECT_TRUE(live_->list("cars", "", 100, {}).failed);
  engine::RebuildManager rebuilds{*pool_, *live_};
  auto info = rebuilds.run(rebuilds.start("cars", 2).id);
  EXPECT_EQ(info->state, engine::RebuildState::kFailed);
  const auto after = live_->set_poison_policy("cars", engine::PoisonPolicy::kSkip);
  EXPECT_FALSE(after.failed);
  auto cars = live_->list("cars", "", 100, {});
  EXPECT_FALSE(cars.failed) << cars.error;
  EXPECT_EQ(cars.rows.size(), 2u);
  EXPECT_EQ(status("cars").quarantined, 1);
}

TEST_F(PoisonTest, UnderStopAVersionPromotedMeanwhileIsNotMarkedFailed) {
  // The applier meets the poison event and rolls back; before it marks the projection failed, a
  // promote of a version already past the event commits. The mark must not land on that version.
  live_options_.fault = [this](std::string_view point) {
    if (point != "poison_met") return;
    pqxx::connection c{db_->url()};
    pqxx::work tx{c};
    tx.exec("UPDATE reproj.projections SET active_version = 2, "
            "last_replayed = (SELECT max(global_position) FROM reproj.events) WHERE name = 'cars'");
    tx.commit();
  };
  SetUpLive(1);
  live_->set_poison_policy("cars", engine::PoisonPolicy::kStop);
  write_history();
  const auto a = live_->catch_up("cars", 4, engine::ApplyMode::kWorker);
  EXPECT_FALSE(a.failed) << a.error;
  const auto s = status("cars");
  EXPECT_FALSE(s.failed) << "a freshly promoted version was marked failed: " << s.error;
  EXPECT_EQ(s.active_version, 2);
}
