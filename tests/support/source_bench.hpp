#pragma once
// The source benches' two timings: `reproj import` of the events (the write into PostgreSQL alone)
// and a source's ingest of the same events, each into a fresh database on the cluster DATABASE_URL
// names.

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/connection_pool.hpp"
#include "engine/event_store.hpp"
#include "engine/migrations.hpp"
#include "projections/demo_events.hpp"
#include "sources/source_manager.hpp"
#include "tests/support/pg_fixture.hpp"

namespace reproj::test {

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// The demo's events a Redis or Kafka bench writes to its source: one generator, writer 100, seed 7.
inline projections::EventGenerator bench_events() { return projections::EventGenerator{100, 7}; }

/// Seconds EventStore::import_ndjson takes for `ndjson` (the database is dropped after).
inline double time_import(const std::string& ndjson) {
  TestDatabase db;
  engine::migrate(db.url());
  engine::ConnectionPool pool{db.url(), 2};
  engine::EventStore store{pool};
  std::stringstream in{ndjson};
  const auto t0 = std::chrono::steady_clock::now();
  store.import_ndjson(in);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// time_import() of the first `n` of bench_events(): the write alone, beside a source's ingest of them.
inline double time_import_of_bench_events(long n) {
  std::vector<projections::EventGenerator> gens{bench_events()};
  std::stringstream ndjson;
  projections::write_ndjson(ndjson, gens, n);
  return time_import(ndjson.str());
}

/// Seconds a SourceManager takes to ingest `records` records of the source `document` (env BATCH,
/// if set, is its batch), from its start.
inline double time_ingest(nlohmann::json document, long records) {
  TestDatabase db;
  engine::migrate(db.url());
  engine::ConnectionPool pool{db.url(), 4};
  engine::EventStore store{pool};
  sources::SourceManagerOptions options;
  options.supervise = std::chrono::milliseconds{20};
  sources::SourceManager manager{pool, store, db.url(), options};
  if (std::getenv("BATCH")) document["batch"] = std::atoi(std::getenv("BATCH"));
  manager.put("app", document.dump());
  const auto t0 = std::chrono::steady_clock::now();
  manager.start();
  while (manager.store().status("app")->ingested < records) std::this_thread::sleep_for(std::chrono::milliseconds{5});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  manager.stop();
  return seconds;
}

}  // namespace reproj::test
