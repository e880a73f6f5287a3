#include "api/router.hpp"

#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/admin_series.hpp"
#include "api/errors.hpp"
#include "api/json_mapping.hpp"
#include "engine/catch_up.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "engine/rebuild.hpp"

namespace reproj::api {

namespace {

using Json = nlohmann::json;
constexpr std::size_t kMaxIdBytes = 200;
constexpr std::size_t kMaxJsonDepth = 64;
constexpr std::size_t kMaxEventsPerAppend = 1000;
constexpr std::int64_t kMaxPageSize = 1000;

HttpError bad_request(const std::string& message) { return HttpError(http::status::bad_request, "bad_request", message); }

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80) {
      n = 0;
    } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      n = 1;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      n = 3;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string checked_id(const std::string& what, const std::string& value) {
  if (value.empty()) throw bad_request(what + " must not be empty");
  if (value.size() > kMaxIdBytes) throw bad_request(what + " is longer than " + std::to_string(kMaxIdBytes) + " bytes");
  if (!valid_utf8(value)) throw bad_request(what + " is not valid UTF-8");
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) throw bad_request(what + " contains a control character");
  }
  return value;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int v = 0;
      auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
      if (ec != std::errc{} || p != in.data() + i + 3) return std::nullopt;
      out += static_cast<char>(v);
      i += 2;
    } else if (plus_is_space && in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

struct Call {
  const Request& req;
  Services& s;
  std::map<std::string, std::string> path;   // {name} -> value
  std::map<std::string, std::string> query;  // last value wins

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

Response json_response(http::status status, const Json& body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

Response read_response(const engine::ReadResult& r, Json body) {
  auto res = json_response(http::status::ok, body);
  res.set("X-Projection-Version", std::to_string(r.version));
  res.set("X-Projection-Position", std::to_string(r.position));
  if (r.failed) res.set("X-Projection-State", "failed");
  return res;
}

void require_admin(const Call& c) {
  auto it = c.req.find(http::field::authorization);
  if (it == c.req.end()) {
    throw HttpError(http::status::unauthorized, "unauthorized", "admin routes need 'Authorization: Bearer TOKEN'");
  }
  const std::string_view header{it->value().data(), it->value().size()};
  const std::string_view prefix = "Bearer ";
  if (header.substr(0, prefix.size()) != prefix) {
    throw HttpError(http::status::unauthorized, "unauthorized", "admin routes need 'Authorization: Bearer TOKEN'");
  }
  const std::string_view given = header.substr(prefix.size());
  const std::string& want = c.s.admin_token;
  // Constant time in the token's length: no early exit that would leak a matching prefix.
  unsigned diff = given.size() == want.size() ? 0u : 1u;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto g = static_cast<unsigned char>(i < given.size() ? given[i] : '\0');
    diff |= static_cast<unsigned>(static_cast<unsigned char>(want[i]) ^ g);
  }
  if (diff != 0) throw HttpError(http::status::forbidden, "forbidden", "wrong admin token");
}

// ---- handlers ------------------------------------------------------------------------------

Response append_events(Call& c) {
  const auto stream_id = checked_id("stream_id", c.path.at("stream_id"));
  Json body = c.body_json();
  if (!body.is_object()) throw bad_request("body must be a JSON object");
  engine::ExpectedVersion expected = engine::ExpectedVersion::any();
  if (auto it = body.find("expected_version"); it != body.end()) {
    if (it->is_string() && *it == "any") {
      expected = engine::ExpectedVersion::any();
    } else if (it->is_string() && *it == "no_stream") {
      expected = engine::ExpectedVersion::no_stream();
    } else if (it->is_number_integer() && it->get<std::int64_t>() >= 0 &&
               (!it->is_number_unsigned() || it->get<std::uint64_t>() <= static_cast<std::uint64_t>(INT32_MAX))) {
      expected = engine::ExpectedVersion::exactly(it->get<std::int64_t>());
    } else {
      throw bad_request("expected_version must be a non-negative integer, \"any\" or \"no_stream\"");
    }
  } else {
    throw bad_request("missing \"expected_version\"");
  }
  auto events = body.find("events");
  if (events == body.end() || !events->is_array()) throw bad_request("\"events\" must be an array");
  if (events->empty()) throw bad_request("\"events\" must not be empty");
  if (events->size() > kMaxEventsPerAppend) {
    throw bad_request("at most " + std::to_string(kMaxEventsPerAppend) + " events per append");
  }
  std::vector<engine::NewEvent> batch;
  for (std::size_t i = 0; i < events->size(); ++i) {
    const Json& e = (*events)[i];
    const std::string where = "events[" + std::to_string(i) + "]";
    if (!e.is_object()) throw bad_request(where + " must be an object");
    engine::NewEvent ne;
    auto type = e.find("type");
    if (type == e.end() || !type->is_string()) throw bad_request(where + ".type must be a string");
    ne.type = checked_id(where + ".type", type->get<std::string>());
    if (auto id = e.find("event_id"); id != e.end() && !id->is_null()) {
      if (!id->is_string()) throw bad_request(where + ".event_id must be a string");
      ne.event_id = checked_id(where + ".event_id", id->get<std::string>());
    }
    auto data = e.find("data");
    if (data == e.end() || !data->is_object()) throw bad_request(where + ".data must be a JSON object");
    ne.data = *data;
    if (auto meta = e.find("metadata"); meta != e.end() && !meta->is_null()) {
      if (!meta->is_object()) throw bad_request(where + ".metadata must be a JSON object");
      ne.metadata = *meta;
    }
    batch.push_back(std::move(ne));
  }
  auto r = c.s.store.append(stream_id, expected, batch);
  return json_response(r.duplicate ? http::status::ok : http::status::created,
                       {{"stream_id", r.stream_id},
                        {"first_position", r.first_position},
                        {"last_position", r.last_position},
                        {"next_expected_version", r.next_expected_version}});
}

Response row_response(const std::string& projection, const std::string& id, const engine::ReadResult& r) {
  if (r.rows.empty()) {
    auto res = json_error(http::status::not_found, "not_found", projection + " '" + id + "' not found");
    res.set("X-Projection-Version", std::to_string(r.version));
    res.set("X-Projection-Position", std::to_string(r.position));
    return res;
  }
  return read_response(r, row_to_json(*r.table, r.rows[0]));
}

Response get_row(Call& c) {
  const auto& projection = c.path.at("projection");
  const auto id = checked_id("id", c.path.at("id"));
  return row_response(projection, id, c.s.live.get(projection, id, c.read_options()));
}

Response list_rows(Call& c) {
  const auto& projection = c.path.at("projection");
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  std::string after;
  if (const std::string* a = c.q("after")) after = checked_id("after", *a);
  auto r = c.s.live.list(projection, after, static_cast<std::size_t>(limit), c.read_options());
  Json items = Json::array();
  for (const auto& row : r.rows) items.push_back(row_to_json(*r.table, row));
  Json next = r.rows.size() == static_cast<std::size_t>(limit) ? Json(r.rows.back().key()) : Json(nullptr);
  return read_response(r, {{"items", std::move(items)}, {"next", std::move(next)}});
}

Response list_events(Call& c) {
  const auto after = c.int_param("after", 0, 0, std::numeric_limits<std::int64_t>::max());
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  engine::EventFilter filter;
  if (const std::string* v = c.q("stream_id")) filter.stream_id = checked_id("stream_id", *v);
  if (const std::string* v = c.q("type")) filter.type = checked_id("type", *v);
  const auto tail = c.s.store.safe_tail();
  Json events = Json::array();
  std::int64_t next = after;
  for (const auto& e : c.s.store.read(after, tail, static_cast<std::size_t>(limit), filter)) {
    events.push_back(event_to_json(e));
    next = e.global_position;
  }
  // Everything up to the tail is final: when all of it was returned, continue from the tail.
  if (events.size() < static_cast<std::size_t>(limit)) next = std::max(after, tail);
  return json_response(http::status::ok, {{"events", std::move(events)}, {"next", next}});
}

// "drop_dependent_views": true lets a swap drop the user views the new version cannot serve.
engine::DependentViews dependent_views(const Json& body) {
  auto v = body.find("drop_dependent_views");
  if (v == body.end() || v->is_null()) return engine::DependentViews::kRefuse;
  if (!v->is_boolean()) throw bad_request("drop_dependent_views must be true or false");
  return v->get<bool>() ? engine::DependentViews::kDrop : engine::DependentViews::kRefuse;
}

Response start_rebuild(Call& c) {
  require_admin(c);
  const auto& name = c.path.at("name");
  const auto& registry = c.s.live.registry();
  if (!registry.has(name)) throw engine::UnknownProjection("unknown projection '" + name + "'");
  int version = registry.latest(name).version();
  auto views = engine::DependentViews::kRefuse;
  if (!c.req.body().empty()) {
    Json body = c.body_json();
    if (!body.is_object()) throw bad_request("body must be a JSON object");
    if (auto v = body.find("version"); v != body.end() && !v->is_null()) {
      if (!v->is_number_integer() || v->get<std::int64_t>() < 1 || v->get<std::int64_t>() > INT32_MAX) {
        throw bad_request("version must be a positive integer");
      }
      version = v->get<int>();
    }
    views = dependent_views(body);
  }
  auto info = c.s.rebuilds.start(name, version, views);
  c.s.rebuilds.wake();
  return json_response(http::status::accepted,
                       {{"rebuild_id", info.id}, {"status_url", "/admin/rebuilds/" + std::to_string(info.id)}});
}

std::int64_t rebuild_id(const Call& c) {
  const auto& v = c.path.at("id");
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
  if (ec != std::errc{} || p != v.data() + v.size() || id < 1) throw bad_request("rebuild id must be a positive integer");
  return id;
}

Response get_rebuild(Call& c) {
  require_admin(c);
  auto info = c.s.rebuilds.get(rebuild_id(c));
  if (!info) throw engine::NotFound("no rebuild " + c.path.at("id"));
  return json_response(http::status::ok, rebuild_to_json(*info));
}

Response cancel_rebuild(Call& c) {
  require_admin(c);
  return json_response(http::status::ok, rebuild_to_json(c.s.rebuilds.cancel(rebuild_id(c))));
}

Response list_rebuilds(Call& c) {
  require_admin(c);
  Json out = Json::array();
  for (const auto& r : c.s.rebuilds.list()) out.push_back(rebuild_to_json(r));
  return json_response(http::status::ok, {{"rebuilds", std::move(out)}});
}

Response rollback(Call& c) {
  require_admin(c);
  const auto& name = c.path.at("name");
  auto views = engine::DependentViews::kRefuse;
  if (!c.req.body().empty()) {
    Json body = c.body_json();
    if (!body.is_object()) throw bad_request("body must be a JSON object");
    views = dependent_views(body);
  }
  c.s.rebuilds.rollback(name, views);
  for (const auto& p : c.s.live.status()) {
    if (p.name == name) {
      return json_response(http::status::ok,
                           {{"projection", name}, {"active_version", p.active_version}, {"watermark", p.last_replayed}});
    }
  }
  throw engine::UnknownProjection("unknown projection '" + name + "'");
}

Json projections_json(Services& s) {
  const auto tail = s.store.safe_tail();
  Json out = Json::array();
  for (const auto& p : s.live.status()) {
    auto running = s.rebuilds.running(p.name);
    auto retained = s.rebuilds.rollback_version(p.name);
    out.push_back({{"name", p.name},
                   {"active_version", p.active_version},
                   {"versions", s.live.registry().has(p.name) ? Json(s.live.registry().versions(p.name)) : Json::array()},
                   {"watermark", p.last_replayed},
                   {"safe_tail", tail},
                   {"lag", std::max<std::int64_t>(0, tail - p.last_replayed)},
                   {"state", p.failed ? "failed" : "live"},
                   {"error", p.failed ? Json(p.error) : Json(nullptr)},
                   {"rebuild", running ? rebuild_to_json(*running) : Json(nullptr)},
                   {"rollback_version", retained ? Json(*retained) : Json(nullptr)}});
  }
  return out;
}

Response admin_projections(Call& c) {
  require_admin(c);
  return json_response(http::status::ok, {{"projections", projections_json(c.s)}});
}

Response admin_series(Call& c) {
  require_admin(c);
  if (!c.s.series) throw HttpError(http::status::service_unavailable, "unavailable", "this server keeps no series");
  return json_response(http::status::ok, c.s.series->to_json());
}

Response dashboard(Call&) {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::string{dashboard_html()};
  res.prepare_payload();
  return res;
}

Response healthz(Call&) { return json_response(http::status::ok, {{"status", "ok"}}); }

Response readyz(Call& c) {
  auto not_ready = [](const std::string& why) {
    auto res = json_error(http::status::service_unavailable, "not_ready", why);
    res.set(http::field::retry_after, "1");
    return res;
  };
  // A stopped projection is named first: it will not catch up by waiting. Reading the status
  // also proves the database answers (else DatabaseUnavailable: 503 with Retry-After).
  const auto status = c.s.live.status();
  for (const auto& p : status) {
    if (p.failed) return not_ready("projection " + p.name + " stopped: " + p.error);
  }
  if (c.s.worker && !c.s.worker->caught_up()) {
    return not_ready("catching up with the history (start tail " + std::to_string(c.s.worker->start_tail()) + ")");
  }
  if (c.s.worker && !c.s.worker->database_reachable()) return not_ready("the catch-up worker cannot reach the database");
  Json projections = Json::array();
  for (const auto& p : status) {
    projections.push_back({{"name", p.name}, {"active_version", p.active_version}, {"watermark", p.last_replayed}});
  }
  return json_response(http::status::ok, {{"ready", true},
                                          {"safe_tail", c.s.store.safe_tail()},
                                          {"start_tail", c.s.worker ? c.s.worker->start_tail() : 0},
                                          {"projections", std::move(projections)}});
}

Response metrics(Call& c) {
  std::string out;
  out += "# HELP reproj_events_applied_total Events applied to live projections, by mode.\n"
         "# TYPE reproj_events_applied_total counter\n";
  for (const auto& name : c.s.live.registry().names()) {
    for (auto [mode, label] : {std::pair{engine::ApplyMode::kWorker, "worker"}, std::pair{engine::ApplyMode::kRead, "read"}}) {
      out += "reproj_events_applied_total{projection=\"" + name + "\",mode=\"" + label + "\"} " +
             std::to_string(c.s.live.applied_events(name, mode)) + "\n";
    }
  }
  const auto tail = c.s.store.safe_tail();
  out += "# HELP reproj_safe_tail Highest final position of the log.\n# TYPE reproj_safe_tail gauge\nreproj_safe_tail " +
         std::to_string(tail) + "\n";
  out += "# HELP reproj_projection_lag Positions between a projection's watermark and the safe tail.\n"
         "# TYPE reproj_projection_lag gauge\n";
  std::string progress =
      "# HELP reproj_rebuild_position Position of running rebuilds.\n# TYPE reproj_rebuild_position gauge\n"
      "# HELP reproj_rebuild_target Target position of running rebuilds.\n# TYPE reproj_rebuild_target gauge\n"
      "# HELP reproj_rebuild_events_per_second Replay rate of running rebuilds.\n"
      "# TYPE reproj_rebuild_events_per_second gauge\n";
  for (const auto& p : c.s.live.status()) {
    out += "reproj_projection_lag{projection=\"" + p.name + "\",version=\"" + std::to_string(p.active_version) + "\"} " +
           std::to_string(std::max<std::int64_t>(0, tail - p.last_replayed)) + "\n";
    if (auto r = c.s.rebuilds.running(p.name)) {
      const std::string labels = "{projection=\"" + p.name + "\",version=\"" + std::to_string(r->version) +
                                 "\",rebuild_id=\"" + std::to_string(r->id) + "\"}";
      progress += "reproj_rebuild_position" + labels + " " + std::to_string(r->position) + "\n";
      progress += "reproj_rebuild_target" + labels + " " + std::to_string(r->target) + "\n";
      progress += "reproj_rebuild_events_per_second" + labels + " " + std::to_string(r->events_per_second) + "\n";
    }
  }
  out += progress + c.s.metrics.render();
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4");
  res.body() = std::move(out);
  res.prepare_payload();
  return res;
}

Response openapi(Call&) {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::string{openapi_json()};
  res.prepare_payload();
  return res;
}

// ---- routing -------------------------------------------------------------------------------

struct Route {
  http::verb method;
  std::string pattern;  // "/streams/{stream_id}/events"; {projection} matches registered names only
  std::function<Response(Call&)> handler;
  std::vector<std::string> segments;
};

std::vector<std::string> split_pattern(const std::string& p) {
  std::vector<std::string> out;
  std::size_t i = 1;
  while (i <= p.size()) {
    auto j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

const std::vector<Route>& routes() {
  static const std::vector<Route> kRoutes = [] {
    std::vector<Route> r{
        {http::verb::post, "/streams/{stream_id}/events", append_events, {}},
        {http::verb::get, "/events", list_events, {}},
        {http::verb::get, "/healthz", healthz, {}},
        {http::verb::get, "/readyz", readyz, {}},
        {http::verb::get, "/metrics", metrics, {}},
        {http::verb::get, "/openapi.json", openapi, {}},
        {http::verb::get, "/admin", dashboard, {}},
        {http::verb::get, "/admin/projections", admin_projections, {}},
        {http::verb::get, "/admin/series", admin_series, {}},
        {http::verb::post, "/admin/projections/{name}/rebuild", start_rebuild, {}},
        {http::verb::post, "/admin/projections/{name}/rollback", rollback, {}},
        {http::verb::get, "/admin/rebuilds", list_rebuilds, {}},
        {http::verb::get, "/admin/rebuilds/{id}", get_rebuild, {}},
        {http::verb::delete_, "/admin/rebuilds/{id}", cancel_rebuild, {}},
        {http::verb::get, "/{projection}/{id}", get_row, {}},
        {http::verb::get, "/{projection}", list_rows, {}},
    };
    for (auto& route : r) route.segments = split_pattern(route.pattern);
    return r;
  }();
  return kRoutes;
}

bool match(const Route& route, const std::vector<std::string>& segments, Services& s,
           std::map<std::string, std::string>& params) {
  if (route.segments.size() != segments.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& p = route.segments[i];
    if (p.size() > 2 && p.front() == '{') {
      const auto name = p.substr(1, p.size() - 2);
      if (name == "projection" && !s.live.registry().has(segments[i])) return false;
      params[name] = segments[i];
    } else if (p != segments[i]) {
      return false;
    }
  }
  return true;
}

// Finds the route for `req` and fills `call` (path and query parameters). Returns null when no
// route matches; `allow` then lists the methods of routes matching the path. Throws on malformed
// targets.
const Route* resolve(const Request& req, Call& call, std::string& allow) {
  const std::string_view target{req.target().data(), req.target().size()};
  const auto qpos = target.find('?');
  const std::string_view path = target.substr(0, qpos);
  if (path.empty() || path.front() != '/') throw bad_request("request target must be an absolute path");
  std::vector<std::string> segments;
  for (std::size_t i = 1; i <= path.size();) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    auto seg = percent_decode(path.substr(i, j - i), false);
    if (!seg) throw bad_request("malformed percent-encoding in the path");
    segments.push_back(std::move(*seg));
    i = j + 1;
  }
  if (segments.size() > 1 && segments.back().empty()) segments.pop_back();  // trailing slash
  if (qpos != std::string_view::npos) {
    std::string_view q = target.substr(qpos + 1);
    while (!q.empty()) {
      auto amp = q.find('&');
      auto part = q.substr(0, amp);
      auto eq = part.find('=');
      auto key = percent_decode(part.substr(0, eq), true);
      auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
      if (!key || !value) throw bad_request("malformed percent-encoding in the query");
      if (!key->empty()) call.query[*key] = *value;
      if (amp == std::string_view::npos) break;
      q = q.substr(amp + 1);
    }
  }
  std::map<std::string, std::string> params;
  for (const auto& route : routes()) {
    if (!match(route, segments, call.s, params)) continue;
    if (route.method != req.method()) {
      const std::string m{http::to_string(route.method)};
      if (allow.find(m) == std::string::npos) allow += (allow.empty() ? "" : ", ") + m;
      continue;
    }
    call.path = params;
    return &route;
  }
  if (allow.empty()) throw HttpError(http::status::not_found, "not_found", "no route for " + std::string{path});
  return nullptr;
}

constexpr const char* kPointReadRoute = "/{projection}/{id}";

}  // namespace

std::vector<std::pair<std::string, std::string>> route_table() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : routes()) out.emplace_back(std::string{http::to_string(r.method)}, r.pattern);
  return out;
}

Routed handle(const Request& req, Services& s) {
  Routed out;
  try {
    Call call{req, s, {}, {}};
    std::string allow;
    if (const Route* route = resolve(req, call, allow)) {
      out.route = route->pattern;
      out.response = route->handler(call);
      return out;
    }
    out.response = json_error(http::status::method_not_allowed, "method_not_allowed",
                              std::string{req.method_string()} + " is not allowed here; allowed: " + allow);
    out.response.set(http::field::allow, allow);
  } catch (...) {
    out.response = error_from_current_exception();
  }
  return out;
}

std::optional<PointRead> point_read(const Request& req, Services& s) {
  try {
    Call call{req, s, {}, {}};
    std::string allow;
    const Route* route = resolve(req, call, allow);
    if (!route || route->pattern != kPointReadRoute) return std::nullopt;
    return PointRead{call.path.at("projection"), checked_id("id", call.path.at("id")), call.read_options()};
  } catch (...) {
    return std::nullopt;  // handle() answers it with the error
  }
}

Routed answer_point_read(const PointRead& read, const std::function<engine::ReadResult()>& result) {
  Routed out;
  out.route = kPointReadRoute;
  try {
    out.response = row_response(read.projection, read.id, result());
  } catch (...) {
    out.response = error_from_current_exception();
  }
  return out;
}

}  // namespace reproj::api
