#pragma once
// A server, its database and a reactor runner in this process, with a recording receiver
// (receiver.hpp): the fixture of the reactor tests.

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "api/reactors/reactor_metrics.hpp"
#include "api/reactors/reactor_runner.hpp"
#include "tests/support/api_fixture.hpp"
#include "tests/support/receiver.hpp"

namespace reproj::test {

class ReactorTest : public ApiTest {
 protected:
  void TearDown() override {
    runner_.reset();
    ApiTest::TearDown();
  }
  void start_runner(std::chrono::milliseconds poll = 20ms) {
    reactor_metrics_ = std::make_unique<api::ReactorMetrics>(metrics_);
    runner_ = std::make_unique<api::ReactorRunner>(
        *reactors_, db_->url(), server_->io(), reactor_metrics_.get(),
        api::ReactorRunnerOptions{.poll = poll, .supervise = 100ms, .batch = 100, .instance = "test"});
    runner_->start();
  }
  api::ClientReply put_reactor(const std::string& name, const Json& body) {
    return call("PUT", "/admin/reactors/" + name, body.dump(), true);
  }
  Json reactor(const std::string& name) { return json(call("GET", "/admin/reactors/" + name, "", true)); }
  // Waits until the reactor's checkpoint is at the log's tail; returns its last state.
  Json wait_drained(const std::string& name, std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    Json r;
    while (std::chrono::steady_clock::now() < until) {
      r = reactor(name);
      if (r["position"] == store_->safe_tail() && r["lag"] == 0) return r;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "reactor " << name << " did not drain: " << r.dump();
    return r;
  }
  // Event ids of the log matching `types` (exact) or a prefix, in log order: the independent answer.
  std::vector<std::string> matching(const std::string& where) {
    pqxx::connection conn{db_->url()};
    pqxx::read_transaction tx{conn};
    std::vector<std::string> out;
    for (const auto& r : tx.exec("SELECT event_id FROM reproj.events WHERE " + where + " ORDER BY global_position")) {
      out.push_back(r[0].as<std::string>());
    }
    return out;
  }
  void import_lines(const std::string& ndjson) {
    std::stringstream in{ndjson};
    store_->import_ndjson(in);
  }

  Receiver receiver_;
  std::unique_ptr<api::ReactorMetrics> reactor_metrics_;
  std::unique_ptr<api::ReactorRunner> runner_;
};


}  // namespace reproj::test
