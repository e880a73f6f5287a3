#include "api/projection_view.hpp"

#include <algorithm>

#include "engine/event_store.hpp"

namespace reproj::api {

std::vector<ProjectionView> projection_views(engine::EventStore& store, engine::LiveProjections& live,
                                             engine::RebuildManager& rebuilds) {
  const auto tail = store.safe_tail();
  std::vector<ProjectionView> out;
  for (auto& s : live.status()) {
    ProjectionView v;
    v.versions = live.registry().has(s.name) ? live.registry().versions(s.name) : std::vector<int>{};
    for (int version : v.versions) {
      if (auto origin = live.registry().origin(s.name, version)) {
        v.sources.emplace_back(version, std::string{engine::to_string(origin->kind)});
      }
    }
    const auto& known = v.versions;
    if (std::find(known.begin(), known.end(), s.active_version) != known.end() &&
        live.registry().get(s.name, s.active_version).mode() == engine::ProjectionMode::kInline) {
      v.mode = "inline";
    }
    v.safe_tail = tail;
    v.rebuild = rebuilds.running(s.name);
    v.rollback_version = rebuilds.rollback_version(s.name);
    v.status = std::move(s);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace reproj::api
