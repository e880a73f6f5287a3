#pragma once
// The gate in front of the log: an append whose event lacks a field some registered projection
// version requires of its type is refused whole, so poison cannot enter through the API
// (issue 14). Events that still arrive unusable (raw SQL, old data) meet the poison policy.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/event.hpp"
#include "engine/registry.hpp"

namespace reproj::engine {

class EventRequirements {
 public:
  /// Checks against the requirements of every version in `registry` -- a version that is not live
  /// yet may be rebuilt later, and must be able to fold what is appended now -- collected anew
  /// whenever the registry grew (a spec deployed while serving).
  explicit EventRequirements(const ProjectionRegistry& registry);

  /// Throws InvalidEvent for the first event (in batch order) that lacks a required field or has
  /// it of another JSON type; a null value counts as missing.
  void check(const std::vector<NewEvent>& events) const;

 private:
  struct Need {
    std::string field;
    FieldType type;
    std::string projection;
    int version;
  };
  using ByType = std::map<std::string, std::vector<Need>, std::less<>>;
  std::shared_ptr<const ByType> current() const;
  const ProjectionRegistry& registry_;
  mutable std::mutex mutex_;
  mutable std::uint64_t generation_ = 0;  // of the registry when by_type_ was collected
  mutable std::shared_ptr<const ByType> by_type_;
};

}  // namespace reproj::engine
