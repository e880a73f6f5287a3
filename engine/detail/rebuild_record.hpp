#pragma once
// The reproj.rebuilds record: how a RebuildInfo is read from it.

#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "engine/rebuild.hpp"

namespace reproj::engine::detail {

/// The states of a rebuild still running, as an SQL list.
inline constexpr const char* kRunningStates = "('replaying', 'catching_up', 'ready', 'promoting')";

/// "SELECT <what a RebuildInfo holds> FROM reproj.rebuilds " (with retired_position too): add the
/// WHERE and ORDER BY.
std::string select_rebuilds();
/// A row of select_rebuilds() as a RebuildInfo (eta_seconds derived from rate and target).
RebuildInfo rebuild_from_row(const pqxx::row& r);
/// Rebuild `id`, or nullopt.
std::optional<RebuildInfo> load_rebuild(pqxx::transaction_base& tx, std::int64_t id);

}  // namespace reproj::engine::detail
