#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/projection.hpp"

namespace reproj::engine {

/// Every projection version the program knows. Filled once at start-up (projections/all.cpp),
/// read-only afterwards, so safe to share between threads.
class ProjectionRegistry {
 public:
  ProjectionRegistry() = default;
  ProjectionRegistry(ProjectionRegistry&&) = default;
  ProjectionRegistry& operator=(ProjectionRegistry&&) = default;
  /// Throws std::logic_error on a duplicate (name, version).
  void add(std::unique_ptr<Projection> projection);
  /// Throws UnknownProjection naming what is missing.
  const Projection& get(const std::string& name, int version) const;
  const Projection& latest(const std::string& name) const;
  bool has(const std::string& name) const { return by_name_.count(name) > 0; }
  std::vector<std::string> names() const;
  std::vector<int> versions(const std::string& name) const;

 private:
  std::map<std::string, std::map<int, std::unique_ptr<Projection>>> by_name_;
};

}  // namespace reproj::engine
