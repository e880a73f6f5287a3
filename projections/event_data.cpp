#include "projections/event_data.hpp"

namespace reproj::projections {

namespace {

engine::PoisonEvent poison(const engine::Event& e, const std::string& reason) {
  return engine::PoisonEvent(e.global_position, e.event_id, e.type, reason);
}

constexpr std::size_t kNone = std::string_view::npos;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// i stands on '"'; returns the index after the closing quote, or kNone. Bounds-checked throughout,
// so odd input (a raw SQL insert cannot make jsonb invalid, but still) never reads past the end.
std::size_t end_of_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return kNone;
}

// i stands on the first character of a value; returns the index just after it, or kNone.
std::size_t end_of_value(std::string_view s, std::size_t i) {
  if (i >= s.size()) return kNone;
  if (s[i] == '"') return end_of_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = end_of_string(s, i);
        if (i == kNone) return kNone;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return kNone;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i])) ++i;
  return i;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

unsigned hex4(std::string_view s, std::size_t at) {
  unsigned v = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const char c = at + k < s.size() ? s[at + k] : '0';
    v = v * 16 + static_cast<unsigned>(c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0);
  }
  return v;
}

}  // namespace

std::string decode_json_string(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out += raw[i];
      continue;
    }
    const char c = raw[++i];
    switch (c) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        unsigned cp = hex4(raw, i + 1);
        i += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < raw.size() && raw.substr(i + 1, 2) == "\\u") {
          const unsigned low = hex4(raw, i + 3);
          if (low >= 0xdc00 && low < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
          }
        }
        append_utf8(out, cp);
        break;
      }
      default: out += c;  // \" \\ \/
    }
  }
  return out;
}

EventData::EventData(const engine::Event& event) : event_(event) {
  const std::string_view s = event.data;
  std::size_t i = skip_space(s, 0);
  if (i >= s.size() || s[i] != '{') throw poison(event, "data is not a JSON object");
  i = skip_space(s, i + 1);
  if (i < s.size() && s[i] == '}') return;
  while (true) {
    if (i >= s.size() || s[i] != '"') throw poison(event, "data is not valid JSON");
    const std::size_t key_end = end_of_string(s, i);
    if (key_end == kNone) throw poison(event, "data is not valid JSON");
    const std::string_view key = s.substr(i + 1, key_end - i - 2);
    i = skip_space(s, key_end);
    if (i >= s.size() || s[i] != ':') throw poison(event, "data is not valid JSON");
    i = skip_space(s, i + 1);
    const std::size_t value_end = end_of_value(s, i);
    if (value_end == kNone || value_end == i) throw poison(event, "data is not valid JSON");
    fields_.emplace_back(key, s.substr(i, value_end - i));
    i = skip_space(s, value_end);
    if (i < s.size() && s[i] == ',') {
      i = skip_space(s, i + 1);
      continue;
    }
    if (i < s.size() && s[i] == '}') return;
    throw poison(event, "data is not valid JSON");
  }
}

std::string EventData::required_string(const char* field) const {
  for (const auto& [key, value] : fields_) {
    if (key == field) {
      if (value.size() < 2 || value.front() != '"') {
        throw poison(event_, std::string{"\""} + field + "\" is not a string");
      }
      return decode_json_string(value.substr(1, value.size() - 2));
    }
  }
  throw poison(event_, std::string{"\""} + field + "\" is missing");
}

}  // namespace reproj::projections
