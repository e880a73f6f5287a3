// Time travel over HTTP (issue 41): the documented routes, statuses and fields, as a user calls them.
#include <gtest/gtest.h>

#include "tests/support/api_fixture.hpp"
#include "tests/support/example_specs.hpp"

using namespace reproj;
using test::ev;
using test::Json;

namespace {

// cars v4 (examples/specs/cars_v4.json: v3 keeping history) deployed and rebuilt to.
class HistoryApiTest : public test::ApiTest {
 protected:
  void to_v4() {
    ASSERT_EQ(call("PUT", "/admin/projections/cars/versions/4", test::example_spec("cars_v4.json"), true).status, 201);
    const auto started = call("POST", "/admin/projections/cars/rebuild", R"({"version": 4})", true);
    ASSERT_EQ(started.status, 202) << started.body;
    ASSERT_EQ(wait_rebuild(json(started)["rebuild_id"].get<std::int64_t>()), "done");
  }
};

}  // namespace

TEST_F(HistoryApiTest, AsOfHistoryAndTheirErrorsAsDocumented) {
  append("hrxs21", "any", {ev("qcwbf2", "car.created", {{"by", "Alice"}, {"color", "blue"}})});
  append("b2dhuw", "any", {ev("fhreui", "customer.created", {{"name", "Bob"}})});
  const auto sold = json(append("hrxs21", "any", {ev("urioe7", "car.sold", {{"to", "b2dhuw"}})}))["last_position"].get<std::int64_t>();
  const auto renamed =
      json(append("b2dhuw", "any", {ev("k2lq9x", "customer.renamed", {{"name", "Charlie"}})}))["last_position"].get<std::int64_t>();

  // v2 keeps none: 400 history_not_kept, naming how to turn it on.
  auto not_kept = call("GET", "/cars/hrxs21?as_of=1");
  EXPECT_EQ(not_kept.status, 400u);
  EXPECT_EQ(json(not_kept)["error"], "history_not_kept");
  EXPECT_NE(json(not_kept)["message"].get<std::string>().find("\"history\": true"), std::string::npos);
  EXPECT_EQ(json(call("GET", "/cars/hrxs21/history"))["error"], "history_not_kept");

  to_v4();  // the rebuild builds the whole history
  auto bob = call("GET", "/cars/hrxs21?as_of=" + std::to_string(sold));
  ASSERT_EQ(bob.status, 200u) << bob.body;
  EXPECT_EQ(json(bob)["customer_name"], "Bob");
  EXPECT_EQ(bob.headers["x-projection-position"], std::to_string(sold));
  EXPECT_EQ(bob.headers["x-projection-version"], "4");
  EXPECT_EQ(json(call("GET", "/cars/hrxs21?as_of=" + std::to_string(renamed)))["customer_name"], "Charlie");
  EXPECT_EQ(call("GET", "/cars/hrxs21?as_of=0").status, 404u) << "nothing existed before the first event";
  EXPECT_EQ(call("GET", "/cars/hrxs21?as_of=99").status, 400u) << "past the tail";
  EXPECT_EQ(call("GET", "/cars/hrxs21?as_of=x").status, 400u);
  EXPECT_EQ(call("GET", "/cars/hrxs21?as_of=1&as_of_time=2026-01-01T00:00:00Z").status, 400u);
  EXPECT_EQ(call("GET", "/cars/hrxs21?as_of_time=yesterday").status, 400u);
  EXPECT_EQ(call("GET", "/cars/hrxs21?as_of_time=2000-01-01T00:00:00Z").status, 404u) << "before the log";
  EXPECT_EQ(json(call("GET", "/cars/hrxs21?as_of_time=2999-01-01T00:00:00Z"))["customer_name"], "Charlie");

  auto list = call("GET", "/cars?as_of=1");
  ASSERT_EQ(list.status, 200u) << list.body;
  ASSERT_EQ(json(list)["items"].size(), 1u);
  EXPECT_EQ(json(list)["items"][0]["color"], "blue");
  EXPECT_TRUE(json(call("GET", "/cars?as_of=1&customer_id=b2dhuw"))["items"].empty()) << "not sold yet as of 1";
  EXPECT_EQ(json(call("GET", "/cars?as_of=" + std::to_string(sold) + "&customer_id=b2dhuw"))["items"].size(), 1u);

  auto h = call("GET", "/cars/hrxs21/history");
  ASSERT_EQ(h.status, 200u) << h.body;
  const auto items = json(h)["items"];
  ASSERT_EQ(items.size(), 3u) << h.body;
  EXPECT_EQ(items[0]["from_position"], renamed);
  EXPECT_TRUE(items[0]["to_position"].is_null());
  EXPECT_EQ(items[0]["event"], (Json{{"position", renamed}, {"event_id", "k2lq9x"}, {"type", "customer.renamed"},
                                     {"recorded_at", items[0]["event"]["recorded_at"]}}));
  EXPECT_EQ(items[0]["changed"], (Json{{"customer_name", {{"old", "Bob"}, {"new", "Charlie"}}}}));
  EXPECT_EQ(items[0]["row"]["customer_name"], "Charlie");
  EXPECT_EQ(items[1]["to_position"], renamed);
  EXPECT_EQ(items[1]["event"]["event_id"], "urioe7");
  EXPECT_TRUE(json(h)["next"].is_null());
  auto page = json(call("GET", "/cars/hrxs21/history?limit=1"));
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(json(call("GET", "/cars/hrxs21/history?limit=5&before=" + std::to_string(page["next"].get<std::int64_t>())))["items"].size(), 2u);
  EXPECT_EQ(call("GET", "/cars/nosuchcar/history").status, 404u);
}
