// cars v1, cars v2 and customers v1 written as specs (projections/specs/) fold exactly like their
// C++ versions (issue 15's property test, in memory): for 200 random logs -- renames before and
// after sales, sales to customers created later, unknown types, repeated repaints -- every table
// of the spec version equals the C++ version's, and unusable events are poison for both.
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/errors.hpp"
#include "engine/registry.hpp"
#include "engine/row_set.hpp"
#include "engine/spec/spec_projection.hpp"
#include "projections/all.hpp"
#include "projections/demo_events.hpp"

using namespace reproj;

namespace {

engine::spec::SpecProjection load(const std::string& file) {
  std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/projections/specs/" + file};
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = engine::spec::parse(text.str());
  if (auto* problems = std::get_if<std::vector<engine::spec::Problem>>(&parsed)) {
    throw std::runtime_error(file + ": " + problems->at(0).path + ": " + problems->at(0).message);
  }
  return engine::spec::SpecProjection{std::get<engine::spec::Spec>(std::move(parsed))};
}

std::vector<std::vector<engine::Row>> contents(const engine::RowSet& rows, std::size_t tables) {
  std::vector<std::vector<engine::Row>> out(tables);
  for (std::size_t t = 0; t < tables; ++t) {
    rows.for_each_row(t, [&](const std::string&, const engine::Row& r) { out[t].push_back(r); });
    std::sort(out[t].begin(), out[t].end(), [](const auto& a, const auto& b) { return a.key() < b.key(); });
  }
  return out;
}

std::vector<engine::Event> random_log(unsigned seed, int n) {
  std::mt19937 rng{seed};
  std::vector<projections::EventGenerator> writers{{1, seed}, {2, seed + 1000}};
  std::vector<engine::Event> log;
  for (int i = 0; i < n; ++i) {
    auto [stream, ne] = writers[rng() % 2].next();
    if (rng() % 25 == 0) ne = {std::nullopt, "car.washed", {{"by", "Zed"}}, nlohmann::json::object()};  // unknown type
    engine::Event e;
    e.global_position = i + 1;
    e.event_id = "e" + std::to_string(i + 1);
    e.stream_id = stream;
    e.type = ne.type;
    e.data = ne.data.dump();
    e.metadata = "{}";
    log.push_back(std::move(e));
    if (log.back().type == "car.repainted" && rng() % 3 == 0) {  // a repeated repaint
      log.push_back(log.back());
      log.back().global_position = ++i + 1;
    }
  }
  return log;
}

struct Case {
  const char* cpp_name;
  int version;
  const char* file;
};

class SpecEquivalence : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(SpecEquivalence, TheSpecFoldsEveryRandomLogLikeTheCppVersion) {
  engine::ProjectionRegistry registry;
  projections::register_all(registry);
  const auto& cpp = registry.get(GetParam().cpp_name, GetParam().version);
  const auto spec = load(GetParam().file);
  ASSERT_EQ(spec.tables().size(), cpp.tables().size());
  for (std::size_t t = 0; t < cpp.tables().size(); ++t) {
    ASSERT_EQ(spec.tables()[t].columns.size(), cpp.tables()[t].columns.size());
    for (std::size_t c = 0; c < cpp.tables()[t].columns.size(); ++c) {
      EXPECT_EQ(spec.tables()[t].columns[c].name, cpp.tables()[t].columns[c].name);
      EXPECT_EQ(spec.tables()[t].columns[c].type, cpp.tables()[t].columns[c].type);
    }
  }
  for (unsigned seed = 1; seed <= 200; ++seed) {
    const auto log = random_log(seed, 150);
    engine::RowSet a{cpp.tables(), nullptr}, b{spec.tables(), nullptr};
    for (const auto& e : log) {
      cpp.apply(e, a);
      spec.apply(e, b);
    }
    ASSERT_EQ(contents(a, cpp.tables().size()), contents(b, cpp.tables().size())) << "seed " << seed;
  }
}

TEST_P(SpecEquivalence, UnusableEventsArePoisonForBothAndTheSpecWritesNothingFirst) {
  engine::ProjectionRegistry registry;
  projections::register_all(registry);
  const auto& cpp = registry.get(GetParam().cpp_name, GetParam().version);
  const auto spec = load(GetParam().file);
  std::set<std::tuple<std::string, std::string, engine::FieldType>> cpp_needs, spec_needs;
  for (const auto& r : cpp.requirements()) cpp_needs.emplace(r.event_type, r.field, r.type);
  for (const auto& r : spec.requirements()) spec_needs.emplace(r.event_type, r.field, r.type);
  EXPECT_EQ(spec_needs, cpp_needs) << "the spec declares other requirements than the C++ version";
  for (const auto& [type, field, _] : cpp_needs) {
    for (const std::string& data : {std::string{"{}"}, std::string{"{\""} + field + "\": 7}", std::string{"[1]"}}) {
      engine::Event e;
      e.global_position = 1;
      e.event_id = "bad";
      e.stream_id = "s";
      e.type = type;
      e.data = data;
      engine::RowSet a{cpp.tables(), nullptr}, b{spec.tables(), nullptr};
      EXPECT_THROW(cpp.apply(e, a), engine::PoisonEvent) << type << " " << data;
      EXPECT_THROW(spec.apply(e, b), engine::PoisonEvent) << type << " " << data;
      for (std::size_t t = 0; t < spec.tables().size(); ++t) EXPECT_EQ(b.size(t), 0u) << "the spec wrote first";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, SpecEquivalence,
                         ::testing::Values(Case{"cars", 1, "cars_v1.json"}, Case{"cars", 2, "cars_v2.json"},
                                           Case{"customers", 1, "customers_v1.json"}),
                         [](const auto& p) {
                           return std::string{p.param.cpp_name} + "_v" + std::to_string(p.param.version);
                         });

TEST(SpecProjection, CompilesModeAndUniqueRules) {
  auto parsed = engine::spec::parse(R"({"projection": "emails", "version": 1, "mode": "inline",
    "tables": {"emails": {"key": "id", "columns": {"id": "text", "tenant": "text", "slug": "text", "email": "text"},
                          "unique": [["email"], ["tenant", "slug"]]}},
    "on": {"customer.deleted": [{"delete": "emails", "key": "$stream"}]}})");
  ASSERT_TRUE(std::holds_alternative<engine::spec::Spec>(parsed));
  const engine::spec::SpecProjection p{std::get<engine::spec::Spec>(std::move(parsed))};
  EXPECT_EQ(p.mode(), engine::ProjectionMode::kInline);
  // Columns: the key first, then the others in document order.
  EXPECT_EQ(p.tables()[0].unique, (std::vector<std::vector<std::size_t>>{{3}, {1, 2}}));
}
