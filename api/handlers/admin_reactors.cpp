// Admin handlers of reactors (webhooks fed by the log) and their dead letters.
#include "api/handlers.hpp"

#include <limits>

#include "api/json_mapping.hpp"
#include "api/reactors/webhook_tls.hpp"
#include "api/reactors/webhook_url.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "engine/reactor_store.hpp"

namespace reproj::api {

namespace {

engine::ReactorStore& store(Call& c) {
  if (!c.s.reactors) throw HttpError(http::status::service_unavailable, "unavailable", "this server runs no reactors");
  return *c.s.reactors;
}

const std::string& name_of(Call& c) {
  const auto& name = c.path.at("name");
  if (!engine::valid_reactor_name(name)) {
    throw bad_request("a reactor name is 1 to 63 characters of a-z, 0-9, '_' and '-', starting with a letter");
  }
  return name;
}

// "start": "now" (default) | "beginning" | a position: where a new reactor begins.
std::optional<std::int64_t> start_of(const Json& body) {
  if (!body.contains("start") || body["start"] == "now") return std::nullopt;
  const auto& s = body["start"];
  if (s == "beginning") return 0;
  if (s.is_number_integer() && s.get<std::int64_t>() >= 0) return s.get<std::int64_t>();
  throw bad_request("start must be \"now\", \"beginning\" or a position (an integer >= 0)");
}

}  // namespace

Response list_reactors(Call& c) {
  Json out = Json::array();
  for (const auto& r : store(c).list()) out.push_back(reactor_to_json(r));
  return json_response(http::status::ok, {{"reactors", std::move(out)}});
}

Response put_reactor(Call& c) {
  auto& reactors = store(c);
  const auto& name = name_of(c);
  const Json body = c.body_json();
  const auto config = engine::ReactorConfig::from_json(body);
  // Both throw InvalidInput (400) naming the problem: a bad URL, TLS files that cannot be used.
  if (parse_webhook_url(config.url).tls) {
    make_webhook_tls(config);
  } else if (!config.ca_file.empty() || !config.client_cert_file.empty()) {
    throw engine::InvalidInput("ca_file, client_cert_file and client_key_file apply to https:// URLs only");
  }
  const auto put = reactors.put(name, config, start_of(body));
  return json_response(put == engine::ReactorStore::PutResult::kCreated ? http::status::created : http::status::ok,
                       reactor_to_json(reactors.get(name)));
}

Response get_reactor(Call& c) {
  auto& reactors = store(c);
  return json_response(http::status::ok, reactor_to_json(reactors.get(name_of(c))));
}

Response delete_reactor(Call& c) {
  auto& reactors = store(c);
  reactors.remove(name_of(c));
  return respond(http::status::no_content, "application/json", "");
}

Response pause_reactor(Call& c) {
  auto& reactors = store(c);
  return json_response(http::status::ok, reactor_to_json(reactors.set_state(name_of(c), "paused")));
}

Response resume_reactor(Call& c) {
  auto& reactors = store(c);
  return json_response(http::status::ok, reactor_to_json(reactors.set_state(name_of(c), "running")));
}

Response reset_reactor(Call& c) {
  auto& reactors = store(c);
  const auto& name = name_of(c);
  const Json body = c.body_json();
  if (!body.is_object() || !body.contains("position") || !body["position"].is_number_integer() ||
      body["position"].get<std::int64_t>() < 0) {
    throw bad_request("body must be {\"position\": P} with P an integer >= 0 (0: from the beginning)");
  }
  return json_response(http::status::ok, reactor_to_json(reactors.reset(name, body["position"].get<std::int64_t>())));
}

Response list_dead_letters(Call& c) {
  auto& reactors = store(c);
  const auto& name = name_of(c);
  const auto after = c.int_param("after", 0, 0, std::numeric_limits<std::int64_t>::max());
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  Json letters = Json::array();
  const auto found = reactors.dead_letters(name, after, static_cast<std::size_t>(limit));
  for (const auto& d : found) letters.push_back(dead_letter_to_json(d));
  Json out = {{"reactor", name}, {"dead_letters", std::move(letters)}};
  out["next_after"] = static_cast<std::int64_t>(found.size()) == limit ? Json(found.back().global_position) : Json(nullptr);
  return json_response(http::status::ok, out);
}

Response retry_dead_letter(Call& c) {
  auto& reactors = store(c);
  const auto& name = name_of(c);
  return json_response(http::status::accepted,
                       dead_letter_to_json(reactors.retry_dead_letter(name, checked_id("event_id", c.path.at("event_id")))));
}

Response delete_dead_letter(Call& c) {
  auto& reactors = store(c);
  const auto& name = name_of(c);
  reactors.delete_dead_letter(name, checked_id("event_id", c.path.at("event_id")));
  return respond(http::status::no_content, "application/json", "");
}

}  // namespace reproj::api
