#pragma once
// A server on the throwaway cluster with the worker, the rebuild supervisor and the admin series
// running, and helpers to call it over real HTTP.

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/admin_series.hpp"
#include "api/authorizer.hpp"
#include "api/event_pages.hpp"
#include "api/http_client.hpp"
#include "api/router.hpp"
#include "api/server.hpp"
#include "engine/audit_log.hpp"
#include "engine/catch_up.hpp"
#include "engine/token_store.hpp"
#include "engine/reactor_store.hpp"
#include "engine/rebuild.hpp"
#include "engine/spec/spec_catalog.hpp"
#include "sources/source_manager.hpp"
#include "tests/support/live_fixture.hpp"

namespace reproj::test {

using namespace std::chrono_literals;
using Json = nlohmann::json;

inline constexpr const char* kToken = "s3cret-token";

class ApiTest : public test::LiveTest {
 protected:
  void SetUp() override {
    SetUpLive(1);
    engine::RebuildOptions options;
    // A test can hold a rebuild mid-replay to see it running.
    options.fault = [this](std::string_view point, std::int64_t) {
      while (point == "checkpoint" && hold_) std::this_thread::sleep_for(10ms);
    };
    options.batch_events = options.checkpoint_events = 2;
    rebuilds_ = std::make_unique<engine::RebuildManager>(*pool_, *live_, options);
    rebuilds_->start_supervisor(50ms);
    worker_ = std::make_unique<engine::CatchUpWorker>(*live_, std::vector<std::string>{"customers", "cars"}, catch_up_);
    specs_ = std::make_unique<engine::spec::SpecCatalog>(*pool_, registry_);
    reactors_ = std::make_unique<engine::ReactorStore>(*pool_);
    sources_ = std::make_unique<sources::SourceManager>(*pool_, *store_, db_->url(), source_options_);
    sources_->start();
    series_ = std::make_unique<api::AdminSeries>(*store_, *live_, *rebuilds_,
                                                 api::AdminSeries::Options{.interval = 200ms, .window = 60s});
    pages_ = std::make_unique<api::EventPages>(*store_);
    tokens_ = std::make_unique<engine::TokenStore>(*pool_);
    audit_ = std::make_unique<engine::AuditLog>(*pool_);
    auth_options_.admin_token = kToken;
    auth_ = std::make_unique<api::Authorizer>(auth_options_, tokens_.get(), &metrics_);
    services_ = std::make_unique<api::Services>(api::Services{*store_, *live_, *rebuilds_, worker_.get(), metrics_, *auth_,
                                                              series_.get(), specs_.get(), reactors_.get(), sources_.get(),
                                                              pages_.get(), tokens_.get(), audit_.get()});
    api::ServerOptions so;
    so.tls = tls_;
    so.max_connections_per_client = max_connections_per_client_;
    so.port = 0;
    so.read_threads = 4;
    so.read_timeout = 2s;
    so.appends = appends_;
    so.appends.queue_wait = store_options_.append_lock_timeout;
    so.point_reads = point_reads_;
    so.read_wait = read_wait_;
    server_ = std::make_unique<api::Server>(*services_, so);
    base_ = (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(server_->start());
  }
  void TearDown() override {
    hold_ = false;
    server_.reset();
    pages_.reset();
    auth_.reset();
    series_.reset();
    sources_.reset();
    worker_.reset();
    rebuilds_.reset();
  }
  // `admin`: with the admin token (every scope); else without any.
  api::ClientReply call(const std::string& method, const std::string& target, const std::string& body = "",
                        bool admin = false) {
    std::map<std::string, std::string> headers;
    if (admin) headers["Authorization"] = std::string{"Bearer "} + kToken;
    return api::http_call(base_, method, target, body, headers);
  }
  // With `token` (empty: none).
  api::ClientReply call_as(const std::string& token, const std::string& method, const std::string& target,
                           const std::string& body = "") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return api::http_call(base_, method, target, body, headers);
  }
  Json json(const api::ClientReply& r) { return Json::parse(r.body); }
  api::ClientReply append(const std::string& stream, const Json& expected, const std::vector<Json>& events) {
    Json body = Json::object();
    body["expected_version"] = expected;
    body["events"] = events;
    return call("POST", "/streams/" + stream + "/events", body.dump(), true);
  }
  std::string wait_rebuild(std::int64_t id, std::chrono::seconds timeout = 30s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::string state;
    while (std::chrono::steady_clock::now() < until) {
      state = json(call("GET", "/admin/rebuilds/" + std::to_string(id), "", true))["state"];
      if (state == "done" || state == "failed" || state == "cancelled") break;
      std::this_thread::sleep_for(20ms);
    }
    return state;
  }

  api::ReadBatcher::Options point_reads_;  // set before SetUp
  api::AppendBatcher::Options appends_;    // set before SetUp
  std::chrono::milliseconds read_wait_{5000};  // set before SetUp
  engine::CatchUpOptions catch_up_{.batch_events = 1000, .idle_wait = 50ms};  // set before SetUp
  std::atomic<bool> hold_{false};
  std::unique_ptr<engine::RebuildManager> rebuilds_;
  std::unique_ptr<engine::CatchUpWorker> worker_;
  std::unique_ptr<api::AdminSeries> series_;
  std::unique_ptr<api::EventPages> pages_;
  std::unique_ptr<engine::spec::SpecCatalog> specs_;
  std::unique_ptr<engine::ReactorStore> reactors_;
  sources::SourceManagerOptions source_options_;  // set before SetUp
  std::unique_ptr<sources::SourceManager> sources_;
  api::RequestMetrics metrics_;
  // Set before SetUp (the admin token is kToken); tokens re-read every 50 ms.
  api::Authorizer::Options auth_options_ = [] {
    api::Authorizer::Options o;
    o.refresh = 50ms;
    return o;
  }();
  std::shared_ptr<api::TlsContext> tls_;                      // set before SetUp: serve HTTPS
  std::size_t max_connections_per_client_ = 512;              // set before SetUp
  std::unique_ptr<engine::TokenStore> tokens_;
  std::unique_ptr<engine::AuditLog> audit_;
  std::unique_ptr<api::Authorizer> auth_;
  std::unique_ptr<api::Services> services_;
  std::unique_ptr<api::Server> server_;
  std::string base_;
};

inline Json ev(const std::string& id, const std::string& type, Json data) {
  return {{"event_id", id}, {"type", type}, {"data", std::move(data)}};
}

}  // namespace reproj::test
