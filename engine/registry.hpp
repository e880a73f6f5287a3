#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "engine/projection.hpp"

namespace reproj::engine {

/// Where a registered version came from, and for a spec its document (compact, in document
/// order) and that document's SHA-256.
struct VersionOrigin {
  enum class Kind { kCompiled, kFile, kApi };
  Kind kind = Kind::kCompiled;
  std::string document;
  std::string sha256;
  std::string file;  // kFile: the path it was read from
};
std::string_view to_string(VersionOrigin::Kind kind);

/// Every projection version the program knows: the compiled-in ones and spec files at start-up,
/// specs deployed while serving after. Thread-safe. Versions are only ever added, so a reference
/// returned by get() or latest() stays valid for the registry's lifetime.
class ProjectionRegistry {
 public:
  ProjectionRegistry() = default;
  ProjectionRegistry(ProjectionRegistry&& other) noexcept;
  /// Throws std::logic_error on a duplicate (name, version).
  void add(std::unique_ptr<Projection> projection, VersionOrigin origin = {});
  /// Adds unless (name, version) is there already; false then.
  bool add_if_absent(std::unique_ptr<Projection> projection, VersionOrigin origin);
  std::optional<VersionOrigin> origin(const std::string& name, int version) const;
  /// Grows with every add: whoever derives something from the registry can tell it is stale.
  std::uint64_t generation() const { return generation_.load(); }
  /// Throws UnknownProjection naming what is missing.
  const Projection& get(const std::string& name, int version) const;
  const Projection& latest(const std::string& name) const;
  bool has(const std::string& name) const;
  std::vector<std::string> names() const;
  std::vector<int> versions(const std::string& name) const;

 private:
  struct Entry {
    std::unique_ptr<Projection> projection;
    VersionOrigin origin;
  };
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::map<int, Entry>> by_name_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace reproj::engine
