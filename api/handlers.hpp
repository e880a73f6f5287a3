#pragma once
// Every route's handler, by resource. Each checks its input (api/request.hpp), calls the engine and
// builds its answer (api/response.hpp); engine errors propagate to handle(), which maps them.

#include "api/request.hpp"

namespace reproj::api {

// The log (handlers/streams.cpp).
Response append_events(Call& c);  // POST /streams/{stream_id}/events
// Its two halves, for the server's group commit (AppendBatcher): the request checked (throws the
// error handle() answers), and the answer to what the engine did.
engine::AppendRequest parse_append(Call& c);
Response append_response(const engine::AppendResult& result);
Response list_events(Call& c);    // GET /events

// A projection's served table (handlers/rows.cpp).
Response get_row(Call& c);    // GET /{projection}/{id}
Response list_rows(Call& c);  // GET /{projection}
// Time travel: the versions of a row (handlers/row_history.cpp; ?as_of= is in rows.cpp).
Response row_history(Call& c);  // GET /{projection}/{id}/history

// Projections, for operators (handlers/admin_projections.cpp).
Response admin_projections(Call& c);  // GET /admin/projections
Response start_rebuild(Call& c);      // POST /admin/projections/{name}/rebuild
Response rollback(Call& c);           // POST /admin/projections/{name}/rollback
Response set_poison_policy(Call& c);  // PUT /admin/projections/{name}/poison_policy
Response list_quarantine(Call& c);    // GET /admin/projections/{name}/quarantine

// Spec versions (handlers/admin_specs.cpp).
Response put_version(Call& c);  // PUT /admin/projections/{name}/versions/{version}
Response get_version(Call& c);  // GET /admin/projections/{name}/versions/{version}

// Rebuilds and the dashboard (handlers/admin_rebuilds.cpp).
Response get_rebuild(Call& c);     // GET /admin/rebuilds/{id}
Response cancel_rebuild(Call& c);  // DELETE /admin/rebuilds/{id}
Response list_rebuilds(Call& c);   // GET /admin/rebuilds
Response promote_rebuild(Call& c); // POST /admin/rebuilds/{id}/promote
Response get_diff(Call& c);        // GET /admin/rebuilds/{id}/diff
Response refresh_diff(Call& c);    // POST /admin/rebuilds/{id}/diff
Response admin_series(Call& c);    // GET /admin/series
Response dashboard(Call& c);       // GET /admin

// Reactors: webhooks fed by the log (handlers/admin_reactors.cpp).
Response list_reactors(Call& c);         // GET /admin/reactors
Response put_reactor(Call& c);           // PUT /admin/reactors/{name}
Response get_reactor(Call& c);           // GET /admin/reactors/{name}
Response delete_reactor(Call& c);        // DELETE /admin/reactors/{name}
Response pause_reactor(Call& c);         // POST /admin/reactors/{name}/pause
Response resume_reactor(Call& c);        // POST /admin/reactors/{name}/resume
Response reset_reactor(Call& c);         // POST /admin/reactors/{name}/reset
Response list_dead_letters(Call& c);     // GET /admin/reactors/{name}/dead-letters
Response retry_dead_letter(Call& c);     // POST /admin/reactors/{name}/dead-letters/{event_id}/retry
Response delete_dead_letter(Call& c);    // DELETE /admin/reactors/{name}/dead-letters/{event_id}

// Sources: logs reproj ingests (handlers/admin_sources.cpp).
Response list_sources(Call& c);       // GET /admin/sources
Response put_source(Call& c);         // PUT /admin/sources/{name}
Response get_source(Call& c);         // GET /admin/sources/{name}
Response delete_source(Call& c);      // DELETE /admin/sources/{name}
Response pause_source(Call& c);       // POST /admin/sources/{name}/pause
Response resume_source(Call& c);      // POST /admin/sources/{name}/resume
Response source_quarantine(Call& c);  // GET /admin/sources/{name}/quarantine

// Access tokens and the audit trail (handlers/admin_tokens.cpp).
Response create_token(Call& c);  // POST /admin/tokens
Response list_tokens(Call& c);   // GET /admin/tokens
Response revoke_token(Call& c);  // DELETE /admin/tokens/{name}
Response list_replicas(Call& c);
Response list_audit(Call& c);    // GET /admin/audit

// The service itself (handlers/service.cpp).
Response healthz(Call& c);  // GET /healthz
Response readyz(Call& c);   // GET /readyz
Response metrics(Call& c);  // GET /metrics
Response openapi(Call& c);  // GET /openapi.json

}  // namespace reproj::api
