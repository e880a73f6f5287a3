// Projections as data over HTTP (issue 15): deploy a spec version, read it back, refuse what is
// invalid or would change a version, build a new projection before it serves, filter reads by an
// indexed column, and deploy and rebuild cars v3 while writers and strong readers run.
#include <fstream>
#include <random>
#include <sstream>

#include "engine/column_value.hpp"
#include "projections/demo_events.hpp"
#include "tests/support/api_fixture.hpp"
#include "tests/support/example_specs.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;
using test::ApiTest;
using test::Json;
using namespace std::chrono_literals;

namespace {

std::int64_t stored_specs(const std::string& url) {
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  return tx.exec1("SELECT count(*) FROM reproj.projection_specs")[0].as<std::int64_t>();
}

Json body_of(const engine::NewEvent& e) {
  return {{"type", e.type}, {"data", e.data}};
}

}  // namespace

TEST_F(ApiTest, InvalidSpecsAreRefusedWithEveryProblemAndNoneIsStored) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"{not json", ""},
      {R"({"projection": "events", "version": 1, "tables": {}, "on": {}})", "/projection"},
      {R"({"projection": "accounts", "version": 1, "tables": {"accounts": {"key": "id", "columns": {"id": "money"}}}, "on": {}})",
       "/tables/accounts/columns/id"},
      {R"({"projection": "accounts", "version": 1, "tables": {"accounts": {"key": "id", "columns": {"id": "text"}}},
           "on": {"x": [{"update": "accounts", "key": "$stream", "set": {"nope": 1}}]}})",
       "/on/x/0/set/nope"},
  };
  for (const auto& [doc, path] : bad) {
    auto r = call("PUT", "/admin/projections/accounts/versions/1", doc, true);
    EXPECT_EQ(r.status, 422) << doc;
    auto body = json(r);
    EXPECT_EQ(body["error"], "invalid_spec");
    ASSERT_TRUE(body["problems"].is_array() && !body["problems"].empty()) << r.body;
    // The message counts the problems the list holds (it once said "0 problems" beside them).
    const auto n = body["problems"].size();
    EXPECT_EQ(body["message"], "the spec has " + std::to_string(n) + (n == 1 ? " problem" : " problems")) << r.body;
    if (!path.empty()) {
      bool found = false;
      for (const auto& p : body["problems"]) found = found || p["path"] == path;
      EXPECT_TRUE(found) << "no problem at " << path << ": " << r.body;
    }
  }
  // The document and the URL must name the same version.
  auto mismatch = call("PUT", "/admin/projections/accounts/versions/2", test::example_spec("accounts_v1.json"), true);
  EXPECT_EQ(mismatch.status, 422);
  EXPECT_EQ(json(mismatch)["problems"][0]["path"], "/version") << mismatch.body;
  EXPECT_EQ(call("PUT", "/admin/projections/accounts/versions/1", test::example_spec("accounts_v1.json")).status, 401);
  EXPECT_EQ(stored_specs(db_->url()), 0) << "an invalid or unauthorized spec reached the database";
}

TEST_F(ApiTest, ANewProjectionIsBuiltBeforeItServesAndVersionsAreImmutable) {
  append("acc1", "any", {Json{{"type", "account.opened"}, {"data", {{"owner", "Bo"}}}},
                         Json{{"type", "account.credited"}, {"data", {{"amount", 12.5}}}},
                         Json{{"type", "account.item_added"}, {"data", {{"item", "pen"}}}}});
  hold_ = true;  // the first build waits at its first checkpoint: the projection is building
  auto put = call("PUT", "/admin/projections/accounts/versions/1", test::example_spec("accounts_v1.json"), true);
  ASSERT_EQ(put.status, 201) << put.body;
  const auto deployed = json(put);
  EXPECT_EQ(deployed["projection"], "accounts");
  EXPECT_EQ(deployed["version"], 1);
  EXPECT_EQ(deployed["sha256"].get<std::string>().size(), 64u);
  ASSERT_TRUE(deployed.contains("rebuild_id")) << put.body;

  auto building = call("GET", "/accounts/acc1");
  EXPECT_EQ(building.status, 503) << building.body;
  EXPECT_EQ(json(building)["error"], "projection_building");
  bool listed = false;
  auto listing = call("GET", "/admin/projections", "", true);
  ASSERT_EQ(listing.status, 200) << listing.body;
  const auto projections = json(listing)["projections"];
  for (const auto& p : projections) {
    if (p["name"] != "accounts") continue;
    listed = true;
    EXPECT_EQ(p["state"], "building");
    EXPECT_EQ(p["version_sources"]["1"], "api");
  }
  EXPECT_TRUE(listed) << listing.body;

  hold_ = false;
  EXPECT_EQ(wait_rebuild(deployed["rebuild_id"].get<std::int64_t>()), "done");
  auto row = call("GET", "/accounts/acc1");
  ASSERT_EQ(row.status, 200) << row.body;
  EXPECT_EQ(json(row)["balance"], 12.5);
  EXPECT_EQ(json(row)["items"], Json::array({"pen"}));
  EXPECT_EQ(json(row)["owner"], "Bo");
  EXPECT_TRUE(json(row)["opened_at"].is_string());

  // The same document again (whitespace aside) is 200; other content for the version 409.
  EXPECT_EQ(call("PUT", "/admin/projections/accounts/versions/1", Json::parse(test::example_spec("accounts_v1.json")).dump(2), true).status,
            200);
  auto other = Json::parse(test::example_spec("accounts_v1.json"));
  other["description"] = "changed";
  EXPECT_EQ(call("PUT", "/admin/projections/accounts/versions/1", other.dump(), true).status, 409);
  // The served key keeps its name across versions.
  auto rekeyed = Json::parse(test::example_spec("accounts_v1.json"));
  rekeyed["version"] = 2;
  rekeyed["tables"]["accounts"]["columns"]["id"] = "text";
  rekeyed["tables"]["accounts"]["key"] = "id";
  auto refused = call("PUT", "/admin/projections/accounts/versions/2", rekeyed.dump(), true);
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(json(refused)["problems"][0]["path"], "/tables/accounts/key") << refused.body;
  // A compiled-in version cannot be replaced by a spec either.
  auto cars1 = Json::parse(test::example_spec("cars_v3.json"));
  cars1["version"] = 1;
  EXPECT_EQ(call("PUT", "/admin/projections/cars/versions/1", cars1.dump(), true).status, 409);

  auto got = call("GET", "/admin/projections/accounts/versions/1", "", true);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(json(got)["source"], "api");
  EXPECT_EQ(json(got)["sha256"], deployed["sha256"]);
  EXPECT_EQ(json(got)["spec"], Json::parse(test::example_spec("accounts_v1.json")));
  EXPECT_NE(got.body.find(R"("spec":{"projection":"accounts","version":1,)"), std::string::npos)
      << "the document is not returned in its own order: " << got.body;
  auto compiled = call("GET", "/admin/projections/cars/versions/1", "", true);
  EXPECT_EQ(json(compiled)["source"], "compiled");
  EXPECT_EQ(json(compiled)["tables"]["cars"]["columns"]["sold"], "boolean");
  EXPECT_EQ(call("GET", "/admin/projections/cars/versions/9", "", true).status, 404);
}

TEST_F(ApiTest, ReadsFilterByAnIndexedColumn) {
  append("c1", "any", {test::ev("e1", "car.created", {{"by", "Ann"}, {"color", "red"}})});
  append("c2", "any", {test::ev("e2", "car.created", {{"by", "Ann"}, {"color", "blue"}})});
  append("c1", "any", {test::ev("e3", "car.sold", {{"to", "k1"}})});
  auto r = call("GET", "/cars?customer_id=k1");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(json(r)["items"].size(), 1u) << r.body;
  EXPECT_EQ(json(r)["items"][0]["car_id"], "c1");
  EXPECT_EQ(json(call("GET", "/cars?customer_id=nobody"))["items"].size(), 0u);
  auto bad = call("GET", "/cars?color=red");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(json(bad)["message"].get<std::string>().find("customer_id"), std::string::npos) << bad.body;
  EXPECT_EQ(json(call("GET", "/cars?utm_source=x"))["items"].size(), 2u) << "a parameter that is no column is ignored, as before";
}

TEST_F(ApiTest, CarsV3DeployedAndRebuiltUnderWritersAndStrongReadersFailsNoRead) {
  test::seed_events(*store_, 3'000);
  std::vector<std::string> cars;
  for (const auto& row : test::all_rows(*live_, "cars")) cars.push_back(row.key());
  ASSERT_FALSE(cars.empty());

  std::atomic<bool> stop{false};
  std::atomic<int> failed_reads{0}, failed_appends{0}, reads{0};
  std::mutex first_failure_mutex;
  std::string first_failure;
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      projections::EventGenerator gen{200 + w, static_cast<unsigned>(w) + 77u};  // seed_events writes 100..107
      // Paced at a fixed rate, 25 appends/s each: four unpaced writers outrun this fixture's
      // rebuild (batches of two events, a checkpoint each, ~200 events/s here beside 8 readers),
      // which then never catches up to promote. A pause after each append instead let the rate grow
      // as appends got faster: 5 ms pauses took 30-56 s to promote, and never on a durable cluster.
      auto next = std::chrono::steady_clock::now();
      while (!stop) {
        auto [stream, e] = gen.next();
        if (append(stream, "any", {body_of(e)}).status != 201) ++failed_appends;
        next += 40ms;
        std::this_thread::sleep_until(next);
      }
    });
  }
  for (int r = 0; r < 8; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng{static_cast<unsigned>(r)};
      while (!stop) {
        auto reply = call("GET", "/cars/" + cars[rng() % cars.size()]);
        ++reads;
        if (reply.status != 200 && failed_reads++ == 0) {
          std::scoped_lock lock{first_failure_mutex};
          first_failure = std::to_string(reply.status) + " " + reply.body;
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  auto put = call("PUT", "/admin/projections/cars/versions/3", test::example_spec("cars_v3.json"), true);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_FALSE(json(put).contains("rebuild_id")) << "an existing projection is rebuilt when asked, not on deploy";
  auto started = call("POST", "/admin/projections/cars/rebuild", R"({"version": 3})", true);
  ASSERT_EQ(started.status, 202) << started.body;
  EXPECT_EQ(wait_rebuild(json(started)["rebuild_id"].get<std::int64_t>(), 120s), "done");
  std::this_thread::sleep_for(300ms);  // reads and writes go on against v3
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed_reads, 0) << "of " << reads << " reads; the first: " << first_failure;
  EXPECT_EQ(failed_appends, 0);

  std::int64_t position = 0;
  const auto rows = test::all_rows(*live_, "cars", &position);
  const auto oracle = test::fold(*store_, 2, position);
  std::map<std::string, std::int64_t> repaints;
  {
    pqxx::connection c{db_->url()};
    pqxx::read_transaction tx{c};
    // Repaints since the car's (last) creation: car.created writes the row anew.
    for (const auto& r : tx.exec_params("SELECT e.stream_id, count(*) FROM reproj.events e WHERE e.event_type = 'car.repainted' "
                                        "AND e.global_position <= $1 AND e.global_position > (SELECT max(c.global_position) "
                                        "FROM reproj.events c WHERE c.stream_id = e.stream_id AND c.event_type = 'car.created') "
                                        "GROUP BY e.stream_id",
                                        position)) {
      repaints[r[0].as<std::string>()] = r[1].as<std::int64_t>();
    }
  }
  {
    pqxx::connection c{db_->url()};
    pqxx::read_transaction tx{c};
    for (const auto& r : tx.exec("SELECT version, error, count(*) FROM reproj.quarantine GROUP BY 1, 2")) {
      ADD_FAILURE() << "quarantined by v" << r[0].c_str() << ": " << r[1].c_str() << " x" << r[2].c_str();
    }
  }
  ASSERT_EQ(rows.size(), oracle.cars().size());
  int wrong = 0;
  for (const auto& row : rows) {
    ASSERT_EQ(row.values.size(), 7u) << "not the v3 layout";
    engine::Row v2{{row.values.begin(), row.values.begin() + 6}};
    if (std::optional<engine::Row>{v2} != oracle.car(row.key()) && wrong++ == 0) {
      ADD_FAILURE() << "car " << row.key() << " differs from the fold in the columns v2 has";
    }
    if (row.values[6] != engine::Value{repaints[row.key()]} && wrong++ == 0) {
      ADD_FAILURE() << "car " << row.key() << " has repaints " << test::Json(engine::value_to_json(engine::ColumnType::kBigint, row.values[6])).dump()
                    << ", the log " << repaints[row.key()];
    }
  }
  EXPECT_EQ(wrong, 0) << "cars differ from the fold (of " << rows.size() << ")";
}
