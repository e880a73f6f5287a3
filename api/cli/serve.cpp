// `reproj serve` (HTTP) and `reproj work` (the same background work without HTTP): both run until
// SIGTERM or SIGINT.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "api/admin_series.hpp"
#include "api/authorizer.hpp"
#include "api/event_pages.hpp"
#include "api/cli/commands.hpp"
#include "api/cli/connection_budget.hpp"
#include "api/cli/engine_root.hpp"
#include "api/metrics.hpp"
#include "api/reactors/reactor_metrics.hpp"
#include "api/reactors/reactor_runner.hpp"
#include "api/server.hpp"
#include "engine/audit_log.hpp"
#include "engine/replica_set.hpp"
#include "engine/catch_up.hpp"
#include "engine/token_store.hpp"
#include "sources/source_manager.hpp"

namespace reproj::cli {

namespace {

// From construction on, SIGTERM and SIGINT stop the command cleanly: one that arrives while the
// command is still starting is queued by Asio and ends wait() at once.
class StopSignals {
 public:
  StopSignals() : signals_{io_, SIGTERM, SIGINT} {}
  // Blocks until one of them arrives; returns its number.
  int wait() {
    int got = 0;
    signals_.async_wait([&got](const boost::system::error_code& ec, int signal) {
      if (!ec) got = signal;
    });
    io_.run();
    return got;
  }

 private:
  api::asio::io_context io_;
  api::asio::signal_set signals_;
};

std::string random_token() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 32; ++i) out += "0123456789abcdef"[rd() % 16];
  return out;
}

// REPROJ_REACTOR_POLL_MS: how often an idle reactor looks for new events; REPROJ_REACTOR_SUPERVISE_MS:
// how often free reactors are looked for (and a dead instance's taken over).
api::ReactorRunnerOptions reactor_options() {
  api::ReactorRunnerOptions o;
  o.poll = std::chrono::milliseconds{env_count("REPROJ_REACTOR_POLL_MS", static_cast<std::size_t>(o.poll.count()), 1, 60'000)};
  o.supervise = std::chrono::milliseconds{
      env_count("REPROJ_REACTOR_SUPERVISE_MS", static_cast<std::size_t>(o.supervise.count()), 10, 600'000)};
  return o;
}

// REPROJ_SOURCE_POLL_MS: how long an ingester that found nothing waits; REPROJ_SOURCE_SYNC_RECORDS:
// what one strong read ingests itself at most.
sources::SourceManagerOptions source_options() {
  sources::SourceManagerOptions o;
  o.poll = std::chrono::milliseconds{env_count("REPROJ_SOURCE_POLL_MS", static_cast<std::size_t>(o.poll.count()), 1, 60'000)};
  o.sync_max_records = env_count("REPROJ_SOURCE_SYNC_RECORDS", o.sync_max_records, 1, 10'000'000);
  return o;
}

}  // namespace

int serve(const DatabaseArgs& db, ServeArgs args) {
  const auto colon = args.listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "error: --listen expects ADDRESS:PORT, got '" << args.listen << "'\n";
    return kExitUsage;
  }
  api::ServerOptions options;
  options.address = args.listen.substr(0, colon);
  options.port = static_cast<unsigned short>(std::stoi(args.listen.substr(colon + 1)));
  options.read_timeout = std::chrono::milliseconds{args.read_timeout_ms};
  options.max_connections = env_count("REPROJ_MAX_CONNECTIONS", options.max_connections, 1, 1'000'000);
  options.read_wait = std::chrono::milliseconds{
      env_count("REPROJ_READ_WAIT_MS", static_cast<std::size_t>(options.read_wait.count()), 0, 600'000)};
  const bool generated = args.admin_token.empty();
  if (generated) args.admin_token = random_token();
  const auto mode = api::parse_auth_mode(args.auth);
  if (!mode) {
    std::cerr << "error: --auth must be required, open-reads or open, got '" << args.auth << "'\n";
    return kExitUsage;
  }
  api::Authorizer::Options auth_options;
  auth_options.mode = *mode;
  auth_options.admin_token = args.admin_token;
  for (const auto& [env, scope] : {std::pair{"REPROJ_RATE_LIMIT_READ", "read"}, std::pair{"REPROJ_RATE_LIMIT_APPEND", "append"},
                                   std::pair{"REPROJ_RATE_LIMIT_ADMIN", "admin"}}) {
    if (const char* v = std::getenv(env); v && *v) args.rate_limits.insert(args.rate_limits.begin(), std::string{scope} + "=" + v);
  }
  for (const auto& limit : args.rate_limits) {
    if (auto problem = api::RateLimiter::parse(limit, auth_options.limits); !problem.empty()) {
      std::cerr << "error: " << problem << "\n";
      return kExitUsage;
    }
  }
  options.max_connections_per_client =
      env_count("REPROJ_MAX_CONNECTIONS_PER_CLIENT", options.max_connections_per_client, 1, 1'000'000);
  if (args.tls_cert.empty() != args.tls_key.empty()) {
    std::cerr << "error: --tls-cert and --tls-key go together\n";
    return kExitUsage;
  }
  if (!args.tls_client_ca.empty() && args.tls_cert.empty()) {
    std::cerr << "error: --tls-client-ca needs --tls-cert and --tls-key\n";
    return kExitUsage;
  }
  if (!args.tls_cert.empty()) {
    try {
      options.tls = std::make_shared<api::TlsContext>(api::TlsContext::Files{args.tls_cert, args.tls_key, args.tls_client_ca});
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  if (*mode == api::AuthMode::kOpen) {
    spdlog::warn("--auth open: anyone who reaches {} may append events and read every projection; only admin "
                 "routes need a token", args.listen);
  }

  StopSignals stop;
  EngineRoot e{db, static_cast<std::size_t>(options.db_threads() + kBackgroundPool)};
  options.appends.queue_wait = e.store.options().append_lock_timeout;
  options.appends.max_group = env_count("REPROJ_APPEND_GROUP_MAX", options.appends.max_group, 1, 100'000);
  options.appends.max_group_events =
      env_count("REPROJ_APPEND_GROUP_EVENTS", options.appends.max_group_events, 1, 1'000'000);
  options.appends.gather = std::chrono::microseconds{
      env_count("REPROJ_APPEND_GROUP_WAIT_US", static_cast<std::size_t>(options.appends.gather.count()), 0, 1'000'000)};
  engine::CatchUpWorker worker{e.live, {}};
  e.rebuilds->start_supervisor();
  engine::spec::SpecListener spec_listener{db.url, e.specs};
  engine::spec::resume_building(e.live, *e.rebuilds);
  api::AdminSeries::Options series_options;
  series_options.interval = std::chrono::milliseconds{
      env_count("REPROJ_SERIES_INTERVAL_MS", static_cast<std::size_t>(series_options.interval.count()), 50, 60'000)};
  sources::SourceManager sources{e.pool, e.store, db.url, source_options()};
  sources.start();
  series_options.sources = &sources.store();
  api::AdminSeries series{e.store, e.live, *e.rebuilds, series_options};
  api::RequestMetrics metrics;
  api::EventPages pages{e.store};
  engine::TokenStore tokens{e.pool};
  engine::AuditLog audit{e.pool};
  api::Authorizer auth{auth_options, &tokens, &metrics};
  // Read replicas: eventual reads are asked of them first (LiveProjections::read).
  if (const char* env = std::getenv("REPROJ_REPLICA_URLS"); env && *env && args.replica_urls.empty()) {
    std::stringstream list{env};
    for (std::string url; std::getline(list, url, ',');) {
      if (!url.empty()) args.replica_urls.push_back(url);
    }
  }
  std::unique_ptr<engine::ReplicaSet> replicas;
  if (!args.replica_urls.empty()) {
    engine::ReplicaOptions replica_options;
    replica_options.max_lag = std::chrono::milliseconds{
        env_count("REPROJ_REPLICA_MAX_LAG_MS", static_cast<std::size_t>(replica_options.max_lag.count()), 1, 3'600'000)};
    replica_options.pool_size = static_cast<std::size_t>(options.read_threads);
    try {
      replicas = std::make_unique<engine::ReplicaSet>(e.pool, args.replica_urls, replica_options);
    } catch (const std::exception& ex) {
      std::cerr << "error: " << ex.what() << "\n";
      return kExitUsage;
    }
    replicas->start();
    e.live.set_replicas(replicas.get());
    for (const auto& r : replicas->info()) {
      spdlog::info("read replica {} at {}:{}: {}", r.name, r.host, r.port, engine::ReplicaSet::name(r.state));
    }
  }
  api::Services services{e.store,  e.live,   *e.rebuilds, &worker,  metrics, auth,   &series,
                         &e.specs, &e.reactors, &sources,  &pages,  &tokens, &audit, replicas.get()};
  api::Server server{services, options};
  const auto port = server.start();
  // SIGHUP: read the certificate and key again (a rotation); open connections keep theirs.
  api::asio::signal_set hangups{server.io(), SIGHUP};
  std::function<void(const boost::system::error_code&, int)> on_hangup = [&](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (options.tls) {
      try {
        options.tls->reload();
        spdlog::info("SIGHUP: TLS certificate and key read again");
      } catch (const std::exception& ex) {
        spdlog::error("SIGHUP: kept the TLS certificate in use: {}", ex.what());
      }
    }
    hangups.async_wait(on_hangup);
  };
  hangups.async_wait(on_hangup);
  api::ReactorMetrics reactor_metrics{metrics};
  api::ReactorRunner reactors{e.reactors, db.url, server.io(), &reactor_metrics, reactor_options()};
  reactors.start();
  // One write: spdlog's default sink shares stdout, and a log line from another thread landed in the
  // middle of this one once (tests/sources/source_cli.sh read "http://127.0.0.1:[2026-…").
  std::string banner = std::string{"reproj serving on "} + (options.tls ? "https://" : "http://") + options.address + ":" +
                       std::to_string(port) + " (pid " + std::to_string(getpid()) + ")\n";
  if (generated) banner += "admin token (generated): " + args.admin_token + "\n";
  std::cout << banner << std::flush;
  const int signal = stop.wait();
  spdlog::info("stopping on signal {}: draining requests", signal);
  reactors.stop();  // its deliveries run on the server's I/O threads
  hangups.cancel();
  server.stop();
  e.live.set_replicas(nullptr);
  return 0;
}

int work(const DatabaseArgs& db) {
  StopSignals stop;
  EngineRoot e{db, static_cast<std::size_t>(kWorkPool)};
  engine::CatchUpWorker worker{e.live, {}};
  sources::SourceManager sources{e.pool, e.store, db.url, source_options()};
  sources.start();
  e.rebuilds->start_supervisor();
  engine::spec::SpecListener spec_listener{db.url, e.specs};
  engine::spec::resume_building(e.live, *e.rebuilds);
  // Reactors deliver here too, on an I/O thread of their own.
  api::asio::io_context io;
  auto guard = api::asio::make_work_guard(io);
  std::thread io_thread{[&io] { io.run(); }};
  api::ReactorRunner reactors{e.reactors, db.url, io, nullptr, reactor_options()};
  reactors.start();
  spdlog::info("reproj work: pid {} running", getpid());
  const int signal = stop.wait();
  spdlog::info("reproj work: stopping on signal {}", signal);
  reactors.stop();
  guard.reset();
  io.stop();
  io_thread.join();
  return 0;
}

}  // namespace reproj::cli
