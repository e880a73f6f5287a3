// `reproj migrate`, `reproj import FILE` and `reproj generate`: the commands that write or make the log.
#include <chrono>
#include <fstream>
#include <iostream>

#include "api/cli/commands.hpp"
#include "api/cli/engine_root.hpp"
#include "engine/migrations.hpp"
#include "engine/session_check.hpp"
#include "projections/demo_events.hpp"

namespace reproj::cli {

int migrate(const DatabaseArgs& db) {
  engine::require_session_connections(db.url);
  auto report = engine::migrate(db.url);
  std::cout << "migrations: " << report.applied.size() << " applied, schema at version " << report.latest_version
            << "\n";
  for (const auto& name : report.applied) std::cout << "  applied " << name << "\n";
  return 0;
}

int import(const DatabaseArgs& db, const std::string& file) {
  std::ifstream in{file};
  if (!in) {
    std::cerr << "error: cannot open " << file << "\n";
    return kExitUsage;
  }
  EngineRoot e{db, 2};
  const auto started = std::chrono::steady_clock::now();
  auto report = e.store.import_ndjson(in);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "imported " << report.events << " events (positions " << report.first_position << ".."
            << report.last_position << ") in " << seconds << " s\n";
  return 0;
}

int generate(long events, unsigned seed) {
  // Eight interleaved writers, so streams interleave in the log as they do in production.
  std::vector<projections::EventGenerator> writers;
  for (int w = 0; w < 8; ++w) writers.emplace_back(w, seed * 7919u + static_cast<unsigned>(w));
  std::ios_base::sync_with_stdio(false);  // millions of lines
  projections::write_ndjson(std::cout, writers, events);
  std::cout.flush();
  return 0;
}

}  // namespace reproj::cli
