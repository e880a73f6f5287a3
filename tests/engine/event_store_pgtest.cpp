#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <tuple>

#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "tests/support/new_event.hpp"
#include "tests/support/pg_fixture.hpp"

using namespace reproj;
using engine::ExpectedVersion;
using engine::NewEvent;

namespace {
using test::new_event;

class EventStoreTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    store_ = std::make_unique<engine::EventStore>(*pool_);
  }
  std::unique_ptr<engine::EventStore> store_;
};
}  // namespace

TEST_F(EventStoreTest, AppendAssignsPositionsAndStreamVersions) {
  auto r = store_->append(
      "car-1", ExpectedVersion::no_stream(),
      {new_event("car.created", {{"by", "Alice"}, {"color", "blue"}}), new_event("car.repainted", {{"color", "red"}})});
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.first_position, 1);
  EXPECT_EQ(r.last_position, 2);
  EXPECT_EQ(r.next_expected_version, 2);
  auto r2 = store_->append("car-2", ExpectedVersion::any(), {new_event("car.created", {{"by", "Bob"}})});
  EXPECT_EQ(r2.first_position, 3);
  EXPECT_EQ(r2.next_expected_version, 1);

  auto events = store_->read(0, store_->safe_tail(), 100);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].stream_version, 1);
  EXPECT_EQ(events[1].stream_version, 2);
  EXPECT_EQ(events[1].type, "car.repainted");
  EXPECT_EQ(nlohmann::json::parse(events[1].data), (nlohmann::json{{"color", "red"}}));
  EXPECT_EQ(events[2].stream_id, "car-2");
  EXPECT_EQ(events[0].event_id.size(), 36u) << "a UUID is generated when event_id is omitted";
  EXPECT_EQ(store_->safe_tail(), 3);
}

TEST_F(EventStoreTest, ExactVersionMismatchThrowsVersionConflictWithActualVersion) {
  store_->append("s", ExpectedVersion::any(), {new_event("a", {}), new_event("a", {})});
  try {
    store_->append("s", ExpectedVersion::exactly(1), {new_event("a", {})});
    FAIL() << "stale version accepted";
  } catch (const engine::VersionConflict& e) {
    EXPECT_EQ(e.actual_version(), 2);
  }
  EXPECT_NO_THROW(store_->append("s", ExpectedVersion::exactly(2), {new_event("a", {})}));
  EXPECT_EQ(store_->safe_tail(), 3) << "the refused append wrote nothing";
}

TEST_F(EventStoreTest, NoStreamFailsOnExistingStreamAndAnyAlwaysAppends) {
  store_->append("s", ExpectedVersion::no_stream(), {new_event("a", {})});
  EXPECT_THROW(store_->append("s", ExpectedVersion::no_stream(), {new_event("a", {})}), engine::VersionConflict);
  EXPECT_THROW(store_->append("t", ExpectedVersion::exactly(1), {new_event("a", {})}), engine::VersionConflict);
  auto r = store_->append("s", ExpectedVersion::any(), {new_event("a", {})});
  EXPECT_EQ(r.next_expected_version, 2);
}

TEST_F(EventStoreTest, ReappendingSameEventIdsIsIdempotent) {
  std::vector<NewEvent> batch{new_event("customer.created", {{"name", "Bob"}}, "qcwbf2"),
                              new_event("customer.renamed", {{"name", "Charlie"}}, "e1owui")};
  auto first = store_->append("b2dhuw", ExpectedVersion::no_stream(), batch);
  auto again = store_->append("b2dhuw", ExpectedVersion::no_stream(), batch);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.first_position, first.first_position);
  EXPECT_EQ(again.last_position, first.last_position);
  EXPECT_EQ(again.next_expected_version, 2);
  EXPECT_EQ(store_->safe_tail(), 2) << "the re-append wrote events";
}

TEST_F(EventStoreTest, SameEventIdWithOtherContentIsAConflict) {
  store_->append("b2dhuw", ExpectedVersion::any(), {new_event("customer.created", {{"name", "Bob"}}, "fhreui")});
  EXPECT_THROW(
      store_->append("b2dhuw", ExpectedVersion::any(), {new_event("customer.created", {{"name", "Eve"}}, "fhreui")}),
      engine::EventIdConflict);
  EXPECT_THROW(
      store_->append("other", ExpectedVersion::any(), {new_event("customer.created", {{"name", "Bob"}}, "fhreui")}),
      engine::EventIdConflict);
  // A batch that mixes a reused id with a new one is a conflict too, and writes nothing.
  EXPECT_THROW(store_->append("b2dhuw", ExpectedVersion::any(),
                              {new_event("customer.created", {{"name", "Bob"}}, "fhreui"), new_event("x", {}, "new1")}),
               engine::EventIdConflict);
  EXPECT_EQ(store_->safe_tail(), 1);
}

TEST_F(EventStoreTest, BadInputIsRefusedBeforeAnythingIsWritten) {
  EXPECT_THROW(store_->append("", ExpectedVersion::any(), {new_event("a", {})}), engine::InvalidInput);
  EXPECT_THROW(store_->append("s", ExpectedVersion::any(), {}), engine::InvalidInput);
  EXPECT_THROW(store_->append("s", ExpectedVersion::any(), {new_event("", {})}), engine::InvalidInput);
  EXPECT_THROW(store_->append("s", ExpectedVersion::any(), {new_event("a", {}, "dup"), new_event("b", {}, "dup")}),
               engine::InvalidInput);
  EXPECT_THROW(store_->append("s", ExpectedVersion::any(), {new_event("a", {{"x", std::string("nul\0here", 8)}})}),
               engine::InvalidInput);
  EXPECT_EQ(store_->safe_tail(), 0);
}

TEST_F(EventStoreTest, LogRefusesUpdateDeleteAndTruncate) {
  store_->append("s", ExpectedVersion::any(), {new_event("a", {})});
  pqxx::connection c{db_->url()};
  for (const char* sql :
       {"UPDATE reproj.events SET event_type = 'b'", "DELETE FROM reproj.events", "TRUNCATE reproj.events"}) {
    pqxx::work tx{c};
    EXPECT_THROW(tx.exec(sql), pqxx::sql_error) << sql;
  }
  EXPECT_EQ(store_->safe_tail(), 1);
}

// Both ways of reading a range (a prepared SELECT for a few events, COPY for many) give the same
// events, and a reader that leaves out the extras gets them empty and everything else intact.
TEST_F(EventStoreTest, ShortAndLongRangesReadTheSameEventsAndExtrasCanBeLeftOut) {
  std::vector<NewEvent> batch;
  for (int i = 0; i < 700; ++i) batch.push_back(new_event("car.repainted", {{"color", "c" + std::to_string(i)}}));
  batch[3].metadata = {{"by", "ops"}};
  store_->append("car-1", ExpectedVersion::any(), batch);
  pqxx::connection conn{db_->url()};
  pqxx::read_transaction tx{conn};
  auto read = [&](std::int64_t after, std::int64_t up_to, const engine::EventExtras& extras) {
    std::vector<engine::Event> out;
    engine::log::stream_events(
        tx, after, up_to, 10'000, [&](engine::Event& e) { out.push_back(std::move(e)); }, extras);
    return out;
  };
  const auto many = read(0, 700, {});  // 700 positions: through COPY
  ASSERT_EQ(many.size(), 700u);
  for (std::int64_t from : {0, 350}) {
    const auto few = read(from, from + 10, {});  // through the prepared SELECT
    ASSERT_EQ(few.size(), 10u);
    for (std::size_t i = 0; i < few.size(); ++i) {
      const auto& a = few[i];
      const auto& b = many[static_cast<std::size_t>(from) + i];
      EXPECT_EQ(std::tie(a.global_position, a.event_id, a.stream_id, a.stream_version, a.type, a.data, a.metadata,
                         a.recorded_at),
                std::tie(b.global_position, b.event_id, b.stream_id, b.stream_version, b.type, b.data, b.metadata,
                         b.recorded_at));
    }
  }
  EXPECT_EQ(nlohmann::json::parse(many[3].metadata), (nlohmann::json{{"by", "ops"}}));
  EXPECT_EQ(many[3].stream_version, 4);
  EXPECT_FALSE(many[3].recorded_at.empty());
  const auto lean = read(0, 700, {false, false, false});
  ASSERT_EQ(lean.size(), 700u);
  EXPECT_EQ(lean[3].stream_version, 0);
  EXPECT_EQ(lean[3].metadata, "");
  EXPECT_EQ(lean[3].recorded_at, "");
  EXPECT_EQ(std::tie(lean[3].global_position, lean[3].event_id, lean[3].stream_id, lean[3].type, lean[3].data),
            std::tie(many[3].global_position, many[3].event_id, many[3].stream_id, many[3].type, many[3].data));
}
