#pragma once

#include <string>
#include <vector>

#include "engine/migration_source.hpp"

namespace reproj::engine {

/// What a migration run did.
struct MigrationReport {
  std::vector<std::string> applied;  // file names applied by this run, in order
  int latest_version = 0;
};

/// Brings the database at `database_url` to the latest schema. Safe to run from many processes at
/// once: a session advisory lock serializes runners, so each file is applied once. Each file runs
/// in its own transaction together with its record (version, name, checksum, time).
/// Throws MigrationChecksumMismatch when an applied file was edited since, DatabaseUnavailable when
/// the database cannot be reached.
MigrationReport migrate(const std::string& database_url,
                        const std::vector<MigrationSource>& migrations = embedded_migrations());

}  // namespace reproj::engine
