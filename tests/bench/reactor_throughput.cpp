// Reactor delivery throughput over loopback, one reactor, checkpoints committed in PostgreSQL:
// events delivered per second for an ordering, against a receiver (tests/support/receiver.hpp) that
// answers at once or after a delay, over HTTP or HTTPS (certificates from tests/support/make_certs.sh).
// Run by scripts/bench; prints `reactor deliveries/s X`, asserts nothing.
//   reproj_reactor_throughput [EVENTS (20000)] [ORDERING (stream)] [DELAY_MS (0)] [CERT_DIR (none: HTTP)]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "api/reactors/reactor_runner.hpp"
#include "engine/connection_pool.hpp"
#include "engine/event_store.hpp"
#include "engine/migrations.hpp"
#include "engine/reactor_store.hpp"
#include "tests/support/pg_fixture.hpp"
#include "tests/support/receiver.hpp"

using namespace reproj;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int events = argc > 1 ? std::atoi(argv[1]) : 20'000;
  const std::string ordering = argc > 2 ? argv[2] : "stream";
  const int delay_ms = argc > 3 ? std::atoi(argv[3]) : 0;
  const std::string certs = argc > 4 ? argv[4] : "";
  test::TestDatabase db;
  engine::migrate(db.url());
  engine::ConnectionPool pool{db.url(), 4};
  engine::EventStore store{pool};
  std::stringstream lines;
  for (int i = 0; i < events; ++i) {
    lines << R"({"stream_id":"s-)" << i % 1000 << R"(","type":"order.placed","data":{"n":)" << i << "}}\n";
  }
  store.import_ndjson(lines);

  auto receiver = certs.empty() ? std::make_unique<test::Receiver>()
                                : std::make_unique<test::Receiver>(certs + "/server.pem", certs + "/server.key");
  receiver->answer_after_ms = delay_ms;
  nlohmann::json config = {{"url", receiver->url()}, {"events", {"order.*"}}, {"ordering", ordering}};
  if (!certs.empty()) config["ca_file"] = certs + "/ca.pem";
  engine::ReactorStore reactors{pool};
  reactors.put("bench", engine::ReactorConfig::from_json(config), 0);
  api::asio::io_context io;
  auto guard = api::asio::make_work_guard(io);
  std::thread io_thread{[&io] { io.run(); }};
  api::ReactorRunnerOptions options;
  options.poll = std::chrono::milliseconds(20);
  api::ReactorRunner runner{reactors, db.url(), io, nullptr, options};
  const auto t0 = Clock::now();
  runner.start();
  while (reactors.get("bench").position < store.safe_tail()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  runner.stop();
  guard.reset();
  io.stop();
  io_thread.join();
  std::printf("reactor: %d events checkpointed in %.2f s, %zu requests, %zu connections (%s, %s, %d ms receiver)\n",
              events, seconds, receiver->hits().size(), receiver->connections(), ordering.c_str(),
              certs.empty() ? "http" : "https", delay_ms);
  std::printf("reactor deliveries/s %.0f\n", events / seconds);
}
