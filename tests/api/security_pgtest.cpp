// Issue 40: scoped tokens, the --auth modes, the audit trail and the limits, against a real server
// on the throwaway cluster. Every refusal is checked to have written nothing.
#include <sys/socket.h>

#include <regex>

#include "api/errors.hpp"
#include "engine/connection_pool_run.hpp"
#include "tests/support/api_fixture.hpp"

using namespace reproj;
using namespace reproj::test;

namespace {

// A concrete target for a route pattern: the projection is cars, the stream "s", anything else "1".
std::string target_of(const std::string& pattern) {
  std::string t = std::regex_replace(pattern, std::regex{R"(\{projection\})"}, "cars");
  t = std::regex_replace(t, std::regex{R"(\{stream_id\})"}, "s");
  t = std::regex_replace(t, std::regex{R"(\{name\})"}, "cars");
  return std::regex_replace(t, std::regex{R"(\{[a-z_]+\})"}, "1");
}

// The scope that permits a route's target and nothing more.
std::string exact_scope(engine::Access access) {
  switch (access) {
    case engine::Access::kRead: return "read";
    case engine::Access::kReadProjection: return "read:cars";
    case engine::Access::kAppend: return "append:s";
    default: return "admin";
  }
}

class SecurityTest : public ApiTest {
 protected:
  void SetUp() override {
    auth_options_.mode = api::AuthMode::kRequired;
    ApiTest::SetUp();
  }
  std::string create(const std::string& name, const std::vector<std::string>& scopes) {
    const auto r = call("POST", "/admin/tokens", Json{{"name", name}, {"scopes", scopes}}.dump(), true);
    EXPECT_EQ(r.status, 201u) << r.body;
    return json(r)["token"];
  }
  std::int64_t count(const std::string& sql) {
    return pool_->run([&](pqxx::connection& c) { return pqxx::nontransaction{c}.exec1(sql)[0].as<std::int64_t>(); });
  }
  static std::string an_append() {
    return R"({"expected_version": "any", "events": [{"type": "car.created", "data": {"by": "A", "color": "b"}}]})";
  }
};

TEST_F(SecurityTest, NoRouteIsReachableWithoutItsScope) {
  // Walks the route table: every route but the public ones answers 401 without a token and 403 with
  // a token whose only scope names another projection; with the scope it needs, neither.
  const auto other = create("other", {"read:customers"});
  std::map<std::string, std::string> exact;
  int walked = 0;
  for (const auto& route : api::route_table()) {
    const std::string target = target_of(route.pattern);
    const std::string body = route.method == "GET" || route.method == "DELETE" ? "" : "{}";
    const auto anonymous = call_as("", route.method, target, body);
    const auto wrong = call_as(other, route.method, target, body);
    if (route.access == engine::Access::kPublic) {
      EXPECT_NE(anonymous.status, 401u) << route.method << " " << target;
      continue;
    }
    ++walked;
    EXPECT_EQ(anonymous.status, 401u) << route.method << " " << target << " -> " << anonymous.body;
    EXPECT_EQ(json(anonymous)["error"], "unauthorized") << route.method << " " << target;
    EXPECT_EQ(wrong.status, 403u) << route.method << " " << target << " -> " << wrong.body;
    EXPECT_NE(json(wrong)["message"].get<std::string>().find("lacks scope"), std::string::npos) << wrong.body;
    const auto scope = exact_scope(route.access);
    if (!exact.contains(scope)) exact[scope] = create("exact-" + std::to_string(exact.size()), {scope});
    if (route.access == engine::Access::kAdmin) continue;  // admin actions with "{}" are tried below
    const auto allowed = call_as(exact[scope], route.method, target, route.access == engine::Access::kAppend ? an_append() : body);
    EXPECT_NE(allowed.status, 401u) << route.method << " " << target;
    EXPECT_NE(allowed.status, 403u) << route.method << " " << target << " -> " << allowed.body;
  }
  EXPECT_GE(walked, 40);
  EXPECT_EQ(count("SELECT count(*) FROM reproj.events WHERE stream_id <> 's'"), 0) << "a refused request wrote";
  EXPECT_EQ(count("SELECT count(*) FROM reproj.events"), 1) << "only the allowed append wrote";
  EXPECT_EQ(count("SELECT count(*) FROM reproj.rebuilds"), 0) << "a refused request started a rebuild";
}

TEST_F(SecurityTest, AppendPrefixesAndProjectionReadsAreEnforced) {
  const auto orders = create("orders-writer", {"append:order-", "read:cars"});
  EXPECT_EQ(call_as(orders, "POST", "/streams/order-1/events", an_append()).status, 201u);
  const auto refused = call_as(orders, "POST", "/streams/ord/events", an_append());
  EXPECT_EQ(refused.status, 403u) << refused.body;
  EXPECT_EQ(call_as(orders, "POST", "/streams/invoice-1/events", an_append()).status, 403u);
  EXPECT_EQ(call_as(orders, "GET", "/cars/order-1").status, 200u);
  EXPECT_EQ(call_as(orders, "GET", "/customers/x").status, 403u);
  EXPECT_EQ(call_as(orders, "GET", "/events").status, 403u) << "the log needs read, not read:cars";
  EXPECT_EQ(call_as(orders, "GET", "/admin/projections").status, 403u);
  EXPECT_EQ(count("SELECT count(*) FROM reproj.events"), 1);
}

TEST_F(SecurityTest, HostileRequestsAreRefusedAndWriteNothing) {
  const auto reader = create("reader", {"read"});
  const auto revoked = create("gone", {"append", "admin"});
  ASSERT_EQ(call("DELETE", "/admin/tokens/gone", "", true).status, 204u);
  const auto expiring = create("expiring", {"append"});
  pool_->run([](pqxx::connection& c) {
    pqxx::nontransaction{c}.exec("UPDATE reproj.tokens SET expires_at = now() - interval '1 second' WHERE name = 'expiring'");
  });
  auth_->refresh();
  struct Case {
    std::string what;
    std::map<std::string, std::string> headers;
    unsigned status;
  };
  const std::vector<Case> cases{
      {"no token", {}, 401},
      {"wrong scope", {{"Authorization", "Bearer " + reader}}, 403},
      {"revoked", {{"Authorization", "Bearer " + revoked}}, 401},
      {"expired", {{"Authorization", "Bearer " + expiring}}, 401},
      {"unknown", {{"Authorization", "Bearer rpj_notatokenatall"}}, 401},
      {"empty bearer", {{"Authorization", "Bearer "}}, 401},
      {"basic", {{"Authorization", "Basic YWRtaW46YWRtaW4="}}, 401},
      {"bearer twice", {{"Authorization", "Bearer " + std::string{kToken} + " Bearer x"}}, 401},
      {"the admin token plus a byte", {{"Authorization", "Bearer " + std::string{kToken} + "x"}}, 401},
      {"oversize header", {{"Authorization", "Bearer " + std::string(20000, 'a')}}, 431},
  };
  std::set<std::string> unauthorized_bodies;
  for (const auto& c : cases) {
    for (const auto& [method, target, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"POST", "/streams/s/events", an_append()},
             {"POST", "/admin/projections/cars/rebuild", R"({"version": 2})"},
             {"POST", "/admin/tokens", R"({"name": "sneaky", "scopes": ["admin"]})"}}) {
      const auto r = api::http_call(base_, method, target, body, c.headers);
      EXPECT_EQ(r.status, c.status) << c.what << ": " << method << " " << target << " -> " << r.body;
      const auto j = Json::parse(r.body, nullptr, false);
      ASSERT_TRUE(j.is_object() && j.contains("error") && j.contains("message")) << c.what << ": " << r.body;
      if (r.status == 401) {
        EXPECT_EQ(r.headers.count("www-authenticate") ? r.headers.at("www-authenticate") : "", "Bearer realm=\"reproj\"");
        if (c.headers.contains("Authorization") && c.what != "basic" && c.what != "empty bearer") {
          unauthorized_bodies.insert(r.body);
        }
      }
    }
  }
  EXPECT_EQ(unauthorized_bodies.size(), 1u) << "revoked, expired and unknown tokens must be answered alike";
  EXPECT_EQ(count("SELECT count(*) FROM reproj.events"), 0) << "a refused append wrote";
  EXPECT_EQ(count("SELECT count(*) FROM reproj.rebuilds"), 0) << "a refused request started a rebuild";
  EXPECT_EQ(count("SELECT count(*) FROM reproj.tokens WHERE name = 'sneaky'"), 0) << "a refused request made a token";
  EXPECT_EQ(call("GET", "/healthz").status, 200u);
  // Failures are counted by reason, and no secret reaches the metrics.
  const auto metrics = call("GET", "/metrics", "", true).body;
  EXPECT_NE(metrics.find(R"(reproj_auth_failures_total{reason="invalid"})"), std::string::npos);
  EXPECT_NE(metrics.find(R"(reproj_auth_failures_total{reason="forbidden"})"), std::string::npos);
  EXPECT_EQ(metrics.find(revoked), std::string::npos);
}

TEST_F(SecurityTest, TokensAreShownOnceStoredHashedAndRevokedOnEveryInstance) {
  const auto created = call("POST", "/admin/tokens", R"({"name": "ci", "scopes": ["append:ci-", "read"]})", true);
  ASSERT_EQ(created.status, 201u) << created.body;
  const std::string secret = json(created)["token"];
  EXPECT_EQ(json(created)["scopes"], Json::array({"append:ci-", "read"}));
  EXPECT_EQ(call("POST", "/admin/tokens", R"({"name": "ci", "scopes": ["read"]})", true).status, 409u);
  EXPECT_EQ(call("POST", "/admin/tokens", R"({"name": "bad", "scopes": ["write"]})", true).status, 400u);
  EXPECT_EQ(call("POST", "/admin/tokens", R"({"name": "bad", "scopes": []})", true).status, 400u);
  EXPECT_EQ(call("POST", "/admin/tokens", R"({"name": "bad name", "scopes": ["read"]})", true).status, 400u);
  EXPECT_EQ(call("POST", "/admin/tokens", R"({"name": "old", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"})", true).status,
            400u);
  const auto listed = call("GET", "/admin/tokens", "", true);
  ASSERT_EQ(listed.status, 200u);
  EXPECT_EQ(listed.body.find(secret), std::string::npos) << "a secret in the list";
  EXPECT_FALSE(json(listed)["items"][0].contains("token"));
  EXPECT_EQ(count("SELECT count(*) FROM reproj.tokens t WHERE position('" + secret + "' IN t::text) > 0"), 0)
      << "the secret is stored in clear";
  EXPECT_EQ(call_as(secret, "POST", "/streams/ci-1/events", an_append()).status, 201u);
  // A second instance on the same database learns of the revocation within a second.
  api::Authorizer other{auth_options_, tokens_.get(), nullptr};
  api::Request req{api::http::verb::post, "/streams/ci-1/events", 11};
  req.set(api::http::field::authorization, "Bearer " + secret);
  EXPECT_NO_THROW(other.authorize(req, {}, engine::Access::kAppend, "ci-1"));
  ASSERT_EQ(call("DELETE", "/admin/tokens/ci", "", true).status, 204u);
  const auto revoked_at = std::chrono::steady_clock::now();
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() - revoked_at < 2s) {
    try {
      other.authorize(req, {}, engine::Access::kAppend, "ci-1");
      std::this_thread::sleep_for(5ms);
    } catch (const api::HttpError& e) {
      refused = e.status() == api::http::status::unauthorized;
    }
  }
  EXPECT_TRUE(refused);
  EXPECT_LT(std::chrono::steady_clock::now() - revoked_at, 1s);
  EXPECT_EQ(call_as(secret, "POST", "/streams/ci-1/events", an_append()).status, 401u);
  EXPECT_EQ(call("DELETE", "/admin/tokens/ci", "", true).status, 404u);
}

TEST_F(SecurityTest, AdminActionsAreAuditedWithWhoWhatAndOutcomeButNoSecret) {
  const auto ops = create("ops", {"admin"});
  ASSERT_EQ(call_as(ops, "PUT", "/admin/projections/cars/poison_policy", R"({"poison_policy": "stop"})").status, 200u);
  ASSERT_EQ(call_as(ops, "POST", "/admin/projections/cars/rebuild", R"({"version": 9})").status, 404u);
  ASSERT_EQ(call("POST", "/admin/tokens", R"({"name": "ops", "scopes": ["read"]})", true).status, 409u);
  const auto hook = call_as(ops, "PUT", "/admin/reactors/hook",
                            R"({"url": "http://127.0.0.1:9/h", "secret": "hmac-key-never-logged", "events": ["car.created"]})");
  ASSERT_LT(hook.status, 300u) << hook.body;
  ASSERT_EQ(call_as(ops, "GET", "/admin/projections").status, 200u);  // a read: not an action
  const auto audit = call_as(ops, "GET", "/admin/audit?limit=100");
  ASSERT_EQ(audit.status, 200u) << audit.body;
  EXPECT_EQ(audit.body.find("hmac-key-never-logged"), std::string::npos);
  EXPECT_EQ(audit.body.find(ops), std::string::npos) << "a token's secret in the trail";
  std::vector<std::tuple<std::string, std::string, std::string, std::string>> seen;
  const auto trail = json(audit);
  for (const auto& item : trail["items"]) {
    for (const char* key : {"id", "at", "token", "action", "object", "outcome"}) EXPECT_TRUE(item.contains(key)) << item;
    seen.emplace_back(item["token"], item["action"], item["object"], item["outcome"]);
  }
  const std::vector<std::tuple<std::string, std::string, std::string, std::string>> expected{
      {"admin", "token.create", "ops", "ok"},
      {"ops", "projection.poison_policy", "cars", "ok"},
      {"ops", "projection.rebuild", "cars", "error: unknown_projection"},
      {"admin", "token.create", "", "error: conflict"},
      {"ops", "reactor.put", "hook", "ok"},
  };
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(count("SELECT count(*) FROM reproj.audit WHERE outcome = 'pending'"), 0) << "an action left unfinished";
  // Paging: after the first item, the rest.
  const auto first = json(call_as(ops, "GET", "/admin/audit?limit=1"));
  ASSERT_EQ(first["items"].size(), 1u);
  ASSERT_FALSE(first["next"].is_null());
  const auto rest = json(call_as(ops, "GET", "/admin/audit?limit=100&after=" + first["next"].get<std::string>()));
  EXPECT_EQ(rest["items"].size(), expected.size() - 1);
}

class RateLimitTest : public SecurityTest {
 protected:
  void SetUp() override {
    auth_options_.limits.read = 5;
    max_connections_per_client_ = 4;
    SecurityTest::SetUp();
  }
};

TEST_F(RateLimitTest, ARunawayClientGets429WithRetryAfterAndOthersGoOn) {
  const auto noisy = create("noisy", {"read"});
  const auto quiet = create("quiet", {"read"});
  unsigned limited = 0;
  api::ClientReply last;
  for (int i = 0; i < 20; ++i) {
    auto r = call_as(noisy, "GET", "/cars/x");
    if (r.status == 429) {
      ++limited;
      last = r;
    }
  }
  EXPECT_GE(limited, 10u);
  EXPECT_EQ(json(last)["error"], "rate_limited");
  EXPECT_FALSE(last.headers["retry-after"].empty());
  EXPECT_EQ(call_as(quiet, "GET", "/cars/x").status, 404u) << "another token is not held up";
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(call_as(noisy, "GET", "/cars/x").status, 404u) << "the bucket refills";
}

TEST_F(RateLimitTest, OneAddressCannotTakeEveryConnection) {
  std::vector<int> held;
  const auto port = static_cast<std::uint16_t>(std::stoi(base_.substr(base_.rfind(':') + 1)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    held.push_back(fd);
  }
  std::this_thread::sleep_for(100ms);
  const auto refused = call("GET", "/healthz");
  EXPECT_EQ(refused.status, 429u) << refused.body;
  EXPECT_EQ(json(refused)["error"], "too_many_connections");
  for (int fd : held) ::close(fd);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(call("GET", "/healthz").status, 200u);
}

class OpenReadsTest : public ApiTest {};  // the default mode

TEST_F(OpenReadsTest, ReadsNeedNoTokenButAppendsAndAdminDo) {
  EXPECT_EQ(call("GET", "/cars/x").status, 404u);
  EXPECT_EQ(call("GET", "/events").status, 200u);
  EXPECT_EQ(call("POST", "/streams/s/events", R"({"expected_version": "any", "events": [{"type": "a", "data": {}}]})").status,
            401u);
  EXPECT_EQ(call("GET", "/admin/projections").status, 401u);
  EXPECT_EQ(call_as("rpj_unknown", "GET", "/cars/x").status, 401u) << "a bad token is refused even where none is needed";
  EXPECT_EQ(call("GET", "/readyz").status == 401u, false);
}

}  // namespace
