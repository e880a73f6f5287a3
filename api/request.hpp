#pragma once
// Request checking: what every handler gets (the parsed path and query, the services) and the
// checks it applies to what a client sent. Bad input throws HttpError (400, 401, 403).

#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/asio.hpp"
#include "api/errors.hpp"
#include "api/router.hpp"

namespace reproj::api {

using Json = nlohmann::json;

inline constexpr std::size_t kMaxIdBytes = 200;
inline constexpr std::size_t kMaxJsonDepth = 64;
inline constexpr std::int64_t kMaxPageSize = 1000;  // rows or events a page

/// A 400 with code bad_request.
HttpError bad_request(const std::string& message);

/// `value` if it may be an id (stream, event, key, filter): 1 to kMaxIdBytes bytes of UTF-8 without
/// control characters; else throws bad_request naming `what`.
std::string checked_id(const std::string& what, const std::string& value);

/// %XX-decoding (and '+' as space in a query); nullopt when malformed.
enum class Plus { kLiteral, kSpace };  // '+' in a path is itself, in a query a space
std::optional<std::string> percent_decode(std::string_view in, Plus plus);

/// One request being handled.
struct Call {
  const Request& req;
  Services& s;
  std::map<std::string, std::string> path;   // {name} -> value
  std::map<std::string, std::string> query;  // last value wins
  const Principal* who = nullptr;             // null: in-process, trusted
  std::int64_t audit_id = 0;                  // this action's audit row (AuditLog::begin), 0: none
  bool audited = false;                       // the handler finished the audit row itself (in its transaction)

  const std::string* q(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? nullptr : &it->second;
  }
  std::int64_t int_param(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max) const {
    const std::string* v = q(key);
    if (!v) return fallback;
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (ec != std::errc{} || p != v->data() + v->size() || v->empty()) {
      throw bad_request(key + " must be an integer, got '" + *v + "'");
    }
    if (out < min || out > max) {
      throw bad_request(key + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return out;
  }
  engine::ReadOptions read_options() const {
    engine::ReadOptions o;
    if (const std::string* c = q("consistency")) {
      if (*c == "eventual") {
        o.strong = false;
      } else if (*c != "strong") {
        throw bad_request("consistency must be 'strong' or 'eventual', got '" + *c + "'");
      }
    }
    o.min_position = int_param("min_position", 0, 0, std::numeric_limits<std::int64_t>::max());
    return o;
  }
  Json body_json() const {
    const auto& body = req.body();
    // nlohmann parses iteratively, but a deep document still costs memory per level: refuse early.
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < body.size(); ++i) {
      const char c = body[i];
      if (in_string) {
        if (c == '\\') ++i;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        if (++depth > kMaxJsonDepth) throw bad_request("JSON nested deeper than " + std::to_string(kMaxJsonDepth));
      } else if (c == '}' || c == ']') {
        if (depth > 0) --depth;
      }
    }
    Json j = Json::parse(body, nullptr, false);
    if (j.is_discarded()) throw bad_request("body is not valid JSON");
    return j;
  }
};

}  // namespace reproj::api
