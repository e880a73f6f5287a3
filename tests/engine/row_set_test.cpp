// RowSet, the one Sink: in-place updates keep its secondary index right.
#include "engine/row_set.hpp"

#include <algorithm>

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
