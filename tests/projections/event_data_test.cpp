#include "projections/event_data.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using reproj::engine::Event;
using reproj::engine::PoisonEvent;
using reproj::projections::EventData;

namespace {
Event event(std::string data) {
  Event e;
  e.global_position = 42;
  e.event_id = "ev42";
  e.type = "car.sold";
  e.data = std::move(data);
  return e;
}
std::string poison_reason(const std::string& data, const char* field) {
  try {
    auto e = event(data);
    EventData{e}.required_string(field);
  } catch (const PoisonEvent& p) {
    return p.what();
  }
  return "";
}
}  // namespace

TEST(EventData, ReadsTopLevelStringsAndDecodesEscapes) {
  auto e = event(R"({"by": "Al \"the\" \\ one", "to": "b2dhuw", "n": "caf\u00e9 \ud83d\ude00\n"})");
  EventData d{e};
  EXPECT_EQ(d.required_string("by"), "Al \"the\" \\ one");
  EXPECT_EQ(d.required_string("to"), "b2dhuw");
  EXPECT_EQ(d.required_string("n"), "caf\xc3\xa9 \xf0\x9f\x98\x80\n");
}

TEST(EventData, SkipsNestedValuesAndDoesNotMatchKeysInsideThem) {
  auto e = event(R"({"meta": {"to": "inner", "list": [1, {"x": "]"}, "}"]}, "n": 5, "ok": true, "to": "outer"})");
  EXPECT_EQ(EventData{e}.required_string("to"), "outer");
  auto nested_only = event(R"({"meta": {"to": "inner"}})");
  EXPECT_THROW(EventData{nested_only}.required_string("to"), PoisonEvent);
}

TEST(EventData, UnusableDataIsAPoisonEventWithItsReason) {
  EXPECT_NE(poison_reason(R"({"buyer": "x"})", "to").find("\"to\" is missing"), std::string::npos);
  EXPECT_NE(poison_reason(R"({"to": 7})", "to").find("\"to\" is not a string"), std::string::npos);
  EXPECT_NE(poison_reason(R"({"to": null})", "to").find("is not a string"), std::string::npos);
  EXPECT_NE(poison_reason(R"({"to": ["x"]})", "to").find("is not a string"), std::string::npos);
  for (const char* not_object : {"[]", "\"x\"", "5", "null", ""}) {
    EXPECT_NE(poison_reason(not_object, "to").find("not a JSON object"), std::string::npos) << not_object;
  }
  for (const char* broken : {"{", R"({"to")", R"({"to": "x")", R"({"to": "x" "y": 1})", R"({"to": "unterminated})"}) {
    EXPECT_FALSE(poison_reason(broken, "to").empty()) << broken;  // odd text ends in a poison event, never a crash
  }
  EXPECT_NE(poison_reason("{}", "to").find("is missing"), std::string::npos);
  EXPECT_EQ(poison_reason("{\"to\": \"x\"}", "to"), "") << "a good document does not throw";
}

TEST(EventData, AgreesWithAFullJsonParserOnVariedDocuments) {
  const std::vector<nlohmann::json> docs{
      {{"to", "a"}, {"n", 1}},
      {{"color", "x\ty\u0001"}, {"by", "\u00fc\u4e2d"}, {"deep", {{"a", {1, 2, {{"b", "c"}}}}}}},
      {{"name", "tab\there \"q\" back\\slash / and \u20ac"}, {"arr", nlohmann::json::array({"}", "]", "{"})}},
      {{"e", ""}, {"f", -1.5e10}, {"g", false}, {"h", nullptr}},
  };
  for (const auto& doc : docs) {
    for (const auto& text : {doc.dump(), doc.dump(2)}) {  // compact, and with newlines and indentation
      auto e = event(text);
      EventData d{e};
      for (const auto& [key, value] : doc.items()) {
        if (value.is_string()) {
          EXPECT_EQ(d.required_string(key.c_str()), value.get<std::string>()) << key << " in " << text;
        } else {
          EXPECT_THROW(d.required_string(key.c_str()), PoisonEvent) << key << " in " << text;
        }
      }
    }
  }
}
