// Issue 42: reactors deliver to https:// receivers (tests/support/receiver.hpp over TLS) with
// certificates made by the openssl command (tests/support/make_certs.sh): a good one verified
// against the reactor's ca_file, by IP address and by name (SNI); an expired one, one for another
// host, one from a CA the reactor does not trust, each a failed delivery with a clear last_error
// and nothing skipped; a receiver that asks for a client certificate.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "api/reactors/signature.hpp"
#include "tests/support/reactor_fixture.hpp"

namespace reproj::test {
namespace {

class ReactorHttpsTest : public ReactorTest {
 protected:
  static void SetUpTestSuite() {
    certs_ = std::filesystem::temp_directory_path() / ("reproj-reactor-certs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(certs_);
    const auto command = std::string{REPROJ_SOURCE_DIR} + "/tests/support/make_certs.sh " + certs_.string();
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(certs_); }
  static std::string cert(const std::string& name) { return (certs_ / name).string(); }

  void SetUp() override {
    ReactorTest::SetUp();
    import_lines(order_lines(5));
  }
  static std::string order_lines(int count) {
    std::string out;
    for (int i = 0; i < count; ++i) {
      out += Json{{"event_id", "ev-" + std::to_string(i)}, {"stream_id", "s"}, {"type", "order.placed"}, {"data", {{"n", i}}}}
                 .dump() +
             "\n";
    }
    return out;
  }
  Json hook(const std::string& url, const std::string& ca = cert("ca.pem")) {
    Json j = {{"url", url}, {"events", {"*"}}, {"start", "beginning"}, {"retry_initial_ms", 50},
              {"retry_max_ms", 200}, {"max_attempts", 1000}, {"circuit_failures", 1000}};
    if (!ca.empty()) j["ca_file"] = ca;
    return j;
  }
  // Waits until `name` shows an error; returns it.
  std::string error_of(const std::string& name) {
    const auto until = std::chrono::steady_clock::now() + 20s;
    Json r;
    while (std::chrono::steady_clock::now() < until) {
      r = reactor(name);
      if (r["last_error"].is_string()) return r["last_error"];
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << name << " showed no error: " << r.dump();
    return "";
  }

  static inline std::filesystem::path certs_;
};

TEST_F(ReactorHttpsTest, DeliversToAnHttpsReceiverByAddressAndByName) {
  Receiver https{cert("server.pem"), cert("server.key")};
  ASSERT_EQ(put_reactor("by-ip", hook(https.url())).status, 201u);
  ASSERT_EQ(put_reactor("by-name", hook(https.url("/hook", "localhost"))).status, 201u);
  Json signed_hook = hook(https.url());
  signed_hook["secret"] = "s3cret";
  ASSERT_EQ(put_reactor("signed", signed_hook).status, 201u);
  start_runner();
  EXPECT_EQ(wait_drained("by-ip", 30s)["delivered"], 5);
  EXPECT_EQ(wait_drained("by-name", 30s)["delivered"], 5);
  EXPECT_EQ(wait_drained("signed", 30s)["delivered"], 5);
  EXPECT_EQ(https.acknowledged_count(), 15u);
  EXPECT_EQ(https.failed_handshakes(), 0u);
  EXPECT_EQ(https.server_names(), (std::set<std::string>{"", "localhost"})) << "SNI for a name, none for an address";
  EXPECT_LE(https.connections(), 3u * 8u) << "connections are kept alive across deliveries";
  for (const auto& h : https.hits()) {
    if (h.key.rfind("signed:", 0) == 0) {
      EXPECT_EQ(h.signature, "sha256=" + api::hmac_sha256_hex("s3cret", h.body));
    }
  }
}

TEST_F(ReactorHttpsTest, ACertificateThatDoesNotVerifyIsAFailedDeliveryWithItsReason) {
  Receiver expired{cert("expired.pem"), cert("expired.key")};
  Receiver other_host{cert("otherhost.pem"), cert("otherhost.key")};
  Receiver good{cert("server.pem"), cert("server.key")};
  ASSERT_EQ(put_reactor("expired", hook(expired.url())).status, 201u);
  ASSERT_EQ(put_reactor("wrong-host", hook(other_host.url())).status, 201u);
  ASSERT_EQ(put_reactor("other-ca", hook(good.url("/hook", "127.0.0.1"), cert("other-ca.pem"))).status, 201u);
  ASSERT_EQ(put_reactor("system-store", hook(good.url(), "")).status, 201u);
  start_runner();
  EXPECT_NE(error_of("expired").find("certificate has expired"), std::string::npos) << error_of("expired");
  EXPECT_NE(error_of("wrong-host").find("mismatch"), std::string::npos) << error_of("wrong-host");
  EXPECT_NE(error_of("other-ca").find("certificate refused"), std::string::npos) << error_of("other-ca");
  EXPECT_NE(error_of("system-store").find("certificate refused"), std::string::npos) << error_of("system-store");
  std::this_thread::sleep_for(500ms);
  for (const char* name : {"expired", "wrong-host", "other-ca", "system-store"}) {
    const auto r = reactor(name);
    EXPECT_EQ(r["position"], 0) << name << ": nothing skipped";
    EXPECT_EQ(r["delivered"], 0) << name;
    EXPECT_EQ(r["state"], "running") << name << ": still trying";
  }
  EXPECT_TRUE(expired.hits().empty() && other_host.hits().empty() && good.hits().empty()) << "no request got through";
  EXPECT_GT(expired.failed_handshakes(), 1u) << "retried";
}

TEST_F(ReactorHttpsTest, AReceiverThatAsksForAClientCertificateGetsOne) {
  Receiver mutual{cert("server.pem"), cert("server.key"), cert("ca.pem")};
  ASSERT_EQ(put_reactor("anonymous", hook(mutual.url())).status, 201u);
  Json with_cert = hook(mutual.url());
  with_cert["client_cert_file"] = cert("ops.pem");
  with_cert["client_key_file"] = cert("ops.key");
  ASSERT_EQ(put_reactor("with-cert", with_cert).status, 201u);
  with_cert["client_key_file"] = cert("nobody.key");
  const auto mismatched = put_reactor("mismatched", with_cert);
  EXPECT_EQ(mismatched.status, 400u);
  EXPECT_NE(mismatched.body.find("client_key_file"), std::string::npos) << mismatched.body;
  EXPECT_NE(mismatched.body.find("mismatch"), std::string::npos) << mismatched.body;
  start_runner();
  EXPECT_EQ(wait_drained("with-cert", 30s)["delivered"], 5);
  EXPECT_FALSE(error_of("anonymous").empty());
  EXPECT_EQ(reactor("anonymous")["delivered"], 0);
  EXPECT_EQ(mutual.acknowledged_count(), 5u) << "only the reactor with a certificate got through";
}

}  // namespace
}  // namespace reproj::test
