#pragma once
// reproj keeps state in its PostgreSQL sessions: prepared statements (the apply and read paths),
// a session advisory lock per running rebuild and per migration run, and LISTEN for new events.
// A pooler that hands one client connection a different backend per transaction (PgBouncer
// pool_mode = transaction or statement) breaks all three, some of them only under load. This
// check refuses such a deployment at start, before anything is served or written.

#include <string>

namespace reproj::engine {

/// Opens a few connections to `database_url` and checks that each keeps its backend and its
/// session settings across transactions, and that no other connection is handed that backend
/// meanwhile. Throws UnsupportedDeployment naming the cause and the fix when it does not,
/// DatabaseUnavailable when the database cannot be reached.
void require_session_connections(const std::string& database_url);

}  // namespace reproj::engine
