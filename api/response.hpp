#pragma once
// Building responses: every body the API sends goes through respond().

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/asio.hpp"
#include "engine/live_projections.hpp"

namespace reproj::api {

/// `body` with its content type and length.
Response respond(http::status status, std::string_view content_type, std::string body);
/// `body` as JSON (invalid UTF-8 replaced, never thrown on).
Response json_response(http::status status, const nlohmann::json& body);
/// A projection read: `body` plus the X-Projection-Version/-Position (and -State) headers of `r`.
Response read_response(const engine::ReadResult& r, nlohmann::json body);
/// A point read's answer: the row, or 404 with the same headers.
Response row_response(const std::string& projection, const std::string& id, const engine::ReadResult& r);

}  // namespace reproj::api
