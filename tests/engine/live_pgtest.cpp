// The seed scenario from the issue, poison events, and the caught-up signal.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "engine/catch_up.hpp"
#include "engine/errors.hpp"
#include "tests/support/live_fixture.hpp"

using namespace reproj;
using engine::Row;
using test::event;

namespace {

Row car(std::string id, std::string creator, std::string color, bool sold, std::optional<std::string> cust,
        std::optional<std::string> name) {
  auto opt = [](std::optional<std::string> s) -> engine::Value {
    if (s) return *s;
    return std::monostate{};
  };
  return Row{{std::move(id), std::move(creator), std::move(color), sold, opt(std::move(cust)), opt(std::move(name))}};
}

class SeedScenario : public test::LiveTest, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override { SetUpLive(GetParam()); }
  void append_one_to_six() {
    append("hrxs21", {event("qcwbf2", "car.created", {{"by", "Alice"}, {"color", "blue"}})});
    append("hrxs21", {event("e1owui", "car.repainted", {{"color", "red"}})});
    append("tye24p", {event("fjr4io", "car.created", {{"by", "Alice"}, {"color", "blue"}})});
    append("b2dhuw", {event("fhreui", "customer.created", {{"name", "Bob"}})});
    append("hrxs21", {event("urioe7", "car.sold", {{"to", "b2dhuw"}})});
    ASSERT_EQ(append("b2dhuw", {event("k2lq9x", "customer.renamed", {{"name", "Charlie"}})}), 6);
  }
};

}  // namespace

TEST_P(SeedScenario, AfterSixEventsCarsShowTheVersionsBuyerName) {
  append_one_to_six();
  const bool v2 = GetParam() == 2;
  auto cars = live_->list("cars", "", 100, {});
  EXPECT_EQ(cars.watermark, 6);
  EXPECT_EQ(cars.version, GetParam());
  ASSERT_EQ(cars.rows.size(), 2u);
  EXPECT_EQ(cars.rows[0], car("hrxs21", "Alice", "red", true, "b2dhuw", v2 ? "Charlie" : "Bob"));
  EXPECT_EQ(cars.rows[1], car("tye24p", "Alice", "blue", false, std::nullopt, std::nullopt));
  auto customer = live_->get("customers", "b2dhuw", {});
  ASSERT_EQ(customer.rows.size(), 1u);
  EXPECT_EQ(customer.rows[0], (Row{{std::string{"b2dhuw"}, std::string{"Charlie"}}}));
  EXPECT_EQ(customer.watermark, 6);
}

TEST_P(SeedScenario, ReadAfterAppendsAppliesPendingEventsItself) {
  append_one_to_six();
  ASSERT_EQ(live_->get("cars", "hrxs21", {}).watermark, 6);  // caught up to 6 by this read
  append("hrxs21", {event("p7aaaa", "car.repainted", {{"color", "orange"}})});
  append("wuionx", {event("p8bbbb", "customer.created", {{"name", "Dan"}})});
  append("tye24p", {event("p9cccc", "car.sold", {{"to", "wuionx"}})});
  // No worker runs: the read path itself must apply 7..9.
  auto cars = live_->list("cars", "", 100, {});
  EXPECT_EQ(cars.watermark, 9);
  ASSERT_EQ(cars.rows.size(), 2u);
  EXPECT_EQ(cars.rows[0],
            car("hrxs21", "Alice", "orange", true, "b2dhuw", GetParam() == 2 ? "Charlie" : "Bob"));
  EXPECT_EQ(cars.rows[1], car("tye24p", "Alice", "blue", true, "wuionx", "Dan"));
  EXPECT_EQ(live_->applied_events("cars", engine::ApplyMode::kRead), 9) << "each event applied once";
}

TEST_P(SeedScenario, EventualReadSkipsTheCatchUp) {
  append_one_to_six();
  auto r = live_->get("cars", "hrxs21", {.strong = false, .min_position = 0});
  EXPECT_EQ(r.watermark, 0);
  EXPECT_TRUE(r.rows.empty());
  EXPECT_EQ(live_->get("cars", "hrxs21", {}).rows.size(), 1u);
}

TEST_P(SeedScenario, GetManyAnswersEveryKeyFromOneCaughtUpPosition) {
  append_one_to_six();
  // Behind by six: one call applies them, then reads every key (absent ones have no row).
  auto r = live_->get_many("cars", {"tye24p", "nope", "hrxs21", "hrxs21"}, {});
  EXPECT_EQ(r.watermark, 6);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].key(), "hrxs21");
  EXPECT_EQ(r.rows[1], car("tye24p", "Alice", "blue", false, std::nullopt, std::nullopt));
  append("tye24p", {event("p9cccc", "car.repainted", {{"color", "pink"}})});
  auto eventual = live_->get_many("cars", {"tye24p"}, {.strong = false, .min_position = 0});
  EXPECT_EQ(eventual.watermark, 6);
  EXPECT_EQ(std::get<std::string>(eventual.rows.at(0).values[2]), "blue");
  EXPECT_EQ(std::get<std::string>(live_->get_many("cars", {"tye24p"}, {}).rows.at(0).values[2]), "pink");
  EXPECT_THROW(live_->get_many("cars", {"a"}, {.strong = true, .min_position = 99}), engine::InvalidInput);
  EXPECT_THROW(live_->get_many("cars", {"\xff"}, {}), engine::InvalidInput);
  EXPECT_THROW(live_->get_many("trucks", {"a"}, {}), engine::UnknownProjection);
}

INSTANTIATE_TEST_SUITE_P(CarsVersions, SeedScenario, ::testing::Values(1, 2));

using LiveProjectionsTest = test::LiveTest;

TEST_F(LiveProjectionsTest, SaleBeforeTheCustomerExistsGetsTheNameWhenCreatedInV2) {
  append("c1", {event("a1", "car.created", {{"by", "Ann"}, {"color", "green"}})});
  append("c1", {event("a2", "car.sold", {{"to", "late"}})});
  auto before = live_->get("cars", "c1", {});
  ASSERT_EQ(before.rows.size(), 1u);
  EXPECT_EQ(before.rows[0].values[5], engine::Value{std::monostate{}});
  append("late", {event("a3", "customer.created", {{"name", "Lena"}})});
  append("late", {event("a4", "customer.renamed", {{"name", "Lena B"}})});
  auto after = live_->get("cars", "c1", {});
  EXPECT_EQ(after.rows[0].values[5], engine::Value{std::string{"Lena B"}});
}

TEST_F(LiveProjectionsTest, MinPositionBeyondTheTailIsRefused) {
  append("c1", {event("a1", "car.created", {{"by", "Ann"}, {"color", "green"}})});
  EXPECT_THROW(live_->get("cars", "c1", {.strong = true, .min_position = 99}), engine::InvalidInput);
  EXPECT_EQ(live_->get("cars", "c1", {.strong = true, .min_position = 1}).watermark, 1);
  EXPECT_THROW(live_->get("trucks", "c1", {}), engine::UnknownProjection);
}

TEST_F(LiveProjectionsTest, UnderStopAPoisonEventStopsTheProjectionAtTheEventBeforeItAndItKeepsServing) {
  live_->set_poison_policy("cars", engine::PoisonPolicy::kStop);
  append("c1", {event("ok1", "car.created", {{"by", "Ann"}, {"color", "green"}})});
  append("b1", {event("ok2", "customer.created", {{"name", "Bo"}})});
  // Same batch: a good event before the poison one and one after it.
  append("c2", {event("ok3", "car.created", {{"by", "Cy"}, {"color", "red"}})});
  append("c1", {event("bad4", "car.sold", {{"buyer", "b1"}})});  // no "to": poison
  append("c3", {event("ok5", "car.created", {{"by", "Di"}, {"color", 7}})});

  engine::CatchUpWorker worker{*live_, {"customers", "cars"}, {.batch_events = 100, .idle_wait = std::chrono::milliseconds{50}}};
  EXPECT_FALSE(worker.wait_caught_up(std::chrono::seconds(2))) << "caught up despite a failed projection";

  auto cars = live_->list("cars", "", 100, {});
  EXPECT_TRUE(cars.failed);
  EXPECT_EQ(cars.watermark, 3) << "stops at the event before the poison one";
  ASSERT_EQ(cars.rows.size(), 2u) << "serves what it has";
  EXPECT_EQ(cars.rows[0].key(), "c1");
  EXPECT_EQ(cars.rows[0].values[3], engine::Value{false}) << "nothing of the poison event applied";
  EXPECT_NE(cars.error.find("position 4"), std::string::npos) << cars.error;
  EXPECT_NE(cars.error.find("bad4"), std::string::npos) << cars.error;
  EXPECT_NE(cars.error.find("car.sold"), std::string::npos) << cars.error;
  EXPECT_NE(cars.error.find("\"to\" is missing"), std::string::npos) << cars.error;

  auto customers = live_->get("customers", "b1", {});
  EXPECT_FALSE(customers.failed) << "the other projection goes on";
  EXPECT_EQ(customers.watermark, 5);
  bool reported = false;
  for (const auto& s : live_->status()) {
    if (s.name == "cars") reported = s.failed && s.watermark == 3;
  }
  EXPECT_TRUE(reported);
}

TEST_F(LiveProjectionsTest, WorkerCatchesUpAndSignalsCaughtUp) {
  for (int i = 0; i < 300; ++i) {
    append("car" + std::to_string(i), {event("e" + std::to_string(i), "car.created", {{"by", "X"}, {"color", "c"}})});
  }
  engine::CatchUpWorker worker{*live_, {"customers", "cars"}, {.batch_events = 64, .idle_wait = std::chrono::milliseconds{50}}};
  ASSERT_TRUE(worker.wait_caught_up(std::chrono::seconds(20)));
  EXPECT_EQ(worker.start_tail(), 300);
  for (const auto& s : live_->status()) EXPECT_GE(s.watermark, 300) << s.name;
  // New events reach the live table through NOTIFY, without any read.
  append("late", {event("late1", "car.created", {{"by", "Y"}, {"color", "c"}})});
  for (int i = 0; i < 100; ++i) {
    if (live_->get("cars", "late", {.strong = false, .min_position = 0}).rows.size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(live_->get("cars", "late", {.strong = false, .min_position = 0}).rows.size(), 1u);
  EXPECT_EQ(live_->applied_events("cars", engine::ApplyMode::kWorker), 301);
}

TEST_F(LiveProjectionsTest, AReadFarBehindAnswersProjectionBehindAndAppliesNothingUnderTheLock) {
  // Issue 14, item 6: one read must not apply a long range while holding the metadata row lock.
  live_options_.max_read_apply = 100;
  restart_live();  // (the store's inline projections held the old one: a use after free before)
  std::vector<engine::NewEvent> many;
  for (int i = 0; i < 150; ++i) many.push_back(event("m" + std::to_string(i), "car.created", {{"by", "A"}, {"color", "c"}}));
  const auto tail = append("c1", many);
  try {
    live_->get("cars", "c1", {});
    FAIL() << "a read applied 150 events itself (max_read_apply 100)";
  } catch (const engine::ProjectionBehind& e) {
    EXPECT_EQ(e.watermark(), 0);
    EXPECT_EQ(e.wanted(), tail);
  }
  EXPECT_EQ(live_->get("cars", "c1", {.strong = false}).watermark, 0) << "nothing was applied";
  live_->catch_up("cars", tail, engine::ApplyMode::kWorker, 100);  // the worker, in batches
  append("c1", {event("last", "car.repainted", {{"color", "blue"}})});
  auto r = live_->get("cars", "c1", {});
  EXPECT_EQ(r.watermark, tail + 1) << "within the bound again: the read applies the rest itself";
}

TEST_F(LiveProjectionsTest, AnEventualReadWithMinPositionNeverAnswersBelowIt) {
  // Issue 14, item 7: min_position was only checked against the tail.
  append("c1", {event("a1", "car.created", {{"by", "Ann"}, {"color", "green"}})});
  const auto second = append("c1", {event("a2", "car.repainted", {{"color", "red"}})});
  append("c1", {event("a3", "car.repainted", {{"color", "blue"}})});
  auto r = live_->get("cars", "c1", {.strong = false, .min_position = second});
  EXPECT_GE(r.watermark, second);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].values[2], engine::Value{std::string{"red"}}) << "caught up to min_position, not beyond";
  EXPECT_EQ(live_->get("cars", "c1", {.strong = false}).watermark, second) << "an eventual read applies no more";
}
