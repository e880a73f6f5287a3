// Physical table names and their parse inverse.
#include <gtest/gtest.h>

#include "engine/detail/table_names.hpp"

using namespace reproj::engine;
using namespace reproj::engine::detail;

namespace {

class TwoTables final : public Projection {
 public:
  std::string_view name() const override { return "cars"; }
  int version() const override { return 1; }
  const std::vector<TableSpec>& tables() const override {
    static const std::vector<TableSpec> kTables{{"cars", {{"car_id"}}, {}, {}}, {"customer_names", {{"customer_id"}}, {}, {}}};
    return kTables;
  }
  void apply(const Event&, Sink&) const override {}
};

}  // namespace

TEST(TableNames, EveryKindRoundTripsThroughParse) {
  const TwoTables p;
  EXPECT_EQ(table_names(p), (std::vector<std::string>{"cars", "cars__customer_names"}));
  EXPECT_EQ(table_names(p, TableKind::kShadow, 12), (std::vector<std::string>{"cars__s12", "cars__customer_names__s12"}));
  EXPECT_EQ(table_names(p, TableKind::kRetired, 3), (std::vector<std::string>{"cars__r3", "cars__customer_names__r3"}));
  EXPECT_EQ(table_names(p, TableKind::kParked, 3), (std::vector<std::string>{"cars__t3", "cars__customer_names__t3"}));
  for (auto kind : {TableKind::kLive, TableKind::kShadow, TableKind::kRetired, TableKind::kParked}) {
    const std::int64_t id = kind == TableKind::kLive ? 0 : 41;
    for (const auto& t : p.tables()) {
      const auto name = table_name(p, t, kind, id);
      const auto parsed = parse_table_name(name);
      ASSERT_TRUE(parsed) << name;
      EXPECT_EQ(parsed->projection, "cars") << name;
      EXPECT_EQ(parsed->table, t.name) << name;
      EXPECT_EQ(parsed->kind, kind) << name;
      EXPECT_EQ(parsed->rebuild_id, id) << name;
    }
  }
}

TEST(TableNames, HistoriesFollowTheRowTablesAndParseBack) {
  class Kept final : public Projection {
   public:
    std::string_view name() const override { return "cars"; }
    int version() const override { return 1; }
    const std::vector<TableSpec>& tables() const override {
      static const std::vector<TableSpec> kTables{{"cars", {{"car_id"}}, {}, {}, HistorySpec{}},
                                                  {"owners", {{"id"}}, {}, {}},
                                                  {"names", {{"id"}}, {}, {}, HistorySpec{.retain_events = 5}}};
      return kTables;
    }
    void apply(const Event&, Sink&) const override {}
  } p;
  EXPECT_EQ(table_names(p, TableKind::kShadow, 7),
            (std::vector<std::string>{"cars__s7", "cars__owners__s7", "cars__names__s7", "cars__h__s7", "cars__names__h__s7"}));
  EXPECT_EQ(history_of(p, 0), 3u);
  EXPECT_FALSE(history_of(p, 1));
  EXPECT_EQ(history_of(p, 2), 4u);
  EXPECT_EQ(row_tables(p, table_names(p)).size(), 3u);
  for (const char* name : {"cars__h", "cars__names__h__r3"}) {
    const auto parsed = parse_table_name(name);
    ASSERT_TRUE(parsed) << name;
    EXPECT_TRUE(parsed->history) << name;
    EXPECT_EQ(parsed->projection, "cars");
  }
  EXPECT_EQ(parse_table_name("cars__names__h__r3")->table, "names");
  EXPECT_EQ(parse_table_name("cars__names__h__r3")->rebuild_id, 3);
  EXPECT_FALSE(parse_table_name("cars__customer_names")->history);
}

TEST(TableNames, ParseRefusesWhatTableNameNeverMakes) {
  for (const char* bad : {"", "__cars", "cars__", "cars____s1", "cars__a__b__c", "cars__x__y"}) {
    EXPECT_FALSE(parse_table_name(bad)) << bad;
  }
  EXPECT_EQ(parse_table_name("cars__s0")->table, "s0") << "s0 is not a rebuild id: a table named s0";
}
