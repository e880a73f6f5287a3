#pragma once
// What a token may do (docs/DESIGN.md, invariant 17): its scopes, and whether they permit an action.
//
//   read              every projection, the log (/events) and the service's figures (/metrics)
//   read:PROJECTION   GET /PROJECTION and GET /PROJECTION/{key}
//   append            appending to any stream
//   append:PREFIX     appending to streams whose id starts with PREFIX
//   admin             everything (an admin can mint any token, so anything less would be theatre)

#include <string>
#include <string_view>
#include <vector>

namespace reproj::engine {

/// What an action needs. kPublic: nothing (probes, the OpenAPI document, the dashboard's page).
enum class Access { kPublic, kRead, kReadProjection, kAppend, kAdmin };

/// The scope as written in OpenAPI and errors: "read", "read:{projection}", "append:{stream_id}", ...
std::string_view access_name(Access access);

/// Whether `scope` is one of the forms above; the problem otherwise (empty when valid).
std::string scope_problem(std::string_view scope);

/// Whether `scopes` permit `access` on `object` (the projection for kReadProjection, the stream id
/// for kAppend; ignored otherwise).
bool permits(const std::vector<std::string>& scopes, Access access, std::string_view object);

/// The scope a request lacked, for a 403's message: "append:orders-1" asks for append or a prefix of it.
std::string missing_scope(Access access, std::string_view object);

}  // namespace reproj::engine
