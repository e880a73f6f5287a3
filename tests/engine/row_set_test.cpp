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
      {"cars", {{"car_id"}, {"color"}, {"customer_id"}}, {2}, {}}};  // indexed by customer_id
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

namespace {
// users(user_id, email, tenant, slug): email unique, (tenant, slug) unique.
const std::vector<TableSpec>& users() {
  static const std::vector<TableSpec> kTables{
      {"users", {{"user_id"}, {"email"}, {"tenant"}, {"slug"}}, {}, {{1}, {2, 3}}}};
  return kTables;
}
Row user(std::string id, Value email, Value tenant = std::monostate{}, Value slug = std::monostate{}) {
  return Row{{std::move(id), std::move(email), std::move(tenant), std::move(slug)}};
}
// One event: begin, change, and the clash if any (undone, as the appliers do).
std::optional<UniqueClash> event(RowSet& rows, std::int64_t position, const std::function<void(RowSet&)>& change) {
  rows.begin_event(position);
  change(rows);
  auto clash = rows.clash();
  if (clash) rows.undo_event();
  return clash;
}
const auto kNone = [] { return user("?", std::monostate{}); };
void set_email(RowSet& rows, const std::string& id, const std::string& email) {
  rows.update(0, id, [&] { return user(id, std::monostate{}); }, [&](Row& r) { r.values[1] = email; });
}
}  // namespace

TEST(RowSet, AUniqueValueHasOneHolderAfterEveryEventAndAClashIsUndoneWhole) {
  RowSet rows{users(), nullptr};
  EXPECT_FALSE(event(rows, 1, [](RowSet& r) { r.put(0, user("a", std::string{"x"})); }));
  auto clash = event(rows, 2, [](RowSet& r) {
    r.put(0, user("z", std::string{"other"}));  // a second write of the same event: undone too
    r.put(0, user("b", std::string{"x"}));
  });
  ASSERT_TRUE(clash);
  EXPECT_EQ(clash->rule, 0u);
  EXPECT_EQ(clash->key, "b");
  EXPECT_EQ(clash->existing_key, "a");
  EXPECT_EQ(clash->position, 2);
  EXPECT_EQ(clash->existing_position, 1);
  EXPECT_EQ(clash->values, std::vector<Value>{std::string{"x"}});
  EXPECT_EQ(rows.find(0, "b"), nullptr);
  EXPECT_EQ(rows.find(0, "z"), nullptr);
  // Released then taken, in two events or in one: the order inside an event does not matter,
  // only the state after it.
  EXPECT_FALSE(event(rows, 3, [](RowSet& r) { set_email(r, "a", "y"); }));
  EXPECT_FALSE(event(rows, 4, [](RowSet& r) { r.put(0, user("b", std::string{"x"})); }));
  EXPECT_FALSE(event(rows, 5, [](RowSet& r) {
    r.put(0, user("c", std::string{"y"}));  // takes a's value before a lets go of it
    set_email(r, "a", "w");
  }));
  // Taken before it is released, across events: the first event clashes.
  EXPECT_TRUE(event(rows, 6, [](RowSet& r) { r.put(0, user("d", std::string{"w"})); }));
  // Erasing releases; NULLs never clash; a composite rule clashes on all its columns only.
  EXPECT_FALSE(event(rows, 7, [](RowSet& r) { r.erase(0, "a"); }));
  EXPECT_FALSE(event(rows, 8, [](RowSet& r) { r.put(0, user("d", std::string{"w"})); }));
  EXPECT_FALSE(event(rows, 9, [](RowSet& r) {
    r.put(0, user("n1", std::monostate{}, std::string{"t1"}, std::string{"s"}));
    r.put(0, user("n2", std::monostate{}, std::string{"t2"}, std::string{"s"}));
    r.put(0, user("n3", std::monostate{}, std::string{"t1"}, std::monostate{}));
    r.put(0, user("n4", std::monostate{}, std::string{"t1"}, std::monostate{}));
  }));
  auto composite = event(rows, 10, [](RowSet& r) {
    r.update(0, "n2", kNone, [](Row& row) { row.values[2] = std::string{"t1"}; });
  });
  ASSERT_TRUE(composite);
  EXPECT_EQ(composite->rule, 1u);
  EXPECT_EQ(composite->existing_key, "n1");
  EXPECT_EQ(composite->existing_position, 9);
  EXPECT_EQ(*rows.find(0, "n2"), user("n2", std::monostate{}, std::string{"t2"}, std::string{"s"}));
}

TEST(RowSet, UndoRestoresRowsIndexesAndHolderPositions) {
  RowSet rows{users(), nullptr};
  EXPECT_FALSE(event(rows, 1, [](RowSet& r) { r.put(0, user("a", std::string{"x"})); }));
  EXPECT_FALSE(event(rows, 2, [](RowSet& r) { r.put(0, user("b", std::string{"y"})); }));
  // An event that moves a's value to b's and gives b a new one, then clashes elsewhere: all of it goes.
  EXPECT_TRUE(event(rows, 3, [](RowSet& r) {
    set_email(r, "b", "v");
    set_email(r, "a", "y");
    r.erase(0, "b");
    r.put(0, user("c", std::string{"y"}));
  }));
  EXPECT_EQ(*rows.find(0, "a"), user("a", std::string{"x"}));
  EXPECT_EQ(*rows.find(0, "b"), user("b", std::string{"y"}));
  EXPECT_EQ(rows.find(0, "c"), nullptr);
  auto clash = event(rows, 4, [](RowSet& r) { r.put(0, user("d", std::string{"x"})); });
  ASSERT_TRUE(clash);
  EXPECT_EQ(clash->existing_key, "a");
  EXPECT_EQ(clash->existing_position, 1) << "the holder keeps the position it got the value at";
  std::size_t dirty = 0;
  rows.for_each_dirty(0, [&](const Row&, bool) { ++dirty; });
  EXPECT_EQ(dirty, 2u);
}

TEST(RowSet, ClashLoadsTheHoldersOfAValueFromTheSourceOnceAndSeesPastThemWhenMovedInMemory) {
  struct Source final : RowSource {
    std::vector<Row> load(std::size_t, const std::vector<std::string>& keys) override {
      return keys.front() == "a" ? std::vector<Row>{user("a", std::string{"x"})} : std::vector<Row>{};
    }
    std::vector<Row> load_where(std::size_t, std::size_t, const std::vector<std::string>&) override { return {}; }
    std::vector<Row> load_unique(std::size_t, const std::vector<std::size_t>& columns,
                                 const std::vector<std::vector<Value>>& tuples) override {
      ++loads;
      if (columns.size() == 1 && tuples.front().front() == Value{std::string{"x"}}) return {user("a", std::string{"x"})};
      return {};
    }
    int loads = 0;
  } source;
  RowSet rows{users(), &source};
  auto clash = event(rows, 5, [](RowSet& r) { r.put(0, user("b", std::string{"x"})); });
  ASSERT_TRUE(clash);
  EXPECT_EQ(clash->existing_key, "a");
  EXPECT_EQ(clash->existing_position, 0);
  EXPECT_EQ(source.loads, 1);
  // a lets go of x in memory (its stored row still holds it): b may take it now.
  EXPECT_FALSE(event(rows, 6, [](RowSet& r) { set_email(r, "a", "q"); }));
  EXPECT_FALSE(event(rows, 7, [](RowSet& r) { r.put(0, user("b", std::string{"x"})); }));
  EXPECT_EQ(source.loads, 2);  // q's holders; x was loaded already
}

TEST(RowSet, WarmingAheadNeitherLoadsNorChangesRows) {
  struct CountingSource : RowSource {
    int loads = 0;
    std::vector<Row> load(std::size_t, const std::vector<std::string>&) override {
      ++loads;
      return {};
    }
    std::vector<Row> load_where(std::size_t, std::size_t, const std::vector<std::string>&) override {
      ++loads;
      return {};
    }
  } source;
  RowSet rows{cars(), &source};
  rows.load_persisted(0, car("c1", "red", std::string{"ann"}));
  std::vector<Event> events(20);
  for (std::size_t i = 0; i < events.size(); ++i) events[i].stream_id = i % 2 ? "c1" : "ghost" + std::to_string(i);
  for (std::size_t i = 0; i < events.size() + 3; ++i) rows.warm_ahead(events, i);  // the last ones look past the end
  EXPECT_EQ(source.loads, 0);
  EXPECT_EQ(rows.size(0), 1u);
  std::size_t dirty = 0;
  rows.for_each_dirty(0, [&](const Row&, bool) { ++dirty; });
  EXPECT_EQ(dirty, 0u);
  EXPECT_EQ(rows.find(0, "ghost0"), nullptr);  // unknown still: asked of the source, not taken as absent
  EXPECT_EQ(source.loads, 1);
}
