#include "api/response.hpp"

#include "api/errors.hpp"
#include "api/json_mapping.hpp"

namespace reproj::api {

using Json = nlohmann::json;

Response respond(http::status status, std::string_view content_type, std::string body) {
  Response res{status, 11};
  res.set(http::field::content_type, beast::string_view{content_type.data(), content_type.size()});
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response json_response(http::status status, const Json& body) {
  return respond(status, "application/json", body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Response read_response(const engine::ReadResult& r, Json body) {
  auto res = json_response(http::status::ok, body);
  res.set("X-Projection-Version", std::to_string(r.version));
  res.set("X-Projection-Position", std::to_string(r.watermark));
  res.set("X-Served-By", r.replica.empty() ? "primary" : "replica");
  if (r.failed) res.set("X-Projection-State", "failed");
  return res;
}

Response row_response(const std::string& projection, const std::string& id, const engine::ReadResult& r) {
  if (r.rows.empty()) {
    auto res = json_error(http::status::not_found, "not_found", projection + " '" + id + "' not found");
    res.set("X-Projection-Version", std::to_string(r.version));
    res.set("X-Projection-Position", std::to_string(r.watermark));
    res.set("X-Served-By", r.replica.empty() ? "primary" : "replica");
    return res;
  }
  return read_response(r, row_to_json(*r.table, r.rows[0]));
}

}  // namespace reproj::api
