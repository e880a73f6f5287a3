#pragma once
// The swap that promotes a caught-up rebuild (docs/DESIGN.md, invariant 4). Its twin, the swap
// back, is RebuildManager::rollback (rollback.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/live_projections.hpp"
#include "engine/projection.hpp"
#include "engine/rebuild.hpp"

namespace reproj::engine::detail {

enum class Promotion { kPromoted, kCancelled };

/// In one transaction on `conn`: marks rebuild `info` promoting, takes the live metadata lock,
/// applies to the shadow tables `shadow` (of `version`, checkpointed at `position`) what the log
/// holds past it, swaps them in for the live tables, makes `version` live at that tail and marks
/// the rebuild done. kCancelled (nothing written) when the rebuild was cancelled meanwhile.
/// Lock waits are bounded by options.lock_timeout and retried within options.swap_budget, then
/// LockTimeout; an event the live version let in that breaks `version`'s unique rule throws
/// UniqueViolation (the rebuild must fail).
Promotion promote(pqxx::connection& conn, LiveProjections& live, const RebuildOptions& options, const RebuildInfo& info,
                  const Projection& version, const std::vector<std::string>& shadow, std::int64_t position);

}  // namespace reproj::engine::detail
