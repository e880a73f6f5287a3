#pragma once
// Spec files on disk: checking them (`reproj projection validate`) and registering every *.json of
// a directory at start (`--projections-dir`).

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/registry.hpp"
#include "engine/spec/spec_projection.hpp"

namespace reproj::engine::spec {

/// The problems of the spec in `file` (empty: it parses, and this build can run it). Reading
/// errors, parse problems and unsupported features all come back as problems.
std::vector<Problem> check_file(const std::filesystem::path& file);

/// Registers a SpecProjection for every *.json in `dir`, in name order. Throws
/// std::runtime_error naming the file on the first one that is invalid or that registers a
/// (projection, version) already there (compiled in, or an earlier file).
void register_directory(const std::filesystem::path& dir, ProjectionRegistry& registry);

}  // namespace reproj::engine::spec
