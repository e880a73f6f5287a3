// RowSet, the one Sink: in-place updates keep its secondary index right.
#include "engine/row_set.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

using namespace reproj::engine;

namespace {
const std::vector<TableSpec>& cars() {
  static const std::vector<TableSpec> kTables{
      {"cars", {{"car_id"}, {"color"}, {"customer_id"}}, {2}}};  // indexed by customer_id
  return kTables;
}
Row car(std::string id, std::string color, Value customer) {
  return Row{{std::move(id), std::move(color), std::move(customer)}};
}
std::vector<std::string> cars_of(RowSet& rows, const std::string& customer) {
  std::vector<std::string> out;
  rows.update_where(0, 2, customer, [&](Row& r) { out.push_back(r.key()); });
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST(RowSet, UpdateChangesInPlaceAndReindexesWhenAnIndexedColumnChanges) {
  RowSet rows{cars(), nullptr};
  const auto make = [] { return car("c1", "none", std::monostate{}); };
  rows.update(0, "c1", make, [](Row& r) { r.values[1] = std::string{"red"}; });  // absent: made, then changed
  ASSERT_NE(rows.find(0, "c1"), nullptr);
  EXPECT_EQ(*rows.find(0, "c1"), car("c1", "red", std::monostate{}));
  rows.put(0, car("c2", "blue", std::string{"ann"}));
  rows.update(0, "c1", make, [](Row& r) { r.values[2] = std::string{"ann"}; });  // a sale: index gains c1
  EXPECT_EQ(cars_of(rows, "ann"), (std::vector<std::string>{"c1", "c2"}));
  rows.update(0, "c1", make, [](Row& r) { r.values[2] = std::string{"bob"}; });  // resold: moves in the index
  EXPECT_EQ(cars_of(rows, "ann"), (std::vector<std::string>{"c2"}));
  EXPECT_EQ(cars_of(rows, "bob"), (std::vector<std::string>{"c1"}));
  rows.update(0, "c1", make, [](Row& r) { r.values[1] = std::string{"green"}; });  // no indexed change
  EXPECT_EQ(cars_of(rows, "bob"), (std::vector<std::string>{"c1"}));
  EXPECT_EQ(*rows.find(0, "c1"), car("c1", "green", std::string{"bob"}));
  std::size_t dirty = 0;
  rows.for_each_dirty(0, [&](const Row&, bool) { ++dirty; });
  EXPECT_EQ(dirty, 2u);
}

TEST(RowSet, UpdateChangesARowLoadedFromTheSourceAndRemembersAbsence) {
  struct Source final : RowSource {
    std::vector<Row> load(std::size_t, const std::vector<std::string>& keys) override {
      ++loads;
      return keys.front() == "c9" ? std::vector<Row>{car("c9", "grey", std::string{"ann"})} : std::vector<Row>{};
    }
    std::vector<Row> load_where(std::size_t, std::size_t, const std::vector<std::string>&) override { return {}; }
    int loads = 0;
  } source;
  RowSet rows{cars(), &source};
  const auto make = [] { return car("new", "none", std::monostate{}); };
  rows.update(0, "c9", make, [](Row& r) { r.values[2] = std::string{"bob"}; });  // loaded, then changed
  EXPECT_EQ(*rows.find(0, "c9"), car("c9", "grey", std::string{"bob"}));
  EXPECT_EQ(cars_of(rows, "bob"), (std::vector<std::string>{"c9"}));
  rows.update(0, "gone", [] { return car("gone", "none", std::monostate{}); },
              [](Row& r) { r.values[1] = std::string{"red"}; });  // the source has none: made
  rows.update(0, "gone", make, [](Row& r) { r.values[1] = std::string{"blue"}; });  // held now: changed
  EXPECT_EQ(*rows.find(0, "gone"), car("gone", "blue", std::monostate{}));
  EXPECT_EQ(source.loads, 2) << "a held row or a remembered absence went back to the source";
  std::vector<std::pair<std::string, bool>> dirty;
  rows.for_each_dirty(0, [&](const Row& r, bool persisted) { dirty.emplace_back(r.key(), persisted); });
  std::sort(dirty.begin(), dirty.end());
  EXPECT_EQ(dirty, (std::vector<std::pair<std::string, bool>>{{"c9", true}, {"gone", false}}));
}

TEST(RowSet, EraseLeavesTheIndexAndDeletesWhatTheTargetMayHold) {
  struct Source final : RowSource {
    std::vector<Row> load(std::size_t, const std::vector<std::string>& keys) override {
      return keys.front() == "c9" ? std::vector<Row>{car("c9", "grey", std::string{"ann"})} : std::vector<Row>{};
    }
    std::vector<Row> load_where(std::size_t, std::size_t, const std::vector<std::string>&) override { return {}; }
  } source;
  RowSet rows{cars(), &source};
  rows.erase(0, "c9");                                     // loaded, then erased
  rows.put(0, car("c5", "red", std::string{"ann"}));       // an upsert, never loaded: the target may hold it
  rows.erase(0, "c5");
  rows.erase(0, "never");                                  // nowhere: nothing to delete
  EXPECT_EQ(rows.find(0, "c9"), nullptr);
  EXPECT_TRUE(cars_of(rows, "ann").empty()) << "an erased row stayed in the index";
  std::vector<std::string> erased;
  rows.for_each_erased(0, [&](const std::string& key) { erased.push_back(key); });
  std::sort(erased.begin(), erased.end());
  EXPECT_EQ(erased, (std::vector<std::string>{"c5", "c9"}));
  rows.mark_flushed();
  erased.clear();
  rows.for_each_erased(0, [&](const std::string& key) { erased.push_back(key); });
  EXPECT_TRUE(erased.empty()) << "a flushed delete was kept for the next flush";

  RowSet rebuild{cars(), nullptr};  // a rebuild's memory is the whole truth: a row it never flushed needs no DELETE
  rebuild.put(0, car("c1", "red", std::monostate{}));
  rebuild.erase(0, "c1");
  rebuild.for_each_erased(0, [&](const std::string& key) { ADD_FAILURE() << key << " would be deleted"; });
}
