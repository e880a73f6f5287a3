// The import's fast line parser (simdjson) must store what the full one (nlohmann) stores and
// refuse what it refuses, with the same message: it declines whatever it is not sure of.
#include <functional>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/detail/import_line.hpp"

using reproj::engine::InvalidInput;
using reproj::engine::detail::ImportLine;
using reproj::engine::detail::ImportLineParser;
using reproj::engine::detail::parse_import_line_fully;

namespace {

// The COPY row's fields, unescaped.
std::vector<std::string> fields_of(const ImportLine& line) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < line.copy_head.size(); ++i) {
    const char c = line.copy_head[i];
    if (c == '\t') {
      out.emplace_back();
    } else if (c == '\\') {
      const char n = line.copy_head[++i];
      out.back() += n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n;
    } else {
      out.back() += c;
    }
  }
  out.pop_back();  // the row ends with a tab: stream_version follows
  return out;
}

std::string error_of(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "(none)";
}

}  // namespace

TEST(ImportLineParser, StoresWhatTheFullParserStores) {
  const std::vector<std::string> lines = {
      R"({"stream_id":"s","type":"t","data":{}})",
      R"({"event_id":"e-1","stream_id":"car-1","type":"car.created","data":{"by":"Bob","color":"blue"},"metadata":{"k":[1,2]}})",
      R"({"data":{"z":1,"a":{"b":[true,false,null]}},"type":"t","stream_id":"s"})",
      R"({"stream_id":"s","type":"t","data":{"n":[0,-0,1.5e300,-2.25,18446744073709551615,-9223372036854775808,0.1]}})",
      R"({"stream_id":"s","type":"t","data":{"text":"tab\there \"quoted\" back\\slash \u00e9 ü 😀 \u001f"}})",
      R"({"stream_id":"s","type":"t","data":{"a":1,"a":2}})",                  // jsonb keeps the last
      R"({"stream_id":"s","type":"t","data":{"not nul":"\\u0000"}})",         // an escaped backslash
      R"({"stream_id":"s","stream_id":"s2","type":"t","data":{}})",           // the full parser: the last
      R"(  {"stream_id":"s\u0041","type":"t","data":{"x":{}},"metadata":{}}  )",
  };
  for (const auto& line : lines) {
    ImportLineParser parser;
    const auto fast = fields_of(parser.parse(line, 7));
    const auto full = fields_of(parse_import_line_fully(line, 7));
    ASSERT_EQ(fast.size(), 5u) << line;
    ASSERT_EQ(full.size(), 5u) << line;
    EXPECT_EQ(fast[1], full[1]) << "stream_id of " << line;
    EXPECT_EQ(fast[2], full[2]) << "type of " << line;
    EXPECT_EQ(nlohmann::json::parse(fast[3]), nlohmann::json::parse(full[3])) << "data of " << line;
    EXPECT_EQ(nlohmann::json::parse(fast[4]), nlohmann::json::parse(full[4])) << "metadata of " << line;
    if (line.find("event_id") != std::string::npos) {
      EXPECT_EQ(fast[0], full[0]) << line;
    }
  }
}

TEST(ImportLineParser, RefusesWhatTheFullParserRefusesWithItsMessage) {
  const std::vector<std::string> lines = {
      R"({"stream_id":"s","type":"t","data":{"x":"\u0000"}})",
      R"({"stream_id":"s","type":"t","data":{},"metadata":{"\u0000":1}})",
      R"({"stream_id":"s","type":"t","data":[]})",
      R"({"stream_id":"s","type":"t","data":{},"metadata":[]})",
      R"({"stream_id":"","type":"t","data":{}})",
      R"({"stream_id":"s","type":"t","event_id":"","data":{}})",
      R"({"stream_id":"s","type":7,"data":{}})",
      R"({"stream_id":"s","data":{}})",
      R"({"stream_id":"s","type":"t"})",
      R"({"stream_id":"s","type":"t","data":{},"extra":1})",
      R"({"stream_id":"s","type":"t","data":{"x":1e400}})",
      R"({"stream_id":"s","type":"t","data":{"x":tru}})",
      R"(["stream_id"])",
      "{\"stream_id\":\"s\",\"type\":\"t\",\"data\":{\"x\":\"\xff\"}}",
      "{\"stream_id\":\"" + std::string(201, 'a') + "\",\"type\":\"t\",\"data\":{}}",
  };
  for (const auto& line : lines) {
    ImportLineParser parser;
    const auto full = error_of([&] { parse_import_line_fully(line, 3); });
    EXPECT_NE(full, "(none)") << line;
    EXPECT_EQ(error_of([&] { parser.parse(line, 3); }), full) << line;
  }
}
