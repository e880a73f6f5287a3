// The reactor's pure parts: retry schedule, circuit breaker, URL checks, the signature.
#include <gtest/gtest.h>

#include "api/reactors/delivery_policy.hpp"
#include "api/reactors/signature.hpp"
#include "api/reactors/webhook_url.hpp"
#include "engine/errors.hpp"

namespace reproj::api {
namespace {

using namespace std::chrono_literals;

TEST(DeliveryPolicy, ClassifiesAnswers) {
  EXPECT_EQ(classify({200, "", {}}), Verdict::kAcknowledged);
  EXPECT_EQ(classify({204, "", {}}), Verdict::kAcknowledged);
  for (unsigned s : {0u, 408u, 429u, 500u, 502u, 503u}) EXPECT_EQ(classify({s, "x", {}}), Verdict::kRetry) << s;
  for (unsigned s : {301u, 400u, 401u, 404u, 410u, 422u}) EXPECT_EQ(classify({s, "", {}}), Verdict::kGiveUp) << s;
}

TEST(DeliveryPolicy, BacksOffExponentiallyWithJitterUpToTheCap) {
  engine::ReactorConfig c;  // 1 s first, 60 s cap
  EXPECT_EQ(retry_delay(c, 1, {}, 0.5), 1000ms);
  EXPECT_EQ(retry_delay(c, 2, {}, 0.5), 2000ms);
  EXPECT_EQ(retry_delay(c, 4, {}, 0.5), 8000ms);
  EXPECT_EQ(retry_delay(c, 30, {}, 0.5), 60000ms);
  EXPECT_EQ(retry_delay(c, 1, {}, 0.0), 800ms);
  EXPECT_EQ(retry_delay(c, 1, {}, 0.999), 1200ms);
  EXPECT_EQ(retry_delay(c, 1, 7000ms, 0.5), 7000ms) << "Retry-After wins";
  EXPECT_EQ(parse_retry_after("7"), 7000ms);
  EXPECT_EQ(parse_retry_after("999999"), 3600000ms);
  EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  EXPECT_FALSE(parse_retry_after("-1"));
}

TEST(DeliveryPolicy, CircuitOpensHalfOpensAndClosesWithLongerCooldowns) {
  CircuitBreaker b;
  b.configure(3, 1000ms);
  const auto t0 = Clock::now();
  b.on_failure(t0);
  b.on_failure(t0);
  EXPECT_EQ(b.state(t0), CircuitBreaker::State::kClosed);
  b.on_failure(t0);
  EXPECT_EQ(b.state(t0), CircuitBreaker::State::kOpen);
  EXPECT_EQ(b.blocked_until(t0), t0 + 1000ms);
  EXPECT_EQ(b.state(t0 + 1000ms), CircuitBreaker::State::kHalfOpen);
  b.on_failure(t0 + 1000ms);  // the probe failed
  EXPECT_EQ(b.blocked_until(t0 + 1000ms), t0 + 3000ms) << "twice the cooldown";
  b.on_failure(t0 + 3000ms);
  EXPECT_EQ(b.blocked_until(t0 + 3000ms), t0 + 7000ms);
  b.on_success();
  EXPECT_EQ(b.state(t0 + 7000ms), CircuitBreaker::State::kClosed);
  EXPECT_EQ(b.consecutive_failures(), 0);
  b.on_failure(t0);
  EXPECT_EQ(b.state(t0), CircuitBreaker::State::kClosed) << "counting starts again";
}

TEST(CircuitBreaker, AFailureSentBeforeItOpenedIsNotAFailedProbe) {
  CircuitBreaker b;
  b.configure(2, 1000ms);
  const auto t0 = Clock::now();
  b.on_failure(t0, t0);
  b.on_failure(t0 + 10ms, t0);
  ASSERT_EQ(b.state(t0 + 10ms), CircuitBreaker::State::kOpen);
  b.on_failure(t0 + 20ms, t0 + 1ms);  // in flight when it opened
  EXPECT_EQ(b.blocked_until(t0 + 20ms), t0 + 1010ms) << "the cooldown is not doubled";
  b.on_failure(t0 + 1100ms, t0 + 1050ms);  // the probe
  EXPECT_EQ(b.blocked_until(t0 + 1100ms), t0 + 3100ms);
}

TEST(WebhookUrl, AcceptsAbsoluteHttpAndHttpsUrlsOnly) {
  const auto u = parse_webhook_url("http://127.0.0.1:9000/hook?x=1");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "9000");
  EXPECT_EQ(u.target, "/hook?x=1");
  EXPECT_EQ(parse_webhook_url("http://example.com").target, "/");
  EXPECT_EQ(parse_webhook_url("http://example.com").port, "80");
  EXPECT_EQ(parse_webhook_url("http://[::1]:81/a").host, "::1");
  EXPECT_FALSE(u.tls);
  const auto s = parse_webhook_url("https://hooks.example.com/in");
  EXPECT_TRUE(s.tls);
  EXPECT_EQ(s.port, "443");
  EXPECT_EQ(s.host, "hooks.example.com");
  EXPECT_EQ(parse_webhook_url("https://h:8443").port, "8443");
  for (const char* bad : {"ftp://x/", "https://", "HTTPS://h/", "/relative", "example.com/x", "http://", "http://:80/",
                          "http://h:0/", "http://h:65536/", "http://h:x/", "http://u:p@h/", "http://h/a b",
                          "http://h/#frag", ""}) {
    EXPECT_THROW(parse_webhook_url(bad), engine::InvalidInput) << bad;
  }
}

TEST(Signature, IsHmacSha256InLowerCaseHex) {
  // RFC 4231, test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ReactorConfig, MatchesTypesPrefixesAndEverything) {
  auto c = engine::ReactorConfig::from_json({{"url", "http://h/"}, {"events", {"car.sold", "customer.*"}}});
  EXPECT_TRUE(c.matches("car.sold"));
  EXPECT_FALSE(c.matches("car.sold.twice"));
  EXPECT_TRUE(c.matches("customer.renamed"));
  EXPECT_FALSE(c.matches("customer"));
  EXPECT_FALSE(c.matches("car.registered"));
  EXPECT_EQ(engine::ReactorConfig::from_json(c.to_json()), c);
  EXPECT_TRUE(engine::ReactorConfig::from_json({{"url", "u"}, {"events", {"*"}}}).matches("anything"));
}

}  // namespace
}  // namespace reproj::api
