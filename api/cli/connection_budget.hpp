#pragma once
// How many PostgreSQL connections one instance holds, from the constants that size them. The
// README's "Connections one instance holds" states these figures; tests/api/connection_budget_test.cpp
// checks that it does.

#include "api/server.hpp"

namespace reproj::cli {

// The pool beyond the request threads: the catch-up worker and the dashboard's series (2), the
// reactors' database threads (2), the sources' ingesters (1), the access tokens' refresh (1).
inline constexpr int kBackgroundPool = 2 + 2 + 1 + 1;
// Connections of their own, held while running: the catch-up worker's LISTEN, the spec listener,
// the reactors' and the sources' lock sessions.
inline constexpr int kSessions = 4;
// Per source this instance knows: its reader's connection to the source's database.
inline constexpr int kPerSource = 1;
// A running rebuild's runner and log reader, and the index build sessions at its end (default 2).
inline constexpr int kPerRebuild = 2 + 2;
// Short-lived ones at start (migration, session check).
inline constexpr int kAtStart = 5;
// `reproj work`'s pool: rebuild supervisor and catch-up (4), the reactors' threads (2), the sources' (1).
inline constexpr int kWorkPool = 4 + 2 + 1;

/// `reproj serve`'s pool: one connection per request thread, and the background work's.
inline int serve_pool() { return api::ServerOptions{}.db_threads() + kBackgroundPool; }
/// What `reproj serve` holds with no source and no rebuild running.
inline int serve_steady() { return serve_pool() + kSessions; }

}  // namespace reproj::cli
