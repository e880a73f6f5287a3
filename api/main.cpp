// Composition root and command line of reproj.
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "engine/connection_pool.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/migrations.hpp"

namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string{v} : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace reproj;
  CLI::App app{"reproj: rebuilds event-sourced projections in PostgreSQL while they keep serving"};
  app.require_subcommand(1);
  std::string database_url = env_or("DATABASE_URL", "");
  auto add_db = [&](CLI::App* cmd) {
    cmd->add_option("--database-url", database_url, "PostgreSQL URL (default: $DATABASE_URL)");
  };

  auto* migrate_cmd = app.add_subcommand("migrate", "Apply pending migrations (straight to the database)");
  add_db(migrate_cmd);

  std::string import_file;
  auto* import_cmd = app.add_subcommand("import", "Import NDJSON events with COPY, all or nothing (straight to the database)");
  add_db(import_cmd);
  import_cmd->add_option("FILE", import_file, "NDJSON file: one {\"event_id\"?, \"stream_id\", \"type\", \"data\", \"metadata\"?} a line")
      ->required();

  CLI11_PARSE(app, argc, argv);

  if (database_url.empty()) {
    std::cerr << "error: no database: pass --database-url or set DATABASE_URL\n";
    return 2;
  }
  try {
    if (*migrate_cmd) {
      auto report = engine::migrate(database_url);
      std::cout << "migrations: " << report.applied.size() << " applied, schema at version " << report.latest_version
                << "\n";
      for (const auto& name : report.applied) std::cout << "  applied " << name << "\n";
    } else if (*import_cmd) {
      std::ifstream in{import_file};
      if (!in) {
        std::cerr << "error: cannot open " << import_file << "\n";
        return 2;
      }
      engine::migrate(database_url);
      engine::ConnectionPool pool{database_url, 1};
      engine::EventStore store{pool};
      auto started = std::chrono::steady_clock::now();
      auto report = store.import_ndjson(in);
      auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::cout << "imported " << report.events << " events (positions " << report.first_position << ".."
                << report.last_position << ") in " << seconds << " s\n";
    }
  } catch (const engine::InvalidInput& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const engine::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
