// Group commit (EventStore::append_group): each request of a group is answered as if it ran alone,
// after the requests before it (docs/DESIGN.md, invariant 11). The oracle is the same requests appended one
// at a time into a second database: every answer and the whole log must come out the same.
#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>
#include <random>
#include <typeinfo>

#include "engine/connection_pool_run.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/migrations.hpp"
#include "tests/support/new_event.hpp"
#include "tests/support/pg_fixture.hpp"

using namespace reproj;
using engine::AppendOutcome;
using engine::AppendRequest;
using engine::ExpectedVersion;
using engine::NewEvent;

namespace {

using test::new_event;

struct Workload {
  std::vector<AppendRequest> requests;
  std::vector<std::size_t> group_sizes;
};

// Requests meant to hit every rule: right and wrong expected versions (the generator's guess of a
// stream's version runs ahead when a guessed write fails), no_stream, retries of recent requests
// (often in the same group), an id reused with other content or next to a new id, bad input.
Workload workload(std::uint64_t seed, std::size_t count) {
  std::mt19937_64 rng{seed};
  const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::map<std::string, std::int64_t> guess;
  Workload w;
  int next_id = 0;
  while (w.requests.size() < count) {
    const auto roll = pick(100);
    if (roll < 15 && !w.requests.empty()) {  // an idempotent retry of one of the last 12
      const auto back = std::min<std::size_t>(w.requests.size(), 12);
      w.requests.push_back(w.requests[w.requests.size() - 1 - pick(back)]);
      continue;
    }
    AppendRequest r;
    r.stream_id = "s" + std::to_string(pick(6));
    const auto events = 1 + pick(3);
    const bool ids = roll < 60;
    for (std::size_t i = 0; i < events; ++i) {
      std::optional<std::string> id;
      if (ids) id = "e" + std::to_string(next_id++);
      r.events.push_back(new_event("t" + std::to_string(pick(3)), {{"n", pick(5)}}, id));
    }
    if (roll >= 60 && roll < 66 && next_id > 0) {  // an id already used, with other content
      r.events[0].event_id = "e" + std::to_string(pick(static_cast<std::size_t>(next_id)));
      r.events[0].data = {{"n", 99}};
    }
    if (roll >= 66 && roll < 68) r.events.back().type.clear();  // bad input
    const auto kind = pick(10);
    auto& version = guess[r.stream_id];
    if (kind < 4) {
      r.expected = ExpectedVersion::any();
    } else if (kind < 5) {
      r.expected = ExpectedVersion::no_stream();
    } else {
      r.expected = ExpectedVersion::exactly(std::max<std::int64_t>(0, version + (pick(4) == 0 ? -1 : 0)));
    }
    version += static_cast<std::int64_t>(events);
    w.requests.push_back(std::move(r));
  }
  for (std::size_t done = 0; done < count;) {
    const auto n = std::min(count - done, 1 + pick(pick(4) == 0 ? 60 : 8));
    w.group_sizes.push_back(n);
    done += n;
  }
  return w;
}

// An outcome as text: the error's type and message, or every field of the result.
std::string describe(const AppendOutcome& o) {
  if (o.error) {
    try {
      std::rethrow_exception(o.error);
    } catch (const std::exception& e) {
      return std::string{"error "} + typeid(e).name() + ": " + e.what();
    }
  }
  const auto& r = o.result;
  return "ok " + r.stream_id + " " + std::to_string(r.first_position) + ".." + std::to_string(r.last_position) +
         " next " + std::to_string(r.next_expected_version) + (r.duplicate ? " duplicate" : "");
}

std::vector<std::string> log_of(engine::ConnectionPool& pool) {
  return pool.run([](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<std::string> out;
    // Generated ids are random: only their place is compared.
    for (const auto& r : tx.exec("SELECT global_position, CASE WHEN length(event_id) = 36 THEN '(generated)' "
                                 "ELSE event_id END, stream_id, stream_version, event_type, data::text, "
                                 "metadata::text FROM reproj.events ORDER BY global_position")) {
      std::string line;
      for (const auto& f : r) line += std::string{f.c_str()} + " | ";
      out.push_back(line);
    }
    return out;
  });
}

class AppendGroupTest : public test::PgTest {};

}  // namespace

TEST_F(AppendGroupTest, EachRequestIsAnsweredAsIfAloneInArrivalOrder) {
  test::TestDatabase alone_db;
  engine::migrate(alone_db.url());
  engine::ConnectionPool alone_pool{alone_db.url(), 2};
  engine::EventStore grouped{*pool_}, alone{alone_pool};

  const auto w = workload(7, 3000);
  std::map<std::string, int> kinds;  // what the workload produced, so the test shows it covered each rule
  std::size_t at = 0;
  for (const auto size : w.group_sizes) {
    const std::vector<AppendRequest> group(w.requests.begin() + static_cast<std::ptrdiff_t>(at),
                                           w.requests.begin() + static_cast<std::ptrdiff_t>(at + size));
    const auto outcomes = grouped.append_group(group);
    ASSERT_EQ(outcomes.size(), size);
    for (std::size_t i = 0; i < size; ++i) {
      AppendOutcome expected;
      try {
        expected.result = alone.append(group[i].stream_id, group[i].expected, group[i].events);
      } catch (...) {
        expected.error = std::current_exception();
      }
      const auto want = describe(expected);
      ASSERT_EQ(describe(outcomes[i]), want) << "request " << at + i << " (group of " << size << ")";
      if (expected.error) {
        ++kinds[want.substr(0, want.find(':'))];
      } else {
        ++kinds[expected.result.duplicate ? "duplicate" : "written"];
      }
    }
    at += size;
  }
  EXPECT_EQ(log_of(*pool_), log_of(alone_pool)) << "the logs differ";
  for (const auto& [kind, n] : kinds) std::cout << "  " << n << " × " << kind << "\n";
  EXPECT_GT(kinds["duplicate"], 100);
  EXPECT_GT(kinds["written"], 1000);
  std::size_t conflicts = 0, ids = 0, invalid = 0;
  for (const auto& [kind, n] : kinds) {
    if (kind.find("VersionConflict") != std::string::npos) conflicts += static_cast<std::size_t>(n);
    if (kind.find("EventIdConflict") != std::string::npos) ids += static_cast<std::size_t>(n);
    if (kind.find("InvalidInput") != std::string::npos) invalid += static_cast<std::size_t>(n);
  }
  EXPECT_GT(conflicts, 100u);
  EXPECT_GT(ids, 50u);
  EXPECT_GT(invalid, 20u);
}

namespace {
// Refuses any event whose data holds "refuse", after writing a row per event it saw: what it wrote
// for a refused request must go with it.
class RefusingObserver final : public engine::AppendObserver {
 public:
  bool active() const override { return true; }
  void appended(pqxx::transaction_base& tx, std::int64_t, std::int64_t,
                const std::vector<engine::Event>* events) override {
    ++calls;
    for (const auto& e : *events) {
      tx.exec_params("INSERT INTO seen (event_id) VALUES ($1)", e.event_id);
      if (e.data.find("refuse") != std::string::npos) {
        throw engine::UniqueViolation("p", {{.table = "t",
                                             .columns = {"email"},
                                             .value_json = "\"x@example.com\"",
                                             .key = "k",
                                             .position = e.global_position,
                                             .existing_key = "j",
                                             .existing_position = 1}});
      }
    }
  }
  int calls = 0;
};
}  // namespace

TEST_F(AppendGroupTest, ARequestTheObserverRefusesWritesNothingAndTheOthersCommit) {
  pool_->run([](pqxx::connection& conn) {
    pqxx::work tx{conn};
    tx.exec("CREATE TABLE seen (event_id text PRIMARY KEY)");
    tx.commit();
  });
  RefusingObserver observer;
  engine::EventStore store{*pool_, {.observer = &observer}};
  std::vector<AppendRequest> group(4);
  group[0] = {"a", ExpectedVersion::no_stream(), {new_event("t", {{"ok", 1}}, "a1")}};
  group[1] = {
      "a", ExpectedVersion::exactly(1), {new_event("t", {{"ok", 2}}, "a2"), new_event("t", {{"refuse", 1}}, "a3")}};
  // Alone after the refused one, the stream is at 1: expecting 1 is right, and a2 is new again.
  group[2] = {"a", ExpectedVersion::exactly(1), {new_event("t", {{"ok", 3}}, "a2")}};
  group[3] = {"a", ExpectedVersion::exactly(3), {new_event("t", {{"ok", 4}}, "a4")}};
  const auto out = store.append_group(group);
  EXPECT_EQ(describe(out[0]).substr(0, 2), "ok");
  EXPECT_NE(describe(out[1]).find("UniqueViolation"), std::string::npos) << describe(out[1]);
  EXPECT_EQ(out[2].result.next_expected_version, 2) << describe(out[2]);
  EXPECT_NE(describe(out[3]).find("VersionConflict"), std::string::npos) << describe(out[3]);
  const auto seen = pool_->run([](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<std::string> ids;
    for (const auto& r : tx.exec("SELECT s.event_id FROM seen s JOIN reproj.events e USING (event_id) "
                                 "ORDER BY e.global_position")) {
      ids.push_back(r[0].as<std::string>());
    }
    ids.push_back(std::to_string(tx.exec1("SELECT count(*) FROM seen")[0].as<int>()));
    ids.push_back(std::to_string(tx.exec1("SELECT count(*) FROM reproj.events")[0].as<int>()));
    return ids;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a1", "a2", "2", "2"})) << "the refused request left a trace";
  EXPECT_GE(observer.calls, 2) << "the group was not redone request by request";
}
