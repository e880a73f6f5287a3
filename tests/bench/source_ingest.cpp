// Sources (issue 38): ingesting N rows of an application's table against `reproj import` of the same
// events, side by side on one cluster (scripts/bench runs it on the durable one), and what a sync
// read adds to a strong read. Prints figures; asserts only that everything was ingested.
//   reproj_source_ingest [EVENTS (default 200000)]   (env BATCH: the source's records per transaction, else the default)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "engine/connection_pool.hpp"
#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "engine/migrations.hpp"
#include "engine/registry.hpp"
#include "projections/all.hpp"
#include "projections/demo_events.hpp"
#include "sources/source_manager.hpp"
#include "tests/support/source_bench.hpp"
#include "tests/support/pg_fixture.hpp"

using namespace reproj;
using Clock = std::chrono::steady_clock;
using test::seconds_since;

namespace {
double p50(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double p99(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() * 99 / 100];
}
}  // namespace

int main(int argc, char** argv) {
  const long events = argc > 1 ? std::atol(argv[1]) : 200'000;
  std::vector<projections::EventGenerator> gens;
  for (int w = 0; w < 8; ++w) gens.emplace_back(w + 100, 7 + static_cast<unsigned>(w));
  std::stringstream ndjson;
  projections::write_ndjson(ndjson, gens, events);
  const std::string lines = ndjson.str();

  // (a) reproj import.
  const double t_import = test::time_import(lines);

  // (b) the same events as an application's table, then ingested as a source.
  test::TestDatabase b;
  engine::migrate(b.url());
  {
    pqxx::connection c{b.url()};
    pqxx::work tx{c};
    tx.exec0("CREATE SCHEMA app; CREATE TABLE app.messages (global_position bigint GENERATED ALWAYS AS IDENTITY "
             "PRIMARY KEY, transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(), stream_id text NOT NULL, "
             "message_type text NOT NULL, message_data jsonb NOT NULL)");
    tx.exec_params0("INSERT INTO app.messages (stream_id, message_type, message_data) "
                    "SELECT x->>'stream_id', x->>'type', x->'data' FROM "
                    "(SELECT line::jsonb x, n FROM unnest(string_to_array(rtrim($1, E'\\n'), E'\\n')) WITH ORDINALITY u(line, n)) s "
                    "ORDER BY n",
                    lines);
    tx.exec0("CREATE INDEX ON app.messages (transaction_id, global_position)");
    tx.commit();
  }
  engine::ConnectionPool pool{b.url(), 4};
  engine::EventStore store{pool};
  sources::SourceManagerOptions options;
  options.supervise = std::chrono::milliseconds{20};
  options.poll = std::chrono::milliseconds{std::getenv("POLL_MS") ? std::atoi(std::getenv("POLL_MS")) : 5};
  sources::SourceManager manager{pool, store, b.url(), options};
  nlohmann::json doc{{"kind", "postgres_table"},
                           {"table", "app.messages"},
                           {"position", "global_position"},
                           {"order", {{"xid", "transaction_id"}}},
                           {"mapping", {{"stream_id", "$col.stream_id"}, {"type", "$col.message_type"}, {"data", "$col.message_data"}}},
                           {"sync_reads", true}};
  if (std::getenv("BATCH")) doc["batch"] = std::atoi(std::getenv("BATCH"));  // else the document's default
  manager.put("app", doc.dump());
  const auto t0 = Clock::now();
  manager.start();
  while (manager.store().status("app")->ingested < events) std::this_thread::sleep_for(std::chrono::milliseconds{5});
  const double t_ingest = seconds_since(t0);

  // A strong read with and without the sync of the source first (nothing pending: its usual cost).
  engine::ProjectionRegistry registry;
  projections::register_all(registry);
  engine::LiveProjections live{pool, registry};
  live.ensure("cars", 2);
  live.ensure("customers", 1);
  for (engine::Applied x; x.watermark < store.safe_tail();) x = live.catch_up("cars", store.safe_tail(), engine::ApplyMode::kWorker, 50'000);
  std::vector<double> plain, synced;
  for (int i = 0; i < 2000; ++i) {
    const auto id = "car-" + std::to_string(100 + i % 8) + "-" + std::to_string(i % 500);
    auto t = Clock::now();
    live.get("cars", id, {});
    plain.push_back(seconds_since(t) * 1000);
    t = Clock::now();
    manager.sync_for_read();
    live.get("cars", id, {});
    synced.push_back(seconds_since(t) * 1000);
  }
  manager.stop();
  std::printf("source ingest %ld rows, s %.3f\n", events, t_ingest);
  std::printf("import of the same events, s %.3f\n", t_import);
  std::printf("ratio source_ingest/import %.2f (import time / ingest time: higher is faster)\n", t_import / t_ingest);
  std::printf("strong read p99 ms plain=%.3f with_sync_read=%.3f (p50 %.3f / %.3f)\n", p99(plain), p99(synced), p50(plain), p50(synced));
  return 0;
}
