// Verify before promote (issue 16) over HTTP: a manual rebuild waits at `ready` with the diff of
// live and shadow at one position, follows the tail meanwhile, and promotes when asked; an
// if_expected rebuild promotes by itself only when nothing unexpected changed.
#include <fstream>
#include <sstream>

#include "tests/support/api_fixture.hpp"

using namespace reproj;
using test::ApiTest;
using test::ev;
using test::Json;
using namespace std::chrono_literals;

namespace {

class VerifyTest : public ApiTest {
 protected:
  // The classic: hrxs21 sold to Bob, who is renamed Charlie afterwards (v1 misses it); another car
  // sold to someone never renamed, and one never sold.
  void seed() {
    append("c1", "any", {ev("e1", "customer.created", {{"name", "Bob"}})});
    append("c2", "any", {ev("e2", "customer.created", {{"name", "Dora"}})});
    append("hrxs21", "any", {ev("e3", "car.created", {{"by", "Ann"}, {"color", "red"}})});
    append("k9", "any", {ev("e4", "car.created", {{"by", "Ann"}, {"color", "blue"}})});
    append("m3", "any", {ev("e5", "car.created", {{"by", "Eve"}, {"color", "green"}})});
    append("hrxs21", "any", {ev("e6", "car.sold", {{"to", "c1"}})});
    append("k9", "any", {ev("e7", "car.sold", {{"to", "c2"}})});
    append("c1", "any", {ev("e8", "customer.renamed", {{"name", "Charlie"}})});
  }
  std::int64_t start(const Json& body) {
    auto r = call("POST", "/admin/projections/cars/rebuild", body.dump(), true);
    EXPECT_EQ(r.status, 202) << r.body;
    return json(r)["rebuild_id"].get<std::int64_t>();
  }
  Json wait_state(std::int64_t id, const std::string& wanted, std::chrono::seconds timeout = 30s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    Json info;
    while (std::chrono::steady_clock::now() < until) {
      info = json(call("GET", "/admin/rebuilds/" + std::to_string(id), "", true));
      if (info["state"] == wanted || info["state"] == "failed" || info["state"] == "cancelled") break;
      std::this_thread::sleep_for(20ms);
    }
    return info;
  }
  std::string customer_name(const std::string& car) { return json(call("GET", "/cars/" + car))["customer_name"]; }
};

std::string spec_with_color_from_buyer() {
  std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/projections/specs/cars_v2.json"};
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::ordered_json::parse(text.str());
  doc["version"] = 5;
  doc["description"] = "v2, and a bug: the color is the creator's name";
  doc["on"]["car.created"][0]["set"]["color"] = "$data.by";
  return doc.dump();
}

}  // namespace

TEST_F(VerifyTest, AManualRebuildWaitsReadyWithTheDiffFollowsTheTailAndPromotesWhenAsked) {
  seed();
  const auto id = start({{"version", 2}, {"promote", "manual"}});
  auto info = wait_state(id, "ready");
  ASSERT_EQ(info["state"], "ready") << info.dump();
  EXPECT_EQ(info["promote"], "manual");

  auto diff = call("GET", "/admin/rebuilds/" + std::to_string(id) + "/diff", "", true);
  ASSERT_EQ(diff.status, 200) << diff.body;
  const auto cars = json(diff)["tables"]["cars"];
  EXPECT_EQ(cars["live_rows"], 3);
  EXPECT_EQ(cars["shadow_rows"], 3);
  EXPECT_EQ(cars["changed"], 1) << diff.body;
  EXPECT_EQ(cars["unchanged"], 2);
  EXPECT_EQ(cars["added"], 0);
  EXPECT_EQ(cars["removed"], 0);
  EXPECT_EQ(cars["changed_columns"], (Json{{"customer_name", 1}}));
  ASSERT_EQ(cars["samples"].size(), 1u) << diff.body;
  EXPECT_EQ(cars["samples"][0], (Json{{"key", "hrxs21"}, {"kind", "changed"},
                                      {"columns", {{"customer_name", {{"live", "Bob"}, {"shadow", "Charlie"}}}}}}));

  EXPECT_EQ(customer_name("hrxs21"), "Bob") << "nothing is promoted before it is asked";
  const auto first_report = json(diff);
  const auto metrics = call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("reproj_rebuild_diff_changed_rows{column=\"customer_name\",projection=\"cars\",rebuild_id=\"" +
                         std::to_string(id) + "\",table=\"cars\",version=\"2\"} 1"),
            std::string::npos)
      << metrics.substr(0, 3000);
  EXPECT_NE(metrics.find("reproj_rebuild_diff_seconds{"), std::string::npos);
  // Written while it waits: the shadow follows the tail, so the promote carries it.
  append("m3", "any", {ev("e9", "car.sold", {{"to", "c1"}})});
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(call("POST", "/admin/rebuilds/" + std::to_string(id) + "/diff", "", true).status, 202) << "a fresh diff";
  Json refreshed = first_report;
  for (int i = 0; i < 500 && refreshed["at_ms"] == first_report["at_ms"]; ++i) {
    std::this_thread::sleep_for(20ms);
    refreshed = json(call("GET", "/admin/rebuilds/" + std::to_string(id) + "/diff", "", true));
  }
  EXPECT_NE(refreshed["at_ms"], first_report["at_ms"]) << "POST .../diff made no new report";
  EXPECT_GT(refreshed["position"].get<std::int64_t>(), first_report["position"].get<std::int64_t>())
      << "the new report is not at the position the shadow followed to";

  EXPECT_EQ(call("POST", "/admin/rebuilds/" + std::to_string(id) + "/promote", "", true).status, 202);
  EXPECT_EQ(wait_state(id, "done")["state"], "done");
  EXPECT_EQ(customer_name("hrxs21"), "Charlie");
  EXPECT_EQ(customer_name("m3"), "Charlie") << "the sale written while ready was lost";
  EXPECT_EQ(call("POST", "/admin/rebuilds/" + std::to_string(id) + "/promote", "", true).status, 409);
  EXPECT_EQ(call("POST", "/admin/projections/cars/rollback", "", true).status, 200);
  EXPECT_EQ(customer_name("hrxs21"), "Bob");
}

TEST_F(VerifyTest, IfExpectedPromotesOnlyWhenNothingUnexpectedChanged) {
  seed();
  ASSERT_EQ(call("PUT", "/admin/projections/cars/versions/5", spec_with_color_from_buyer(), true).status, 201);
  const auto wrong = start({{"version", 5}, {"promote", "if_expected"}, {"expect_changes", {"customer_name"}}});
  auto info = wait_state(wrong, "ready");
  ASSERT_EQ(info["state"], "ready") << info.dump();
  EXPECT_EQ(info["gate"], "unexpected_changes");
  const auto cars = json(call("GET", "/admin/rebuilds/" + std::to_string(wrong) + "/diff", "", true))["tables"]["cars"];
  EXPECT_EQ(cars["unexpected_columns"], Json::array({"color"})) << cars.dump();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(json(call("GET", "/admin/rebuilds/" + std::to_string(wrong), "", true))["state"], "ready")
      << "a gated rebuild promoted by itself";
  EXPECT_EQ(call("DELETE", "/admin/rebuilds/" + std::to_string(wrong), "", true).status, 200);

  const auto right = start({{"version", 2}, {"promote", "if_expected"}, {"expect_changes", {"customer_name"}}});
  EXPECT_EQ(wait_state(right, "done")["state"], "done");
  EXPECT_EQ(customer_name("hrxs21"), "Charlie");
  EXPECT_EQ(call("POST", "/admin/projections/cars/rebuild", R"({"promote": "sometimes"})", true).status, 400);
}
