#pragma once
// Everything shown about a projection (the admin API, readiness, rollback's answer, `reproj
// status`): gathered here, rendered by api::projection_to_json, so all four show one shape.

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/live_projections.hpp"
#include "engine/rebuild.hpp"

namespace reproj::engine {
class EventStore;
}  // namespace reproj::engine

namespace reproj::api {

struct ProjectionView {
  engine::ProjectionStatus status;
  std::vector<int> versions;                   // registered in this process
  std::vector<std::pair<int, std::string>> sources;  // version -> compiled | file | api
  std::string mode = "async";                  // the active version's: async | inline
  std::int64_t safe_tail = 0;                  // the log's, when the view was taken
  std::optional<engine::RebuildInfo> rebuild;  // running
  std::optional<int> rollback_version;         // what a rollback would bring back
};

/// Every projection's view. Blocks on the database.
std::vector<ProjectionView> projection_views(engine::EventStore& store, engine::LiveProjections& live,
                                             engine::RebuildManager& rebuilds);

}  // namespace reproj::api
