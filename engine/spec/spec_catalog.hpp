#pragma once
// Spec versions stored in PostgreSQL (reproj.projection_specs): the one place every instance
// sharing the database learns them from. Deploying validates, stores and registers a version;
// versions are immutable (another document for a stored or compiled-in version is refused); a
// projection deployed new is created `building` and rebuilt from the whole log.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/registry.hpp"
#include "engine/spec/spec.hpp"

namespace reproj::engine {
class ConnectionPool;
class LiveProjections;
class RebuildManager;
}  // namespace reproj::engine

namespace reproj::engine::spec {

struct StoredSpec {
  std::string projection;
  int version = 0;
  std::string document;  // compact, in document order
  std::string sha256;
  VersionOrigin::Kind source = VersionOrigin::Kind::kApi;
};

/// The served table's key column keeps its name across a projection's versions (reads are one
/// statement for every version): the problem when `projection` would rename it, else nullopt.
std::optional<Problem> served_key_conflict(const ProjectionRegistry& registry, const Projection& projection);

class SpecCatalog {
 public:
  SpecCatalog(ConnectionPool& pool, ProjectionRegistry& registry) : pool_(pool), registry_(registry) {}

  struct Put {
    StoredSpec spec;
    bool created = false;  // false: this very document was there already
  };
  /// Checks `document` (InvalidSpec with every problem), that it is version `at` when given
  /// (InvalidSpec), and that no other document holds its version (StateConflict: versions are
  /// immutable, compiled-in ones included); then stores and registers it.
  Put put(std::string_view document, VersionOrigin::Kind source,
          std::optional<std::pair<std::string, int>> at = std::nullopt);
  /// The stored spec of (name, version), if any.
  std::optional<StoredSpec> get(const std::string& name, int version);
  /// Registers every stored spec the registry lacks; returns what it registered. A stored spec
  /// this build cannot load is logged and skipped.
  std::vector<std::pair<std::string, int>> sync();
  /// Stores the versions registered from files at start. Throws std::runtime_error naming the
  /// file when its version is stored with another document.
  void store_files();

 private:
  ConnectionPool& pool_;
  ProjectionRegistry& registry_;
};

/// Deploys a spec: SpecCatalog::put, and for a projection that did not exist, creates it
/// `building` and starts its first rebuild (rebuild_id). Safe against two deploys at once.
struct Deployed {
  SpecCatalog::Put put;
  std::optional<std::int64_t> rebuild_id;
};
Deployed deploy(SpecCatalog& catalog, LiveProjections& live, RebuildManager& rebuilds, std::string_view document,
                VersionOrigin::Kind source, std::optional<std::pair<std::string, int>> at = std::nullopt);

/// Starts the first rebuild of every `building` projection that has none running (a deploy
/// interrupted between creating the projection and starting its rebuild).
void resume_building(LiveProjections& live, RebuildManager& rebuilds);

/// Registers specs deployed by any instance within a second: LISTEN reproj_specs on a connection
/// of its own, and a full sync on every (re)connect and every few seconds besides.
class SpecListener {
 public:
  SpecListener(std::string database_url, SpecCatalog& catalog);
  ~SpecListener();
  SpecListener(const SpecListener&) = delete;
  SpecListener& operator=(const SpecListener&) = delete;

 private:
  void run(std::stop_token stop);
  std::string url_;
  SpecCatalog& catalog_;
  std::jthread thread_;
};

}  // namespace reproj::engine::spec
