// Fuzz target: raw bytes -> Beast's HTTP request parser (the server's limits) -> the router, with
// every body type's JSON decoding behind it. The engine points at a database that refuses
// connections, so whatever passes validation ends in a fast 503; the invariants are the API's:
// no crash, no sanitizer report, only documented statuses, never a 500, and every JSON answer is
// well-formed JSON of the error shape or better.
//
// Built two ways: with clang -fsanitize=fuzzer (scripts/fuzz), and with a replay main that runs the
// committed corpus in the ordinary test build (CTest fuzz.replay_corpus).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>

#include <nlohmann/json.hpp>

#include "api/router.hpp"
#include "engine/catch_up.hpp"
#include "engine/connection_pool.hpp"
#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "engine/rebuild.hpp"
#include "engine/registry.hpp"
#include "projections/all.hpp"

using namespace reproj;

namespace {

struct Harness {
  Harness()
      : registry([] {
          engine::ProjectionRegistry r;
          projections::register_all(r);
          return r;
        }()),
        // Port 1 on loopback refuses at once: database calls fail fast as DatabaseUnavailable.
        pool("postgresql://reproj@127.0.0.1:1/none?connect_timeout=1", 2),
        store(pool),
        live(pool, registry),
        rebuilds(pool, live),
        auth{{api::AuthMode::kOpen, "fuzz-token", "admin", {}, {}}, nullptr, nullptr},
        services{store, live, rebuilds, nullptr, metrics, auth, nullptr, nullptr, nullptr, nullptr, nullptr} {}
  engine::ProjectionRegistry registry;
  engine::ConnectionPool pool;
  engine::EventStore store;
  engine::LiveProjections live;
  engine::RebuildManager rebuilds;
  api::RequestMetrics metrics;
  api::Authorizer auth;
  api::Services services;
};

[[noreturn]] void violated(const char* what, const api::Response& res) {
  std::fprintf(stderr, "fuzz invariant violated: %s (status %u, body %s)\n", what, res.result_int(),
               res.body().substr(0, 500).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Harness h;
  namespace http = api::http;
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);  // the server's limit
  api::beast::error_code ec;
  std::size_t used = 0;
  const auto* bytes = reinterpret_cast<const char*>(data);
  while (used < size && !parser.is_done()) {
    const auto n = parser.put(api::asio::buffer(bytes + used, size - used), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;  // the server answers a parse error itself, before any routing
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  const auto routed = api::handle(parser.get(), h.services);
  const auto& res = routed.response;
  // The server batches point reads past handle(): that path must answer the same.
  if (auto point = api::point_read(api::resolve(parser.get(), h.services), h.services)) {
    const auto batched = api::answer_point_read(
        *point, [&] { return h.services.live.get(point->projection, point->id, point->options); });
    if (batched.response.result_int() != res.result_int() || batched.response.body() != res.body() ||
        batched.route != routed.route) {
      violated("a point read answered otherwise than handle()", batched.response);
    }
  }
  static const std::set<unsigned> kDocumented{200, 201, 202, 400, 401, 403, 404, 405, 409, 413, 422, 429, 503};
  if (!kDocumented.contains(res.result_int())) violated("undocumented status", res);
  const auto type = res[http::field::content_type];
  if (type.starts_with("application/json")) {
    auto body = nlohmann::json::parse(res.body(), nullptr, false);
    if (body.is_discarded()) violated("invalid JSON answer", res);
    if (res.result_int() >= 400 && !(body.is_object() && body.contains("error") && body.contains("message"))) {
      violated("error without {error, message}", res);
    }
  }
  if (res.result_int() == 503 && res[http::field::retry_after].empty()) violated("503 without Retry-After", res);
  return 0;
}
