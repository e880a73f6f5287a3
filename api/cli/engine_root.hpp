#pragma once
// The composition root: the engine's objects built in dependency order, with the tuning the
// environment asks for (REPROJ_REBUILD_BATCH, REPROJ_CHECKPOINT_EVENTS, REPROJ_INDEX_BUILD_WORKERS,
// REPROJ_INDEX_BUILD_SESSIONS, REPROJ_APPEND_LOCK_TIMEOUT_MS, REPROJ_FAULT). Every database command starts here.

#include <cstddef>
#include <memory>

#include "api/cli/commands.hpp"
#include "engine/connection_pool.hpp"
#include "engine/event_store.hpp"
#include "engine/inline_projections.hpp"
#include "engine/live_projections.hpp"
#include "engine/reactor_store.hpp"
#include "engine/rebuild.hpp"
#include "engine/spec/spec_catalog.hpp"

namespace reproj::cli {

struct EngineRoot {
  /// Refuses a transaction pooler (UnsupportedDeployment), migrates, stores the spec files and
  /// registers the specs stored by others, and sets up each projection at its initial version on
  /// a fresh database. Throws on a bad tuning variable, or a spec file whose version is stored
  /// with other content, naming it.
  EngineRoot(const DatabaseArgs& db, std::size_t pool_size);
  engine::ProjectionRegistry registry;
  engine::ConnectionPool pool;
  engine::LiveProjections live;
  engine::InlineProjections inline_projections{live};  // folded in every append of `store`
  engine::EventStore store;
  std::unique_ptr<engine::RebuildManager> rebuilds;
  engine::spec::SpecCatalog specs{pool, registry};
  engine::ReactorStore reactors{pool};
};

/// A whole number in [min, max] from environment variable `name`, or `fallback` when unset.
/// Throws std::runtime_error naming the variable otherwise.
std::size_t env_count(const char* name, std::size_t fallback, std::size_t min, std::size_t max);

}  // namespace reproj::cli
