#include "engine/registry.hpp"

#include <stdexcept>

#include "engine/errors.hpp"

namespace reproj::engine {

void ProjectionRegistry::add(std::unique_ptr<Projection> projection) {
  auto& versions = by_name_[std::string{projection->name()}];
  const int v = projection->version();
  if (!versions.emplace(v, std::move(projection)).second) {
    throw std::logic_error("projection version registered twice");
  }
}

const Projection& ProjectionRegistry::get(const std::string& name, int version) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw UnknownProjection("unknown projection '" + name + "'");
  auto v = it->second.find(version);
  if (v == it->second.end()) {
    throw UnknownProjection("projection '" + name + "' has no version " + std::to_string(version));
  }
  return *v->second;
}

const Projection& ProjectionRegistry::latest(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw UnknownProjection("unknown projection '" + name + "'");
  return *it->second.rbegin()->second;
}

std::vector<std::string> ProjectionRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : by_name_) out.push_back(name);
  return out;
}

std::vector<int> ProjectionRegistry::versions(const std::string& name) const {
  std::vector<int> out;
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    for (const auto& [v, _] : it->second) out.push_back(v);
  }
  return out;
}

}  // namespace reproj::engine
