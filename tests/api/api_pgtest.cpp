// The HTTP API over real HTTP against a server on the throwaway cluster: every route, every
// documented error status, the seed scenario end to end, and the OpenAPI document.
#include <atomic>
#include <iostream>
#include <regex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/admin_series.hpp"
#include "api/asio.hpp"
#include "api/http_client.hpp"
#include "api/router.hpp"
#include "api/server.hpp"
#include "engine/catch_up.hpp"
#include "engine/rebuild.hpp"
#include "tests/support/api_fixture.hpp"

using namespace reproj;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using Json = nlohmann::json;
using test::ApiTest;
using test::ev;

TEST_F(ApiTest, SeedScenarioEndToEndThroughHttp) {
  EXPECT_EQ(append("hrxs21", "no_stream", {ev("qcwbf2", "car.created", {{"by", "Alice"}, {"color", "blue"}})}).status, 201u);
  EXPECT_EQ(append("hrxs21", 1, {ev("e1owui", "car.repainted", {{"color", "red"}})}).status, 201u);
  EXPECT_EQ(append("tye24p", "no_stream", {ev("fjr4io", "car.created", {{"by", "Alice"}, {"color", "blue"}})}).status, 201u);
  EXPECT_EQ(append("b2dhuw", "no_stream", {ev("fhreui", "customer.created", {{"name", "Bob"}})}).status, 201u);
  EXPECT_EQ(append("hrxs21", 2, {ev("urioe7", "car.sold", {{"to", "b2dhuw"}})}).status, 201u);
  auto sixth = append("b2dhuw", 1, {ev("k2lq9x", "customer.renamed", {{"name", "Charlie"}})});
  ASSERT_EQ(sixth.status, 201u) << sixth.body;
  EXPECT_EQ(json(sixth)["last_position"], 6);

  auto car = call("GET", "/cars/hrxs21");
  ASSERT_EQ(car.status, 200u) << car.body;
  EXPECT_EQ(json(car), (Json{{"car_id", "hrxs21"}, {"creator", "Alice"}, {"color", "red"}, {"sold", true},
                             {"customer_id", "b2dhuw"}, {"customer_name", "Bob"}}));
  EXPECT_EQ(car.headers["x-projection-version"], "1");
  EXPECT_EQ(car.headers["x-projection-position"], "6");

  auto started = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(started.status, 202u) << started.body;
  const auto id = json(started)["rebuild_id"].get<std::int64_t>();
  EXPECT_EQ(json(started)["status_url"], "/admin/rebuilds/" + std::to_string(id));
  // 7..9 while the rebuild runs.
  EXPECT_EQ(append("hrxs21", 3, {ev("p7aaaa", "car.repainted", {{"color", "orange"}})}).status, 201u);
  EXPECT_EQ(append("wuionx", "no_stream", {ev("p8bbbb", "customer.created", {{"name", "Dan"}})}).status, 201u);
  auto ninth = append("tye24p", 1, {ev("p9cccc", "car.sold", {{"to", "wuionx"}})});
  EXPECT_EQ(ninth.status, 201u);
  EXPECT_EQ(wait_rebuild(id), "done");

  auto cars = call("GET", "/cars");
  ASSERT_EQ(cars.status, 200u);
  EXPECT_EQ(cars.headers["x-projection-version"], "2");
  EXPECT_EQ(cars.headers["x-projection-position"], "9");
  EXPECT_EQ(json(cars), (Json{{"items",
                               {{{"car_id", "hrxs21"}, {"creator", "Alice"}, {"color", "orange"}, {"sold", true},
                                 {"customer_id", "b2dhuw"}, {"customer_name", "Charlie"}},
                                {{"car_id", "tye24p"}, {"creator", "Alice"}, {"color", "blue"}, {"sold", true},
                                 {"customer_id", "wuionx"}, {"customer_name", "Dan"}}}},
                              {"next", nullptr}}));
  auto projections = json(call("GET", "/admin/projections", "", true));
  EXPECT_EQ(projections["projections"][0]["name"], "cars");
  EXPECT_EQ(projections["projections"][0]["active_version"], 2);
}

TEST_F(ApiTest, AppendStatusesAndReadYourWrites) {
  auto first = append("s1", "any", {ev("a1", "car.created", {{"by", "X"}, {"color", "c"}})});
  ASSERT_EQ(first.status, 201u);
  EXPECT_EQ(json(first), (Json{{"stream_id", "s1"}, {"first_position", 1}, {"last_position", 1}, {"next_expected_version", 1}}));
  auto again = append("s1", "any", {ev("a1", "car.created", {{"by", "X"}, {"color", "c"}})});
  EXPECT_EQ(again.status, 200u) << "idempotent re-append";
  EXPECT_EQ(json(again)["first_position"], 1);
  auto conflict = append("s1", 5, {ev("a2", "car.repainted", {{"color", "d"}})});
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(json(conflict)["error"], "version_conflict");
  EXPECT_EQ(json(conflict)["actual_version"], 1);
  auto reused = append("other", "any", {ev("a1", "car.created", {{"by", "Y"}, {"color", "c"}})});
  EXPECT_EQ(reused.status, 409u);
  EXPECT_EQ(json(reused)["error"], "event_id_conflict");
  EXPECT_EQ(append("s1", "no_stream", {ev("a3", "x", Json::object())}).status, 409u);

  // Read-your-writes: the position from the append's answer.
  auto w = append("s1", 1, {ev("a4", "car.repainted", {{"color", "teal"}})});
  const auto pos = json(w)["last_position"].get<std::int64_t>();
  auto r = call("GET", "/cars/s1?min_position=" + std::to_string(pos));
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(json(r)["color"], "teal");
  EXPECT_GE(std::stoll(r.headers["x-projection-position"]), pos);
  EXPECT_EQ(call("GET", "/cars/s1?consistency=eventual").status, 200u);
}

// Point reads queue while at most two statements per projection run, and one statement answers
// the queue. Many concurrent readers against a writer: every strong answer must show at least the
// last repaint acknowledged before its request was sent, misses in a batch stay 404, and some
// statements must have answered several reads.
TEST_F(ApiTest, ConcurrentPointReadsShareStatementsAndNeverAnswerStale) {
  constexpr std::size_t kCars = 12;
  std::vector<std::atomic<int>> acked(kCars);
  for (std::size_t c = 0; c < kCars; ++c) {
    ASSERT_EQ(append("car" + std::to_string(c), "no_stream", {ev("create-" + std::to_string(c), "car.created", {{"by", "W"}, {"color", "v0"}})})
                  .status,
              201u);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, stale{0}, wrong{0};
  std::thread writer([&] {
    std::vector<int> version(kCars, 0);
    for (std::size_t i = 0; !stop; ++i) {
      const std::size_t c = i % kCars;
      const auto v = "v" + std::to_string(++version[c]);
      const auto r = append("car" + std::to_string(c), "any",
                            {ev("paint-" + std::to_string(c) + "-" + v, "car.repainted", {{"color", v}})});
      if (r.status != 201u) ++wrong;
      acked[c] = version[c];
      std::this_thread::sleep_for(2ms);
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 16; ++t) {
    readers.emplace_back([&, t] {
      for (std::size_t i = 0; !stop; ++i) {
        const std::size_t c = (static_cast<std::size_t>(t) * 7 + i) % kCars;
        if (i % 5 == 4) {  // a miss, batched with hits
          if (call("GET", "/cars/missing-" + std::to_string(c)).status != 404u) ++wrong;
          continue;
        }
        const int floor = acked[c];
        const auto r = call("GET", "/cars/car" + std::to_string(c));
        if (r.status != 200u) {
          ++wrong;
          continue;
        }
        const auto color = json(r)["color"].get<std::string>();
        if (json(r)["car_id"] != "car" + std::to_string(c) || std::stoi(color.substr(1)) < floor) ++stale;
        ++reads;
      }
    });
  }
  std::this_thread::sleep_for(3s);
  stop = true;
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_GT(reads, 200);
  EXPECT_EQ(stale, 0) << "a strong read answered older than a write acknowledged before it";
  EXPECT_EQ(wrong, 0);
  const auto metrics = call("GET", "/metrics").body;
  std::smatch m1, m2;
  ASSERT_TRUE(std::regex_search(metrics, m1, std::regex{"reproj_point_read_statements_total ([0-9]+)"}));
  ASSERT_TRUE(std::regex_search(metrics, m2, std::regex{"reproj_point_reads_total ([0-9]+)"}));
  EXPECT_LT(std::stoll(m1[1]), std::stoll(m2[1])) << "no statement answered more than one read";
  for (std::size_t c = 0; c < kCars; ++c) {
    EXPECT_EQ(json(call("GET", "/cars/car" + std::to_string(c)))["color"], "v" + std::to_string(acked[c]));
  }
}

namespace {
std::string many_events(int n) {
  Json events = Json::array();
  for (int i = 0; i < n; ++i) events.push_back({{"type", "a"}, {"data", Json::object()}});
  return Json{{"expected_version", "any"}, {"events", events}}.dump();
}
}  // namespace

TEST_F(ApiTest, BadInputGetsItsDocumentedStatusAndChangesNothing) {
  struct Case {
    std::string method, target, body;
    unsigned status;
  };
  const std::string long_id(201, 'x');
  const std::vector<Case> cases{
      {"POST", "/streams/s/events", "{not json", 400},
      {"POST", "/streams/s/events", "[]", 400},
      {"POST", "/streams/s/events", R"({"events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "maybe", "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": -1, "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": []})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": {}})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": 5, "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "a", "data": "x"}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "a"}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "a", "data": {}, "metadata": 3}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"event_id": 7, "type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "a", "data": {}}, {"type": "b", "data": []}]})", 400},
      {"POST", "/streams/" + long_id + "/events", R"({"expected_version": "any", "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/%00bad/events", R"({"expected_version": "any", "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/%ff%fe/events", R"({"expected_version": "any", "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", std::string(1100 * 1024, ' '), 413},
      {"POST", "/streams/s/events", std::string(100, '[') + std::string(100, ']'), 400},
      {"GET", "/cars/x?consistency=sometimes", "", 400},
      {"GET", "/cars/x?min_position=-1", "", 400},
      {"GET", "/cars/x?min_position=abc", "", 400},
      {"GET", "/cars/x?min_position=99999999999999999999999", "", 400},
      {"GET", "/cars/x?min_position=5000", "", 400},
      {"GET", "/cars?limit=0", "", 400},
      {"GET", "/cars?limit=1001", "", 400},
      {"GET", "/events?after=-5", "", 400},
      {"GET", "/nothing/here/at/all", "", 404},
      {"GET", "/trucks/1", "", 404},
      {"GET", "/cars/nope", "", 404},
      {"PUT", "/cars/x", "", 405},
      {"DELETE", "/streams/s/events", "", 405},
      {"GET", "/admin/rebuilds/abc", "", 401},
      // numbers out of range or of the wrong kind
      {"POST", "/streams/s/events", R"({"expected_version": 99999999999999999999, "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": 2147483648, "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": 1.5, "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": 1e30, "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": null, "events": [{"type": "a", "data": {}}]})", 400},
      {"GET", "/cars?limit=1e3", "", 400},
      {"GET", "/cars?limit=", "", 400},
      {"GET", "/cars/x?min_position=1.5", "", 400},
      {"GET", "/events?limit=-1", "", 400},
      {"GET", "/events?after=18446744073709551616", "", 400},
      {"GET", "/cars/x?consistency=STRONG", "", 400},
      // SQL metacharacters in every path and query parameter: plain data, never SQL
      {"GET", "/cars/x'%3B%20DROP%20TABLE%20reproj.events%3B--", "", 404},
      {"GET", "/customers/%22%20OR%201%3D1--", "", 404},
      {"GET", "/cars?after=%27%20OR%20%271%27%3D%271", "", 200},
      {"GET", "/cars/x?min_position=1%3B%20DELETE", "", 400},
      {"GET", "/events?after=0%20OR%201%3D1", "", 400},
      {"POST", "/admin/projections/cars'%3B--/rebuild", "{}", 401},
      {"GET", "/admin/rebuilds/1%3BDROP", "", 401},
      // text that cannot be stored or is not text
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "a", "data": {"x": "nul\u0000"}}]})", 400},
      {"POST", "/streams/s/events", "{\"expected_version\": \"any\", \"events\": [{\"type\": \"a\xff\", \"data\": {}}]}", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "a\u0001b", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"event_id": "", "type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"event_id": ")" + long_id + R"(", "type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"event_id": "d", "type": "a", "data": {}}, {"event_id": "d", "type": "a", "data": {}}]})", 400},
      {"POST", "/streams/%zz/events", R"({"expected_version": "any", "events": [{"type": "a", "data": {}}]})", 400},
      {"POST", "/streams/s/events", "null", 400},
      {"POST", "/streams/s/events", R"("just a string")", 400},
      {"POST", "/streams/s/events", "", 400},
      {"POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "a", "data": )" + std::string(70, '[') +
                                        std::string(70, ']') + "}]}", 400},
      {"POST", "/streams/s/events", many_events(1001), 400},
      // wrong methods
      {"PATCH", "/cars", "", 405},
      {"POST", "/cars/x", "{}", 405},
      {"GET", "/streams/s/events", "", 405},
      {"PUT", "/admin/rebuilds/1", "", 405},
  };
  for (const auto& c : cases) {
    // Appends carry a token (they need one by default; the bad input is what is tried here).
    auto r = call(c.method, c.target, c.body, c.method == "POST" && c.target.rfind("/streams/", 0) == 0);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target.substr(0, 80) << " -> " << r.body.substr(0, 200);
    auto body = Json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << c.target.substr(0, 80);
    if (c.status >= 400) {
      EXPECT_TRUE(body.contains("error") && body.contains("message")) << r.body;
    }
    if (c.status == 405) {
      EXPECT_FALSE(r.headers["allow"].empty()) << "405 without Allow";
    }
  }
  for (const char* body : {"not json", "[]", R"({"version": 0})", R"({"version": -1})", R"({"version": 1.5})",
                           R"({"version": 99999999999})"}) {
    auto r = call("POST", "/admin/projections/cars/rebuild", body, true);
    EXPECT_EQ(r.status, 400u) << body << " -> " << r.body;
  }
  EXPECT_EQ(json(call("GET", "/admin/rebuilds", "", true))["rebuilds"].size(), 0u) << "a refused request started a rebuild";
  EXPECT_EQ(store_->safe_tail(), 0) << "a refused request wrote events";
  std::cout << "bad requests tried: " << cases.size() + 6 << "\n";
  EXPECT_EQ(call("GET", "/healthz").status, 200u) << "the server stopped serving";
}

TEST_F(ApiTest, AdminRoutesNeedTheTokenAndManageRebuilds) {
  for (int i = 0; i < 40; ++i) append("c" + std::to_string(i), "any", {ev("e" + std::to_string(i), "car.created", {{"by", "A"}, {"color", "b"}})});
  EXPECT_EQ(call("GET", "/admin/projections").status, 401u);
  EXPECT_EQ(api::http_call(base_, "GET", "/admin/projections", "", {{"Authorization", "Bearer wrong"}}).status, 401u);
  EXPECT_EQ(api::http_call(base_, "GET", "/admin/projections", "", {{"Authorization", "Basic abc"}}).status, 401u);
  EXPECT_EQ(call("POST", "/admin/projections/cars/rebuild", "{}").status, 401u);
  EXPECT_EQ(call("POST", "/admin/projections/trucks/rebuild", "{}", true).status, 404u);
  EXPECT_EQ(call("POST", "/admin/projections/cars/rebuild", R"({"version": 9})", true).status, 404u);
  EXPECT_EQ(call("POST", "/admin/projections/cars/rebuild", R"({"version": "2"})", true).status, 400u);
  EXPECT_EQ(call("POST", "/admin/projections/cars/rollback", "", true).status, 409u) << "nothing retained yet";
  EXPECT_EQ(call("GET", "/admin/rebuilds/999", "", true).status, 404u);
  EXPECT_EQ(call("GET", "/admin/rebuilds/abc", "", true).status, 400u);

  hold_ = true;
  auto started = call("POST", "/admin/projections/cars/rebuild", "", true);
  ASSERT_EQ(started.status, 202u) << started.body;
  const auto id = json(started)["rebuild_id"].get<std::int64_t>();
  auto second = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true);
  EXPECT_EQ(second.status, 409u);
  EXPECT_EQ(json(second)["rebuild_id"], id);
  auto info = json(call("GET", "/admin/rebuilds/" + std::to_string(id), "", true));
  for (const char* key : {"rebuild_id", "projection", "version", "state", "position", "target", "events_per_second", "eta_seconds"}) {
    EXPECT_TRUE(info.contains(key)) << key;
  }
  auto projections = json(call("GET", "/admin/projections", "", true));
  EXPECT_EQ(projections["projections"][0]["rebuild"]["rebuild_id"], id);
  for (const char* key : {"name", "active_version", "watermark", "safe_tail", "lag", "state", "rebuild"}) {
    EXPECT_TRUE(projections["projections"][0].contains(key)) << key;
  }
  auto cancelled = call("DELETE", "/admin/rebuilds/" + std::to_string(id), "", true);
  EXPECT_EQ(cancelled.status, 200u);
  EXPECT_EQ(json(cancelled)["state"], "cancelled");
  hold_ = false;
  EXPECT_EQ(call("DELETE", "/admin/rebuilds/" + std::to_string(id), "", true).status, 409u);
  EXPECT_EQ(call("DELETE", "/admin/rebuilds/999", "", true).status, 404u);

  auto again = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(again.status, 202u);
  EXPECT_EQ(wait_rebuild(json(again)["rebuild_id"]), "done");
  auto back = call("POST", "/admin/projections/cars/rollback", "", true);
  EXPECT_EQ(back.status, 200u) << back.body;
  EXPECT_EQ(json(back)["active_version"], 1);
  EXPECT_EQ(call("GET", "/cars/c1").headers["x-projection-version"], "1");
  EXPECT_EQ(json(call("GET", "/admin/rebuilds", "", true))["rebuilds"].size(), 2u);
}

TEST_F(ApiTest, ListsPageByIdAndEventsPageByPosition) {
  for (int i = 0; i < 5; ++i) append("car" + std::to_string(i), "any", {ev("e" + std::to_string(i), "car.created", {{"by", "A"}, {"color", "b"}})});
  auto page1 = json(call("GET", "/cars?limit=2"));
  ASSERT_EQ(page1["items"].size(), 2u);
  EXPECT_EQ(page1["next"], "car1");
  auto page3 = json(call("GET", "/cars?limit=2&after=car3"));
  ASSERT_EQ(page3["items"].size(), 1u);
  EXPECT_EQ(page3["items"][0]["car_id"], "car4");
  EXPECT_TRUE(page3["next"].is_null());
  EXPECT_EQ(json(call("GET", "/customers"))["items"].size(), 0u);

  auto events = json(call("GET", "/events?after=1&limit=3"));
  ASSERT_EQ(events["events"].size(), 3u);
  EXPECT_EQ(events["events"][0]["global_position"], 2);
  EXPECT_EQ(events["next"], 4);
  for (const char* key : {"global_position", "event_id", "stream_id", "stream_version", "type", "data", "metadata", "recorded_at"}) {
    EXPECT_TRUE(events["events"][0].contains(key)) << key;
  }
  auto rest = json(call("GET", "/events?after=4"));
  EXPECT_EQ(rest["events"].size(), 1u);
  EXPECT_EQ(rest["next"], 5);
}

TEST_F(ApiTest, HealthReadinessMetricsDashboardAndOpenApi) {
  EXPECT_EQ(call("GET", "/healthz").status, 200u);
  ASSERT_TRUE(worker_->wait_caught_up(10s));
  auto ready = call("GET", "/readyz");
  EXPECT_EQ(ready.status, 200u) << ready.body;
  EXPECT_TRUE(json(ready).contains("safe_tail"));
  call("GET", "/cars/x");
  auto metrics = call("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200u);
  for (const char* series : {"reproj_events_applied_total{mode=\"worker\",projection=\"cars\"}", "reproj_projection_lag{",
                             "reproj_http_request_duration_seconds_bucket{route=\"/{projection}/{id}\",status=\"404\""}) {
    EXPECT_NE(metrics.body.find(series), std::string::npos) << series;
  }
  auto page = call("GET", "/admin");
  EXPECT_EQ(page.status, 200u);
  EXPECT_NE(page.headers["content-type"].find("text/html"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos) << "the dashboard must not load anything from outside";

  // The OpenAPI document and the route table describe the same routes.
  auto doc = json(call("GET", "/openapi.json"));
  // Each with the scope it needs (x-reproj-scope) as the route table enforces it (issue 40).
  std::set<std::tuple<std::string, std::string, std::string>> documented, routed;
  const std::regex param{R"(\{[^}]*\})"};
  for (const auto& [path, methods] : doc["paths"].items()) {
    for (const auto& [method, op] : methods.items()) {
      std::string m = method;
      std::transform(m.begin(), m.end(), m.begin(), ::toupper);
      documented.emplace(m, std::regex_replace(path, param, "{}"), op.value("x-reproj-scope", "(none)"));
      const bool is_public = op.value("x-reproj-scope", "") == "public";
      EXPECT_EQ(op.contains("security") && op["security"].empty(), is_public) << m << " " << path;
      if (!is_public) {
        EXPECT_TRUE(op["responses"].contains("401") && op["responses"].contains("403")) << m << " " << path;
      }
    }
  }
  for (const auto& route : api::route_table()) {
    const auto& method = route.method;
    const auto& pattern = route.pattern;
    std::vector<std::string> paths{pattern};
    if (pattern.rfind("/{projection}", 0) == 0) {  // one documented path per projection
      paths = {"/cars" + pattern.substr(13), "/customers" + pattern.substr(13)};
    }
    for (const auto& p : paths) {
      routed.emplace(method, std::regex_replace(p, param, "{}"), std::string{engine::access_name(route.access)});
    }
  }
  EXPECT_EQ(documented, routed);
}

TEST_F(ApiTest, ReadinessIsUnavailableWhenAProjectionStoppedUnderTheStopPolicy) {
  EXPECT_EQ(call("PUT", "/admin/projections/cars/poison_policy", R"({"poison_policy": "stop"})", true).status, 200u);
  append("c1", "any", {ev("ok", "car.created", {{"by", "A"}, {"color", "b"}})});
  insert_raw("bad", "c1", 2, "car.sold", "{}");  // the API would refuse it (422)
  EXPECT_EQ(call("GET", "/cars/c1").status, 200u) << "keeps serving what it has";
  EXPECT_EQ(call("GET", "/cars/c1").headers["x-projection-state"], "failed");
  auto ready = call("GET", "/readyz");
  EXPECT_EQ(ready.status, 503u);
  EXPECT_NE(ready.body.find("bad"), std::string::npos) << ready.body;
}

// What a raw connection got back: every status line in order, and whether the server closed it.
struct WireReply {
  std::vector<unsigned> statuses;
  std::string text;
  bool closed = false;
};

// Sends `chunks` over one raw connection, `gap` apart, then reads until the server closes or
// `wait` passes in silence.
WireReply wire(const std::string& base, const std::vector<std::string>& chunks,
               std::chrono::milliseconds gap = 0ms, std::chrono::milliseconds wait = 4s) {
  asio::io_context io;
  asio::ip::tcp::socket s{io};
  s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(base.substr(base.rfind(':') + 1)))});
  const timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  WireReply out;
  boost::system::error_code ec;
  for (const auto& c : chunks) {
    asio::write(s, asio::buffer(c), ec);
    if (ec) break;  // the server already gave up on us: read what it said
    std::this_thread::sleep_for(gap);
  }
  std::array<char, 65536> buf;
  while (true) {
    const auto n = s.read_some(asio::buffer(buf), ec);
    out.text.append(buf.data(), n);
    if (ec) {
      out.closed = ec == asio::error::eof || ec == asio::error::connection_reset;
      break;
    }
  }
  static const std::regex kStatus{R"(HTTP/1\.1 (\d{3}) )"};
  for (auto it = std::sregex_iterator(out.text.begin(), out.text.end(), kStatus); it != std::sregex_iterator(); ++it) {
    out.statuses.push_back(static_cast<unsigned>(std::stoi((*it)[1].str())));
  }
  return out;
}

TEST_F(ApiTest, WireLevelAbuseGetsItsStatusOrIsDroppedAndTheServerKeepsServing) {
  const std::string append_body = R"({"expected_version": "any", "events": [{"type": "a", "data": {}}]})";
  const auto post = [&](const std::string& length, const std::string& body) {
    return "POST /streams/s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string{test::kToken} +
           "\r\nContent-Type: application/json\r\nContent-Length: " + length +
           "\r\n\r\n" + body;
  };
  std::string many_headers = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10'000; ++i) many_headers += "X-H" + std::to_string(i) + ": v\r\n";
  many_headers += "\r\n";
  struct Case {
    std::string what;
    std::vector<std::string> chunks;
    std::vector<unsigned> statuses;  // in order; empty: dropped without an answer
    std::chrono::milliseconds gap = 0ms;
  };
  std::vector<std::string> drip;
  for (char c : post(std::to_string(append_body.size()), append_body)) drip.emplace_back(1, c);
  const std::vector<Case> cases{
      {"10,000 headers", {many_headers}, {431}},
      {"one 100 KiB header", {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100 << 10, 'v') + "\r\n\r\n"}, {431}},
      {"a 100 KiB target", {"GET /cars/" + std::string(100 << 10, 'c') + " HTTP/1.1\r\nHost: x\r\n\r\n"}, {431}},
      {"pipelined requests answered in order",
       {"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /cars/nope HTTP/1.1\r\nHost: x\r\n\r\n" + post("2", "{}") +
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
       {200, 404, 400, 200}},
      // The declared length wins: the first bytes are the body, the rest is not a request.
      {"a body larger than declared", {post("5", append_body)}, {400, 400}},
      {"a body shorter than declared, then silence", {post("500", append_body)}, {}},
      {"a slow-drip body (one byte per 25 ms, past the 2 s read timeout)", drip, {}, 25ms},
      {"a request line of garbage", {"HELLO\r\n\r\n"}, {400}},
      {"a header name with a space", {"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n"}, {400}},
      {"a bad chunk size", {"POST /streams/s/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}, {400}},
      {"two different Content-Lengths", {"POST /streams/s/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"}, {400}},
  };
  for (const auto& c : cases) {
    const auto r = wire(base_, c.chunks, c.gap);
    EXPECT_EQ(r.statuses, c.statuses) << c.what << ": " << r.text.substr(0, 300);
    EXPECT_TRUE(r.closed) << c.what << ": the connection was left open";
    if (!c.statuses.empty() && c.statuses.back() >= 400) {
      EXPECT_NE(r.text.find("\"error\""), std::string::npos) << c.what << ": no JSON error body";
    }
  }
  EXPECT_EQ(store_->safe_tail(), 0) << "an abusive request wrote events";
  EXPECT_EQ(call("GET", "/healthz").status, 200u) << "the server stopped serving";
  std::cout << "wire-level bad requests tried: " << cases.size() << "\n";
}

TEST_F(ApiTest, SilentClientIsDisconnectedAndOthersAreServed) {
  asio::io_context io;
  asio::ip::tcp::socket silent{io};
  silent.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(base_.substr(base_.rfind(':') + 1)))});
  asio::write(silent, asio::buffer(std::string{"GET /cars/x HTTP/1.1\r\nHost: x\r\n"}));  // never finishes
  EXPECT_EQ(call("GET", "/healthz").status, 200u) << "a silent client blocks others";
  std::this_thread::sleep_for(2500ms);  // read_timeout is 2 s in this fixture
  char byte;
  boost::system::error_code ec;
  silent.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << "still open: " << ec.message();
}

TEST_F(ApiTest, ARebuildOrRollbackThatWouldBreakASqlReaderAnswers409NamingTheObject) {
  auto seeded = append("hrxs21", "no_stream", {{{"type", "car.created"}, {"data", {{"by", "A"}, {"color", "b"}}}}});
  ASSERT_EQ(seeded.status, 201) << seeded.body;
  {
    pqxx::connection c{db_->url()};
    pqxx::work tx{c};
    tx.exec("CREATE TABLE public.orders (car_id text REFERENCES reproj_data.cars (car_id))");
    tx.commit();
  }
  auto refused = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(refused.status, 409) << refused.body;
  auto body = json(refused);
  EXPECT_EQ(body["error"], "dependent_objects");
  ASSERT_EQ(body["dependents"].size(), 1u) << refused.body;
  EXPECT_EQ(body["dependents"][0]["kind"], "foreign key");
  EXPECT_EQ(body["dependents"][0]["object"], "orders_car_id_fkey on public.orders");
  EXPECT_NE(body["message"].get<std::string>().find("references reproj_data.cars"), std::string::npos);
  EXPECT_EQ(json(call("GET", "/admin/rebuilds", "", true))["rebuilds"].size(), 0u) << "nothing recorded";

  auto bad = call("POST", "/admin/projections/cars/rebuild", R"({"version": 2, "drop_dependent_views": "yes"})", true);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("drop_dependent_views"), std::string::npos) << bad.body;
  auto bad_rollback = call("POST", "/admin/projections/cars/rollback", R"({"drop_dependent_views": 1})", true);
  EXPECT_EQ(bad_rollback.status, 400) << bad_rollback.body;
}

TEST_F(ApiTest, EventsFilterByStreamAndTypePageByPositionAndRefuseBadFilters) {
  const Json created{{"type", "car.created"}, {"data", {{"by", "A"}, {"color", "b"}}}};
  const Json repainted{{"type", "car.repainted"}, {"data", {{"color", "c"}}}};
  ASSERT_EQ(append("f1", "no_stream", {created, repainted}).status, 201);
  ASSERT_EQ(append("f2", "no_stream", {created}).status, 201);
  ASSERT_EQ(append("f1", 2, {repainted}).status, 201);
  auto types_and_streams = [&](const std::string& query) {
    auto r = call("GET", "/events?" + query);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    std::vector<std::string> out;
    const auto doc = json(r);  // kept: a range-for over json(r)["events"] would read a destroyed temporary
    for (const auto& e : doc["events"]) out.push_back(e["stream_id"].get<std::string>() + ":" + e["type"].get<std::string>());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(types_and_streams("stream_id=f1"), (V{"f1:car.created", "f1:car.repainted", "f1:car.repainted"}));
  EXPECT_EQ(types_and_streams("type=car.created"), (V{"f1:car.created", "f2:car.created"}));
  EXPECT_EQ(types_and_streams("stream_id=f1&type=car.repainted"), (V{"f1:car.repainted", "f1:car.repainted"}));
  EXPECT_EQ(types_and_streams("stream_id=nobody"), V{});
  // Pages: a full page continues after its last event; a short one at the tail.
  auto first = json(call("GET", "/events?stream_id=f1&type=car.repainted&limit=1"));
  ASSERT_EQ(first["events"].size(), 1u);
  EXPECT_EQ(first["next"], first["events"][0]["global_position"]);
  auto second = json(call("GET", "/events?stream_id=f1&type=car.repainted&limit=1&after=" + first["next"].dump()));
  ASSERT_EQ(second["events"].size(), 1u);
  EXPECT_GT(second["events"][0]["global_position"], first["events"][0]["global_position"]);
  auto last = json(call("GET", "/events?stream_id=f1&type=car.repainted&limit=1&after=" + second["next"].dump()));
  EXPECT_EQ(last["events"].size(), 0u);
  EXPECT_EQ(last["next"], store_->safe_tail());

  for (const std::string& bad : std::vector<std::string>{"stream_id=", "type=", "stream_id=a%01b", "type=%FF",
                                                          "stream_id=" + std::string(201, 'x')}) {
    auto r = call("GET", "/events?" + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_EQ(json(r)["error"], "bad_request") << bad;
  }
}

// GET /events reads the next full page ahead (api/event_pages): a pager racing writers must still
// see every event once, in order, and nothing past the tail it was answered at.
TEST_F(ApiTest, PagingTheLogWhileWritersAppendReturnsEveryEventOnceInOrder) {
  std::atomic<int> finished{0};
  std::vector<std::jthread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([this, w, &finished] {
      for (int i = 0; i < 60; ++i) {
        store_->append("pager-" + std::to_string(w) + "-" + std::to_string(i), engine::ExpectedVersion::any(),
                       {engine::NewEvent{std::nullopt, "car.created", {{"by", "A"}, {"color", "c"}}, {}}});
        std::this_thread::sleep_for(2ms);  // the pager reaches the tail often meanwhile
      }
      ++finished;
    });
  }
  std::vector<std::int64_t> seen;
  std::int64_t after = 0;
  for (int pages = 0; pages < 100'000; ++pages) {
    const bool all_written = finished == 4;  // before the page: then an empty page means drained
    const auto tail_before = store_->safe_tail();
    const auto page = json(call("GET", "/events?limit=7&after=" + std::to_string(after)));
    for (const auto& e : page["events"]) seen.push_back(e["global_position"].get<std::int64_t>());
    after = page["next"].get<std::int64_t>();
    // A short page says it reached the tail: no staler than the log when it was asked for.
    if (page["events"].size() < 7) {
      ASSERT_GE(after, tail_before) << "a page at the tail answered from before the request";
    }
    if (page["events"].empty() && all_written) break;
  }
  writers.clear();
  const auto log = store_->read(0, store_->safe_tail(), 100'000);
  std::vector<std::int64_t> expected;
  for (const auto& e : log) expected.push_back(e.global_position);
  EXPECT_EQ(expected.size(), 240u);
  EXPECT_EQ(seen, expected) << "paged " << seen.size() << " events, the log holds " << expected.size();
  // Once more over the written log: full pages, each read ahead while the one before is answered.
  seen.clear();
  after = 0;
  for (int pages = 0; pages < 1000; ++pages) {
    const auto page = json(call("GET", "/events?limit=7&after=" + std::to_string(after)));
    for (const auto& e : page["events"]) seen.push_back(e["global_position"].get<std::int64_t>());
    if (page["events"].empty()) break;
    after = page["next"].get<std::int64_t>();
  }
  EXPECT_EQ(seen, expected);
  EXPECT_GT(pages_->hits(), 0) << "no page was answered from a read ahead";
}

TEST_F(ApiTest, AdminSeriesHistoryFieldsAndRollbackVersionForTheDashboard) {
  EXPECT_EQ(call("GET", "/admin/series").status, 401);
  ASSERT_EQ(append("s1", "no_stream", {{{"type", "car.created"}, {"data", {{"by", "A"}, {"color", "b"}}}}}).status, 201);
  std::this_thread::sleep_for(500ms);  // the fixture samples every 200 ms
  auto series = json(call("GET", "/admin/series", "", true));
  EXPECT_EQ(series["interval_ms"], 200);
  ASSERT_GE(series["points"].size(), 2u) << series.dump();
  const auto& point = series["points"].back();
  EXPECT_TRUE(point["lag"].contains("cars") && point["lag"].contains("customers")) << point.dump();
  EXPECT_EQ(point["safe_tail"], store_->safe_tail());

  auto projections = json(call("GET", "/admin/projections", "", true))["projections"];
  for (const auto& p : projections) EXPECT_TRUE(p["rollback_version"].is_null()) << p.dump();
  auto started = json(call("POST", "/admin/projections/cars/rebuild", R"({"version": 2})", true));
  ASSERT_EQ(wait_rebuild(started["rebuild_id"]), "done");
  auto info = json(call("GET", "/admin/rebuilds/" + started["rebuild_id"].dump(), "", true));
  EXPECT_EQ(info["from_version"], 1);
  EXPECT_TRUE(std::regex_match(info["started_at"].get<std::string>(),
                               std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"}))
      << info.dump();
  EXPECT_TRUE(info["finished_at"].is_string()) << info.dump();
  EXPECT_GT(info["duration_seconds"].get<double>(), 0.0);
  const auto after = json(call("GET", "/admin/projections", "", true));
  for (const auto& p : after["projections"]) {
    if (p["name"] == "cars") {
      EXPECT_EQ(p["rollback_version"], 1) << p.dump();
    }
  }
}
