#include "engine/registry.hpp"

#include <mutex>
#include <stdexcept>

#include "engine/errors.hpp"

namespace reproj::engine {

std::string_view to_string(VersionOrigin::Kind kind) {
  switch (kind) {
    case VersionOrigin::Kind::kCompiled: return "compiled";
    case VersionOrigin::Kind::kFile: return "file";
    case VersionOrigin::Kind::kApi: return "api";
  }
  return "compiled";
}

ProjectionRegistry::ProjectionRegistry(ProjectionRegistry&& other) noexcept
    : by_name_(std::move(other.by_name_)), generation_(other.generation_.load()) {}

void ProjectionRegistry::add(std::unique_ptr<Projection> projection, VersionOrigin origin) {
  if (!add_if_absent(std::move(projection), std::move(origin))) {
    throw std::logic_error("projection version registered twice");
  }
}

bool ProjectionRegistry::add_if_absent(std::unique_ptr<Projection> projection, VersionOrigin origin) {
  std::unique_lock lock{mutex_};
  auto& versions = by_name_[std::string{projection->name()}];
  const int v = projection->version();
  if (!versions.emplace(v, Entry{std::move(projection), std::move(origin)}).second) return false;
  ++generation_;
  return true;
}

std::optional<VersionOrigin> ProjectionRegistry::origin(const std::string& name, int version) const {
  std::shared_lock lock{mutex_};
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  auto v = it->second.find(version);
  if (v == it->second.end()) return std::nullopt;
  return v->second.origin;
}

const Projection& ProjectionRegistry::get(const std::string& name, int version) const {
  std::shared_lock lock{mutex_};
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw UnknownProjection("unknown projection '" + name + "'");
  auto v = it->second.find(version);
  if (v == it->second.end()) {
    throw UnknownProjection("projection '" + name + "' has no version " + std::to_string(version));
  }
  return *v->second.projection;
}

const Projection& ProjectionRegistry::latest(const std::string& name) const {
  std::shared_lock lock{mutex_};
  auto it = by_name_.find(name);
  if (it == by_name_.end() || it->second.empty()) throw UnknownProjection("unknown projection '" + name + "'");
  return *it->second.rbegin()->second.projection;
}

bool ProjectionRegistry::has(const std::string& name) const {
  std::shared_lock lock{mutex_};
  auto it = by_name_.find(name);
  return it != by_name_.end() && !it->second.empty();
}

std::vector<std::string> ProjectionRegistry::names() const {
  std::shared_lock lock{mutex_};
  std::vector<std::string> out;
  for (const auto& [name, versions] : by_name_) {
    if (!versions.empty()) out.push_back(name);
  }
  return out;
}

std::vector<int> ProjectionRegistry::versions(const std::string& name) const {
  std::shared_lock lock{mutex_};
  std::vector<int> out;
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    for (const auto& [v, _] : it->second) out.push_back(v);
  }
  return out;
}

}  // namespace reproj::engine
