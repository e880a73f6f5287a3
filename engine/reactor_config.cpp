// A reactor's configuration: its stored JSON form and the checks a client's document gets.
#include <limits>

#include "engine/errors.hpp"
#include "engine/reactor.hpp"

namespace reproj::engine {

using Json = nlohmann::json;

namespace {

int int_field(const Json& j, const char* name, int fallback, int min, int max) {
  if (!j.contains(name)) return fallback;
  const auto& v = j.at(name);
  if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > max) {
    throw InvalidInput(std::string{name} + " must be an integer from " + std::to_string(min) + " to " +
                       std::to_string(max));
  }
  return v.get<int>();
}

// A file path on the server ("" when absent).
std::string path_field(const Json& j, const char* name) {
  if (!j.contains(name)) return "";
  const auto& v = j.at(name);
  if (!v.is_string() || v.get<std::string>().size() > 4096) {
    throw InvalidInput(std::string{name} + " must be a file path (a string of at most 4096 bytes)");
  }
  return v.get<std::string>();
}

// "car.sold", "customer.*" or "*": a wildcard only as the whole last segment.
void check_pattern(const std::string& p) {
  if (p.empty() || p.size() > 200) throw InvalidInput("events: each entry must be 1 to 200 characters");
  const auto star = p.find('*');
  if (star == std::string::npos) return;
  const bool whole = p == "*";
  const bool suffix = star == p.size() - 1 && p.size() >= 3 && p[p.size() - 2] == '.';
  if (!whole && !suffix) {
    throw InvalidInput("events: '" + p + "' may only end in '.*' (a prefix) or be '*' (every event)");
  }
}

}  // namespace

const char* ordering_name(ReactorConfig::Ordering o) {
  switch (o) {
    case ReactorConfig::Ordering::kGlobal: return "global";
    case ReactorConfig::Ordering::kStream: return "stream";
    case ReactorConfig::Ordering::kNone: return "none";
  }
  return "stream";
}

bool valid_reactor_name(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

bool ReactorConfig::matches(std::string_view type) const {
  for (const auto& p : events) {
    if (p == "*") return true;
    if (p.back() == '*') {
      if (type.substr(0, p.size() - 1) == std::string_view{p}.substr(0, p.size() - 1)) return true;
    } else if (type == p) {
      return true;
    }
  }
  return false;
}

Json ReactorConfig::to_json() const {
  return Json{{"url", url},
              {"events", events},
              {"timeout_ms", timeout_ms},
              {"max_attempts", max_attempts},
              {"secret", secret},
              {"on_failure", on_failure == OnFailure::kStop ? "stop" : "dead_letter"},
              {"retry_initial_ms", retry_initial_ms},
              {"retry_max_ms", retry_max_ms},
              {"circuit_failures", circuit_failures},
              {"circuit_cooldown_ms", circuit_cooldown_ms},
              {"ordering", ordering_name(ordering)},
              {"concurrency", concurrency},
              {"ca_file", ca_file},
              {"client_cert_file", client_cert_file},
              {"client_key_file", client_key_file}};
}

ReactorConfig ReactorConfig::from_json(const Json& j) {
  if (!j.is_object()) throw InvalidInput("a reactor must be a JSON object");
  static const char* const kKnown[] = {"url", "events", "start", "timeout_ms", "max_attempts", "secret", "on_failure",
                                       "retry_initial_ms", "retry_max_ms", "circuit_failures", "circuit_cooldown_ms",
                                       "ordering", "concurrency", "ca_file", "client_cert_file", "client_key_file"};
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) throw InvalidInput("unknown field '" + key + "'");
  }
  ReactorConfig c;
  if (!j.contains("url") || !j["url"].is_string()) throw InvalidInput("url is required: a string");
  c.url = j["url"].get<std::string>();
  if (!j.contains("events") || !j["events"].is_array() || j["events"].empty() || j["events"].size() > 100) {
    throw InvalidInput("events is required: an array of 1 to 100 event types or patterns");
  }
  for (const auto& e : j["events"]) {
    if (!e.is_string()) throw InvalidInput("events: each entry must be a string");
    check_pattern(e.get<std::string>());
    c.events.push_back(e.get<std::string>());
  }
  c.timeout_ms = int_field(j, "timeout_ms", c.timeout_ms, 1, 300'000);
  c.max_attempts = int_field(j, "max_attempts", c.max_attempts, 1, 1'000'000);
  if (j.contains("secret")) {
    if (!j["secret"].is_string() || j["secret"].get<std::string>().size() > 1024) {
      throw InvalidInput("secret must be a string of at most 1024 bytes");
    }
    c.secret = j["secret"].get<std::string>();
  }
  if (j.contains("on_failure")) {
    const auto& f = j["on_failure"];
    if (f == "stop") {
      c.on_failure = OnFailure::kStop;
    } else if (f != "dead_letter") {
      throw InvalidInput("on_failure must be 'dead_letter' or 'stop'");
    }
  }
  c.retry_initial_ms = int_field(j, "retry_initial_ms", c.retry_initial_ms, 1, 3'600'000);
  c.retry_max_ms = int_field(j, "retry_max_ms", c.retry_max_ms, c.retry_initial_ms, 3'600'000);
  c.circuit_failures = int_field(j, "circuit_failures", c.circuit_failures, 1, 1'000'000);
  c.circuit_cooldown_ms = int_field(j, "circuit_cooldown_ms", c.circuit_cooldown_ms, 1, 3'600'000);
  if (j.contains("ordering")) {
    const auto& o = j["ordering"];
    if (o == "global") c.ordering = Ordering::kGlobal;
    else if (o == "stream") c.ordering = Ordering::kStream;
    else if (o == "none") c.ordering = Ordering::kNone;
    else throw InvalidInput("ordering must be 'global', 'stream' or 'none'");
  }
  c.concurrency = int_field(j, "concurrency", c.concurrency, 1, 256);
  c.ca_file = path_field(j, "ca_file");
  c.client_cert_file = path_field(j, "client_cert_file");
  c.client_key_file = path_field(j, "client_key_file");
  if (c.client_cert_file.empty() != c.client_key_file.empty()) {
    throw InvalidInput("client_cert_file and client_key_file go together: give both or neither");
  }
  return c;
}

std::string ReactorInfo::shown_state() const {
  if (state == "running" && circuit == "open") return "circuit_open";
  return state;
}

}  // namespace reproj::engine
