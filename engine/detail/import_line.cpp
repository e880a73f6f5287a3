#include "engine/detail/import_line.hpp"

#include <array>
#include <string_view>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "engine/detail/copy_text.hpp"
#include "engine/detail/storable_json.hpp"
#include "engine/event_store.hpp"

namespace reproj::engine::detail {

namespace {

constexpr std::size_t kMaxId = 200;

void append_head(std::string& row, const std::array<std::string_view, 5>& fields) {
  for (const auto field : fields) {
    append_copy_field(row, field);
    row += '\t';
  }
}

}  // namespace

// The full parser: every error named as the import answers it.
ImportLine parse_import_line_fully(const std::string& line, std::size_t line_no) {
  auto fail = [&](const std::string& why) { return import_error(line_no, why); };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number past a double's range
    throw fail(std::string{"invalid JSON ("} + e.what() + ")");
  }
  if (!j.is_object()) throw fail("expected a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "event_id" && key != "stream_id" && key != "type" && key != "data" && key != "metadata") {
      throw fail("unknown field '" + key + "'");
    }
  }
  enum class Field { kOptional, kRequired };
  auto text_field = [&](const char* name, Field need) -> std::string {
    auto it = j.find(name);
    if (it == j.end()) {
      if (need == Field::kRequired) throw fail(std::string{"missing \""} + name + "\"");
      return {};
    }
    if (!it->is_string()) throw fail(std::string{"\""} + name + "\" must be a string");
    auto s = it->get<std::string>();
    if (s.empty()) throw fail(std::string{"\""} + name + "\" must not be empty");
    if (s.size() > kMaxId) throw fail(std::string{"\""} + name + "\" is longer than 200 characters");
    return s;
  };
  ImportLine p;
  p.line_no = line_no;
  p.stream_id = text_field("stream_id", Field::kRequired);
  const auto type = text_field("type", Field::kRequired);
  p.event_id = text_field("event_id", Field::kOptional);
  if (p.event_id.empty()) p.event_id = new_event_id();
  auto data = j.find("data");
  if (data == j.end()) throw fail("missing \"data\"");
  if (!data->is_object()) throw fail("\"data\" must be a JSON object");
  auto meta = j.find("metadata");
  if (meta != j.end() && !meta->is_object()) throw fail("\"metadata\" must be a JSON object");
  std::string data_text, metadata_text;
  try {
    data_text = data->dump();
    metadata_text = meta == j.end() ? "{}" : meta->dump();
  } catch (const nlohmann::json::type_error& e) {
    throw fail(std::string{"invalid text ("} + e.what() + ")");
  }
  if (holds_nul(*data) || (meta != j.end() && holds_nul(*meta))) {
    throw fail("JSON strings must not contain \\u0000");
  }
  append_head(p.copy_head, {p.event_id, p.stream_id, type, data_text, metadata_text});
  return p;
}

InvalidInput import_error(std::size_t line_no, const std::string& why) {
  return InvalidInput("line " + std::to_string(line_no) + ": " + why + "; nothing was imported");
}

ImportLineParser::ImportLineParser() : fast_(std::make_unique<simdjson::dom::parser>()) {}
ImportLineParser::~ImportLineParser() = default;

ImportLine ImportLineParser::parse(const std::string& line, std::size_t line_no) {
  ImportLine out;
  if (parse_fast(line, out)) {
    out.line_no = line_no;
    return out;
  }
  return parse_import_line_fully(line, line_no);
}

// Accepts what parse_import_line_fully accepts without an error, or declines (false) and lets it
// decide. simdjson validates the whole line (UTF-8 included); data and metadata are written back minified,
// which jsonb stores as it would nlohmann's dump (numbers by value, the last of a repeated key).
bool ImportLineParser::parse_fast(const std::string& line, ImportLine& out) {
  if (line.find("\\u0000") != std::string::npos) return false;  // maybe a \u0000 jsonb refuses
  simdjson::dom::element doc;
  if (fast_->parse(line).get(doc) != simdjson::SUCCESS) return false;
  simdjson::dom::object fields;
  if (doc.get_object().get(fields) != simdjson::SUCCESS) return false;
  std::string_view stream_id, type, event_id;
  simdjson::dom::object data, metadata;
  bool has_data = false, has_metadata = false;
  // A key twice: each value is checked, and the last one kept, as the full parser keeps it.
  for (const auto field : fields) {
    const auto text = [&](std::string_view& into) {
      return field.value.get_string().get(into) == simdjson::SUCCESS && !into.empty() && into.size() <= kMaxId;
    };
    bool ok = false;
    if (field.key == "stream_id") {
      ok = text(stream_id);
    } else if (field.key == "type") {
      ok = text(type);
    } else if (field.key == "event_id") {
      ok = text(event_id);
    } else if (field.key == "data") {
      ok = has_data = field.value.get_object().get(data) == simdjson::SUCCESS;
    } else if (field.key == "metadata") {
      ok = has_metadata = field.value.get_object().get(metadata) == simdjson::SUCCESS;
    }
    if (!ok) return false;
  }
  if (stream_id.empty() || type.empty() || !has_data) return false;
  out.stream_id = stream_id;
  out.event_id = event_id.empty() ? new_event_id() : std::string{event_id};
  const std::string data_text = simdjson::minify(data);
  const std::string metadata_text = has_metadata ? simdjson::minify(metadata) : std::string{"{}"};
  append_head(out.copy_head, {out.event_id, out.stream_id, type, data_text, metadata_text});
  return true;
}

}  // namespace reproj::engine::detail
