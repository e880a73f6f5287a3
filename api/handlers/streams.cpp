// Handlers of the log: appends to a stream and reads of the log.
#include "api/event_pages.hpp"
#include "api/handlers.hpp"

#include <limits>

#include "api/json_mapping.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"

namespace reproj::api {

namespace {
constexpr std::size_t kMaxEventsPerAppend = 1000;
// Data and metadata text a page of GET /events carries at most (beyond its first event).
constexpr std::size_t kMaxEventPageBytes = 4 << 20;

}  // namespace

engine::AppendRequest parse_append(Call& c) {
  engine::AppendRequest out;
  out.stream_id = checked_id("stream_id", c.path.at("stream_id"));
  Json body = c.body_json();
  if (!body.is_object()) throw bad_request("body must be a JSON object");
  engine::ExpectedVersion& expected = out.expected;
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
  std::vector<engine::NewEvent>& batch = out.events;
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
  c.s.live.requirements().check(batch);  // 422 before anything is written
  return out;
}

Response append_response(const engine::AppendResult& r) {
  return json_response(r.duplicate ? http::status::ok : http::status::created,
                       {{"stream_id", r.stream_id},
                        {"first_position", r.first_position},
                        {"last_position", r.last_position},
                        {"next_expected_version", r.next_expected_version}});
}

Response append_events(Call& c) {
  auto request = parse_append(c);
  return append_response(c.s.store.append(request.stream_id, request.expected, request.events));
}

Response list_events(Call& c) {
  const auto after = c.int_param("after", 0, 0, std::numeric_limits<std::int64_t>::max());
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  engine::EventFilter filter;
  if (const std::string* v = c.q("stream_id")) filter.stream_id = checked_id("stream_id", *v);
  if (const std::string* v = c.q("type")) filter.type = checked_id("type", *v);
  const auto page = c.s.pages ? c.s.pages->read(after, static_cast<std::size_t>(limit), kMaxEventPageBytes, filter)
                              : c.s.store.read_page(after, static_cast<std::size_t>(limit), kMaxEventPageBytes, filter);
  const auto tail = page.tail;
  const auto& events = page.events;
  std::string body;
  std::size_t bytes = 64;
  for (const auto& e : events) bytes += e.data.size() + e.metadata.size() + e.event_id.size() + e.stream_id.size() + 160;
  body.reserve(bytes);
  body += "{\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) body += ',';
    append_event_json(body, events[i]);
  }
  // Everything up to the tail is final: when all of it was returned, continue from the tail. A page
  // cut short by its byte budget continues after its last event.
  const std::int64_t next = page.exhausted ? std::max(after, tail) : events.back().global_position;
  body += "],\"next\":" + std::to_string(next) + "}";
  return respond(http::status::ok, "application/json", std::move(body));
}

}  // namespace reproj::api
