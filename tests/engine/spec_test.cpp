// The spec grammar (issue 15): the documented example parses, and a table of invalid specs is
// refused, each with the JSON pointer of the part at fault. No database: a spec is checked before
// anything reaches one.
#include "engine/spec/spec.hpp"
#include "engine/spec/spec_projection.hpp"

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

using namespace reproj::engine;
using Json = nlohmann::json;

namespace {

Json cars_v3() {
  std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/examples/specs/cars_v3.json"};
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

std::vector<spec::Problem> problems_of(const Json& doc) {
  auto r = spec::parse(doc.dump());
  if (auto* p = std::get_if<std::vector<spec::Problem>>(&r)) return *p;
  return {};
}

}  // namespace

TEST(Spec, TheDocumentedCarsV3Parses) {
  auto r = spec::parse(cars_v3().dump());
  ASSERT_TRUE(std::holds_alternative<spec::Spec>(r)) << std::get<std::vector<spec::Problem>>(r)[0].path << ": "
                                                    << std::get<std::vector<spec::Problem>>(r)[0].message;
  const auto& s = std::get<spec::Spec>(r);
  EXPECT_EQ(s.projection, "cars");
  EXPECT_EQ(s.version, 3);
  ASSERT_EQ(s.tables.size(), 2u);
  EXPECT_EQ(s.table("cars")->key, "car_id");
  EXPECT_EQ(s.table("cars")->columns.size(), 7u);
  EXPECT_TRUE(s.table("customer_names")->is_private);
  ASSERT_EQ(s.on.at("car.repainted").size(), 2u);
  EXPECT_EQ(s.on.at("car.repainted")[1].kind, spec::Operation::Kind::kIncrement);

  std::set<std::tuple<std::string, std::string, FieldType>> needs;
  for (const auto& n : spec::requirements(s)) needs.emplace(n.event_type, n.field, n.type);
  const std::set<std::tuple<std::string, std::string, FieldType>> expected{
      {"car.created", "by", FieldType::kString},      {"car.created", "color", FieldType::kString},
      {"car.repainted", "color", FieldType::kString}, {"car.sold", "to", FieldType::kString},
      {"customer.created", "name", FieldType::kString}, {"customer.renamed", "name", FieldType::kString}};
  EXPECT_EQ(needs, expected);
}

TEST(Spec, TheCustomerEmailsExampleCompilesInlineWithItsUniqueRule) {
  std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/examples/specs/customer_emails_v1.json"};
  std::stringstream text;
  text << in.rdbuf();
  auto compiled = spec::compile(text.str());
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<spec::SpecProjection>>(compiled));
  const auto& p = *std::get<std::unique_ptr<spec::SpecProjection>>(compiled);
  EXPECT_EQ(p.mode(), ProjectionMode::kInline);
  ASSERT_EQ(p.tables().size(), 1u);
  const auto& t = p.tables()[0];
  ASSERT_EQ(t.unique.size(), 1u);
  ASSERT_EQ(t.unique[0].size(), 1u);
  EXPECT_EQ(t.columns[t.unique[0][0]].name, "email");
  EXPECT_TRUE(has_unique_rules(p));
}

TEST(Spec, OptionalAndCoalescedReferencesAreNotRequired) {
  auto doc = cars_v3();
  doc["on"]["car.created"][0]["set"]["color"] = {{"optional", "$data.color"}};
  doc["on"]["car.created"][0]["set"]["creator"] = {{"coalesce", {"$data.by", "$metadata.user", "unknown"}}};
  auto r = spec::parse(doc.dump());
  ASSERT_TRUE(std::holds_alternative<spec::Spec>(r));
  for (const auto& n : spec::requirements(std::get<spec::Spec>(r))) {
    EXPECT_FALSE(n.event_type == "car.created") << n.field << " is required";
  }
}

struct Invalid {
  const char* name;
  std::function<void(Json&)> edit;
  const char* path;  // a problem must have this path
};

class InvalidSpecs : public ::testing::TestWithParam<Invalid> {};

TEST_P(InvalidSpecs, AreRefusedNamingThePartAtFault) {
  Json doc = cars_v3();
  GetParam().edit(doc);
  const auto problems = problems_of(doc);
  ASSERT_FALSE(problems.empty()) << "accepted: " << doc.dump();
  std::string seen;
  for (const auto& p : problems) {
    if (p.path == GetParam().path) return;
    seen += p.path + " (" + p.message + "); ";
  }
  FAIL() << "no problem at " << GetParam().path << "; got " << seen;
}

const std::string kCars = "/tables/cars";
INSTANTIATE_TEST_SUITE_P(
    Table, InvalidSpecs,
    ::testing::Values(
        Invalid{"not_an_object", [](Json& d) { d = Json::array(); }, ""},
        Invalid{"unknown_top_member", [](Json& d) { d["sql"] = "DROP TABLE x"; }, "/sql"},
        Invalid{"no_projection", [](Json& d) { d.erase("projection"); }, "/projection"},
        Invalid{"uppercase_projection", [](Json& d) { d["projection"] = "Cars"; }, "/projection"},
        Invalid{"injection_in_name", [](Json& d) { d["projection"] = "cars\"; drop table x; --"; }, "/projection"},
        Invalid{"reserved_name", [](Json& d) { d["projection"] = "events"; }, "/projection"},
        Invalid{"long_name", [](Json& d) { d["projection"] = std::string(64, 'a'); }, "/projection"},
        Invalid{"version_zero", [](Json& d) { d["version"] = 0; }, "/version"},
        Invalid{"version_string", [](Json& d) { d["version"] = "3"; }, "/version"},
        Invalid{"version_huge", [](Json& d) { d["version"] = 4294967296LL; }, "/version"},
        Invalid{"bad_mode", [](Json& d) { d["mode"] = "sync"; }, "/mode"},
        Invalid{"no_tables", [](Json& d) { d.erase("tables"); }, "/tables"},
        Invalid{"no_served_table", [](Json& d) { d["tables"].erase("cars"); }, "/tables"},
        Invalid{"history_string", [](Json& d) { d["tables"]["cars"]["history"] = "yes"; }, "/tables/cars/history"},
        Invalid{"history_both_limits", [](Json& d) { d["tables"]["cars"]["history"] = {{"retain_events", 5}, {"retain_days", 1}}; }, "/tables/cars/history"},
        Invalid{"history_zero", [](Json& d) { d["tables"]["cars"]["history"] = {{"retain_days", 0}}; }, "/tables/cars/history/retain_days"},
        Invalid{"table_named_h", [](Json& d) { d["tables"]["h"] = d["tables"]["customer_names"]; }, "/tables/h"},
        Invalid{"served_table_private", [](Json& d) { d["tables"]["cars"]["private"] = true; }, "/tables/cars/private"},
        Invalid{"bad_table_name", [](Json& d) { d["tables"]["Bad-Name"] = d["tables"]["customer_names"]; }, "/tables/Bad-Name"},
        Invalid{"unknown_type", [](Json& d) { d["tables"]["cars"]["columns"]["color"] = "varchar(10)"; }, "/tables/cars/columns/color"},
        Invalid{"bad_column_name", [](Json& d) { d["tables"]["cars"]["columns"]["1st"] = "text"; }, "/tables/cars/columns/1st"},
        Invalid{"key_not_a_column", [](Json& d) { d["tables"]["cars"]["key"] = "id"; }, "/tables/cars/key"},
        Invalid{"key_not_text", [](Json& d) { d["tables"]["cars"]["columns"]["car_id"] = "bigint"; }, "/tables/cars/key"},
        Invalid{"default_of_wrong_type", [](Json& d) { d["tables"]["cars"]["defaults"]["sold"] = "no"; }, "/tables/cars/defaults/sold"},
        Invalid{"default_unknown_column", [](Json& d) { d["tables"]["cars"]["defaults"]["wheels"] = 4; }, "/tables/cars/defaults/wheels"},
        Invalid{"index_unknown_column", [](Json& d) { d["tables"]["cars"]["indexes"] = {"owner"}; }, "/tables/cars/indexes/0"},
        Invalid{"unique_not_arrays", [](Json& d) { d["tables"]["cars"]["unique"] = {"color"}; }, "/tables/cars/unique/0"},
        Invalid{"unique_unknown_column", [](Json& d) { d["tables"]["cars"]["unique"] = Json::array({Json::array({"color", "paint"})}); }, "/tables/cars/unique/0/1"},
        Invalid{"unique_twice", [](Json& d) { d["tables"]["cars"]["unique"] = Json::array({Json::array({"color", "color"})}); }, "/tables/cars/unique/0/1"},
        Invalid{"unique_on_jsonb", [](Json& d) {
                  d["tables"]["cars"]["columns"]["tags"] = "jsonb";
                  d["tables"]["cars"]["unique"] = Json::array({Json::array({"tags"})});
                }, "/tables/cars/unique/0/0"},
        Invalid{"too_many_tables", [](Json& d) {
                  for (int i = 0; i < 40; ++i) d["tables"]["t" + std::to_string(i)] = d["tables"]["customer_names"];
                }, "/tables"},
        Invalid{"too_many_columns", [](Json& d) {
                  for (int i = 0; i < 70; ++i) d["tables"]["cars"]["columns"]["c" + std::to_string(i)] = "text";
                }, "/tables/cars/columns"},
        Invalid{"no_on", [](Json& d) { d.erase("on"); }, "/on"},
        Invalid{"empty_operations", [](Json& d) { d["on"]["car.created"] = Json::array(); }, "/on/car.created"},
        Invalid{"two_verbs", [](Json& d) { d["on"]["car.created"][0]["delete"] = "cars"; }, "/on/car.created/0"},
        Invalid{"no_verb", [](Json& d) { d["on"]["car.created"][0] = {{"key", "$stream"}}; }, "/on/car.created/0"},
        Invalid{"unknown_table", [](Json& d) { d["on"]["car.created"][0]["upsert"] = "trucks"; }, "/on/car.created/0/upsert"},
        Invalid{"unknown_column_set", [](Json& d) { d["on"]["car.created"][0]["set"]["wheels"] = 4; }, "/on/car.created/0/set/wheels"},
        Invalid{"setting_the_key", [](Json& d) { d["on"]["car.created"][0]["set"]["car_id"] = "$stream"; }, "/on/car.created/0/set/car_id"},
        Invalid{"missing_key", [](Json& d) { d["on"]["car.created"][0].erase("key"); }, "/on/car.created/0/key"},
        Invalid{"unknown_reference", [](Json& d) { d["on"]["car.created"][0]["set"]["color"] = "$env.HOME"; }, "/on/car.created/0/set/color"},
        Invalid{"empty_field_reference", [](Json& d) { d["on"]["car.created"][0]["set"]["color"] = "$data..x"; }, "/on/car.created/0/set/color"},
        Invalid{"literal_of_wrong_type", [](Json& d) { d["on"]["car.sold"][0]["set"]["sold"] = "yes"; }, "/on/car.sold/0/set/sold"},
        Invalid{"sql_as_value_object", [](Json& d) { d["on"]["car.sold"][0]["set"]["sold"] = {{"sql", "now()"}}; }, "/on/car.sold/0/set/sold"},
        Invalid{"bad_if_missing", [](Json& d) { d["on"]["car.sold"][0]["if_missing"] = "ignore"; }, "/on/car.sold/0/if_missing"},
        Invalid{"update_where_unindexed", [](Json& d) { d["on"]["customer.created"][1]["where"] = {{"color", "$stream"}}; }, "/on/customer.created/1/where/color"},
        Invalid{"update_where_two_columns", [](Json& d) { d["on"]["customer.created"][1]["where"]["color"] = "x"; }, "/on/customer.created/1/where"},
        Invalid{"increment_text", [](Json& d) { d["on"]["car.repainted"][1]["column"] = "color"; }, "/on/car.repainted/1/column"},
        Invalid{"increment_by_text", [](Json& d) { d["on"]["car.repainted"][1]["by"] = "one"; }, "/on/car.repainted/1/by"},
        Invalid{"push_on_text", [](Json& d) { d["on"]["car.repainted"][1] = {{"push", "cars"}, {"key", "$stream"}, {"column", "color"}, {"value", 1}}; }, "/on/car.repainted/1/column"},
        Invalid{"push_without_value", [](Json& d) {
                  d["tables"]["cars"]["columns"]["colors"] = "jsonb";
                  d["on"]["car.repainted"][1] = {{"push", "cars"}, {"key", "$stream"}, {"column", "colors"}};
                }, "/on/car.repainted/1/value"},
        Invalid{"member_of_other_verb", [](Json& d) { d["on"]["car.created"][0]["column"] = "color"; }, "/on/car.created/0/column"},
        Invalid{"lookup_unknown_table", [](Json& d) { d["on"]["car.sold"][0]["set"]["customer_name"]["lookup"] = "people"; }, "/on/car.sold/0/set/customer_name/lookup"},
        Invalid{"lookup_unknown_column", [](Json& d) { d["on"]["car.sold"][0]["set"]["customer_name"]["column"] = "surname"; }, "/on/car.sold/0/set/customer_name/column"},
        Invalid{"lookup_type_mismatch", [](Json& d) { d["on"]["car.sold"][0]["set"]["sold"] = {{"lookup", "customer_names"}, {"key", "$data.to"}, {"column", "name"}}; }, "/on/car.sold/0/set/sold/column"},
        Invalid{"optional_of_literal", [](Json& d) { d["on"]["car.created"][0]["set"]["color"] = {{"optional", "red"}}; }, "/on/car.created/0/set/color"},
        Invalid{"empty_coalesce", [](Json& d) { d["on"]["car.created"][0]["set"]["color"] = {{"coalesce", Json::array()}}; }, "/on/car.created/0/set/color"},
        Invalid{"empty_event_type", [](Json& d) { d["on"][""] = d["on"]["car.created"]; }, "/on/"},
        Invalid{"too_large", [](Json& d) { d["description"] = std::string(300 * 1024, 'x'); }, ""}),
    [](const auto& p) { return std::string{p.param.name}; });

TEST(Spec, EveryProblemIsReportedNotJustTheFirst) {
  Json doc = cars_v3();
  doc["version"] = -1;
  doc["tables"]["cars"]["columns"]["color"] = "varchar";
  doc["on"]["car.created"][0]["upsert"] = "trucks";
  EXPECT_GE(problems_of(doc).size(), 3u);
  EXPECT_EQ(std::get<std::vector<spec::Problem>>(spec::parse("{not json")).at(0).message, "not valid JSON");
}
