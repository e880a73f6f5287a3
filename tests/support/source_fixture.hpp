#pragma once
// What the tests of every kind of source share: the source's status over the admin API, waiting
// for it, SQL counts, and a child `reproj serve` for the kill -9 loops.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "tests/support/api_fixture.hpp"
#include "tests/support/process.hpp"

namespace reproj::test {

class SourceApiTest : public ApiTest {
 protected:
  explicit SourceApiTest(std::string name) : name_(std::move(name)) {}
  void SetUp() override {
    source_options_.supervise = 100ms;
    source_options_.poll = 10ms;
    ApiTest::SetUp();
  }

  void exec(const std::string& sql) {
    pqxx::connection c{db_->url()};
    pqxx::work tx{c};
    tx.exec(sql);
    tx.commit();
  }
  std::int64_t rows(const std::string& sql) {
    pqxx::connection c{db_->url()};
    pqxx::read_transaction tx{c};
    return tx.exec(sql)[0][0].as<std::int64_t>();
  }
  Json source(const std::string& name = "") {
    return json(call("GET", "/admin/sources/" + (name.empty() ? name_ : name), "", true));
  }
  Json wait_for(const std::function<bool(const Json&)>& done, std::chrono::seconds timeout = 60s,
                const std::string& name = "") {
    const auto until = std::chrono::steady_clock::now() + timeout;
    Json s;
    while (std::chrono::steady_clock::now() < until) {
      s = source(name);
      if (done(s)) return s;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "not reached in time: " << s.dump();
    return s;
  }
  // Until `n` records are ingested or quarantined.
  Json wait_ingested(std::int64_t n, std::chrono::seconds timeout = 60s, const std::string& name = "") {
    return wait_for(
        [&](const Json& s) { return s["ingested"].get<std::int64_t>() + s["quarantined"].get<std::int64_t>() >= n; },
        timeout, name);
  }
  // Until reproj.sources says `n` records of the source were ingested, by whichever process.
  std::int64_t wait_stored_ingested(std::int64_t n, std::chrono::seconds timeout = 60s) {
    const auto sql = "SELECT ingested FROM reproj.sources WHERE name = '" + name_ + "'";
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (rows(sql) < n && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
    return rows(sql);
  }

  // A child `reproj serve` on this database (sources polled every 5 ms), its output appended to
  // `log`; nullptr when it did not answer /healthz in 6 s.
  std::unique_ptr<Child> serve_child(int port, const std::string& log) {
    auto child = std::make_unique<Child>(
        std::vector<std::string>{"serve", "--database-url", db_->url(), "--listen", "127.0.0.1:" + std::to_string(port),
                                 "--admin-token", kToken},
        std::vector<std::string>{"REPROJ_SOURCE_POLL_MS=5"}, log);
    const auto base = "http://127.0.0.1:" + std::to_string(port);
    for (int i = 0; i < 300; ++i, std::this_thread::sleep_for(20ms)) {
      try {
        if (api::http_call(base, "GET", "/healthz", "", {}, 2).status == 200) return child;
      } catch (const std::exception&) {
      }
    }
    return nullptr;
  }
  // PUT of this test's source on a child's port.
  api::ClientReply put_on(int port, const std::string& document) {
    return api::http_call("http://127.0.0.1:" + std::to_string(port), "PUT", "/admin/sources/" + name_, document,
                          {{"Authorization", std::string{"Bearer "} + kToken}});
  }

  const std::string name_;  // the source most tests use
};

}  // namespace reproj::test
