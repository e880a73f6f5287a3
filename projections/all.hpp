#pragma once

#include "engine/registry.hpp"

namespace reproj::projections {

/// Registers every projection version. The only file a new version touches.
void register_all(engine::ProjectionRegistry& registry);

}  // namespace reproj::projections
