// Reactor delivery throughput to a receiver that answers at once (tests/support/receiver.hpp), over
// loopback, one reactor: events delivered per second, checkpoints committed in PostgreSQL. Run by
// scripts/bench; prints `reactor deliveries/s X`, asserts nothing.
//   reproj_reactor_throughput [EVENTS (default 20000)]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
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
  test::TestDatabase db;
  engine::migrate(db.url());
  engine::ConnectionPool pool{db.url(), 4};
  engine::EventStore store{pool};
  std::stringstream lines;
  for (int i = 0; i < events; ++i) {
    lines << R"({"stream_id":"s-)" << i % 1000 << R"(","type":"order.placed","data":{"n":)" << i << "}}\n";
  }
  store.import_ndjson(lines);

  test::Receiver receiver;
  engine::ReactorStore reactors{pool};
  reactors.put("bench", engine::ReactorConfig::from_json({{"url", receiver.url()}, {"events", {"order.*"}}}), 0);
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
  std::printf("reactor: %d events checkpointed in %.2f s, %zu requests\n", events, seconds, receiver.hits().size());
  std::printf("reactor deliveries/s %.0f\n", events / seconds);
}
