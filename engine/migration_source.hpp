#pragma once
// A migration file as compiled into the binary (see migrations/CMakeLists.txt).

#include <string>
#include <vector>

namespace reproj::engine {

struct MigrationSource {
  int version;
  std::string name;  // file name, e.g. "0001_events.sql"
  std::string sql;
};

/// The migrations/ folder at build time, ordered by version.
const std::vector<MigrationSource>& embedded_migrations();

}  // namespace reproj::engine
