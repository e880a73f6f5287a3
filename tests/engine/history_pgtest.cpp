// Time travel (issue 41, docs/DESIGN.md invariant 14): for random logs with deletes and
// re-creations, a row and the list as of random positions P equal an independent fold of the log
// up to P -- live in small batches, after a rebuild, after a rollback, for a spec and for C++.
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "engine/errors.hpp"
#include "engine/history_reads.hpp"
#include "engine/history_retention.hpp"
#include "engine/migration_source.hpp"
#include "engine/rebuild.hpp"
#include "engine/spec/spec_projection.hpp"
#include "tests/support/live_fixture.hpp"
#include "tests/support/new_event.hpp"

using namespace reproj;
using engine::Value;

namespace reproj::engine {
// Rows in failure messages as their values.
void PrintTo(const Row& row, std::ostream* os) {
  *os << "(";
  for (const auto& v : row.values) {
    if (const auto* s = std::get_if<std::string>(&v)) *os << *s;
    else if (const auto* b = std::get_if<bool>(&v)) *os << (*b ? "true" : "false");
    else if (const auto* n = std::get_if<std::int64_t>(&v)) *os << *n;
    else *os << "NULL";
    *os << " ";
  }
  *os << ")";
}
}  // namespace reproj::engine

namespace {

// The spec under test: a car's buyer name follows renames (update_where), cars are scrapped
// (delete) and built again under the same id (upsert after delete).
std::string fleet_spec(int version) {
  return R"({"projection": "fleet", "version": )" + std::to_string(version) + R"(,
    "tables": {
      "fleet": {"key": "car_id", "history": true, "indexes": ["customer_id"], "defaults": {"sold": false},
                "columns": {"car_id": "text", "color": "text", "sold": "boolean", "customer_id": "text",
                            "customer_name": "text"}},
      "names": {"key": "customer_id", "private": true, "history": true,
                "columns": {"customer_id": "text", "name": "text"}}},
    "on": {
      "car.created":   [{"upsert": "fleet", "key": "$stream", "set": {"color": "$data.color"}}],
      "car.repainted": [{"update": "fleet", "key": "$stream", "set": {"color": "$data.color"}, "if_missing": "skip"}],
      "car.sold":      [{"update": "fleet", "key": "$stream", "if_missing": "skip", "set": {"sold": true,
                         "customer_id": "$data.to", "customer_name": {"lookup": "names", "key": "$data.to", "column": "name"}}}],
      "car.scrapped":  [{"delete": "fleet", "key": "$stream"}],
      "customer.renamed": [{"upsert": "names", "key": "$stream", "set": {"name": "$data.name"}},
                           {"update_where": "fleet", "where": {"customer_id": "$stream"}, "set": {"customer_name": "$data.name"}}]
    }})";
}

// The same projection in C++, through the Sink interface.
class FleetCpp final : public engine::Projection {
 public:
  explicit FleetCpp(int version) : version_(version) {
    using engine::ColumnType;
    tables_ = {engine::TableSpec{"fleet",
                                 {{"car_id", ColumnType::kText},
                                  {"color", ColumnType::kText},
                                  {"sold", ColumnType::kBool},
                                  {"customer_id", ColumnType::kText},
                                  {"customer_name", ColumnType::kText}},
                                 {3},
                                 {},
                                 engine::HistorySpec{}},
               engine::TableSpec{"names", {{"customer_id", ColumnType::kText}, {"name", ColumnType::kText}}, {}, {},
                                 engine::HistorySpec{}}};
  }
  std::string_view name() const override { return "fleet"; }
  int version() const override { return version_; }
  const std::vector<engine::TableSpec>& tables() const override { return tables_; }
  void apply(const engine::Event& e, engine::Sink& sink) const override {
    const auto d = nlohmann::json::parse(e.data);
    const std::string& id = e.stream_id;
    if (e.type == "car.created") {
      sink.put(0, engine::Row{{id, d["color"].get<std::string>(), false, Value{}, Value{}}});
    } else if (e.type == "car.repainted") {
      if (sink.find(0, id)) sink.update(0, id, {}, [&](engine::Row& r) { r.values[1] = d["color"].get<std::string>(); });
    } else if (e.type == "car.sold") {
      if (!sink.find(0, id)) return;
      const std::string to = d["to"].get<std::string>();
      const engine::Row* n = sink.find(1, to);
      const Value name = n ? n->values[1] : Value{};
      sink.update(0, id, {}, [&](engine::Row& r) {
        r.values[2] = true;
        r.values[3] = to;
        r.values[4] = name;
      });
    } else if (e.type == "car.scrapped") {
      sink.erase(0, id);
    } else if (e.type == "customer.renamed") {
      const std::string name = d["name"].get<std::string>();
      sink.put(1, engine::Row{{id, name}});
      sink.update_where(0, 3, id, [&](engine::Row& r) { r.values[4] = name; });
    }
  }

 private:
  int version_;
  std::vector<engine::TableSpec> tables_;
};

// The independent fold: what every version above must equal, written without the engine.
struct Fold {
  std::map<std::string, engine::Row> fleet;
  std::map<std::string, std::string> names;
  void apply(const engine::Event& e) {
    const auto d = nlohmann::json::parse(e.data);
    const std::string& id = e.stream_id;
    if (e.type == "car.created") {
      fleet[id] = engine::Row{{id, d["color"].get<std::string>(), false, Value{}, Value{}}};
    } else if (e.type == "car.repainted") {
      if (auto it = fleet.find(id); it != fleet.end()) it->second.values[1] = d["color"].get<std::string>();
    } else if (e.type == "car.sold") {
      if (auto it = fleet.find(id); it != fleet.end()) {
        const std::string to = d["to"].get<std::string>();
        it->second.values[2] = true;
        it->second.values[3] = to;
        auto n = names.find(to);
        it->second.values[4] = n == names.end() ? Value{} : Value{n->second};
      }
    } else if (e.type == "car.scrapped") {
      fleet.erase(id);
    } else if (e.type == "customer.renamed") {
      names[id] = d["name"].get<std::string>();
      for (auto& [k, row] : fleet) {
        if (row.values[3] == Value{id}) row.values[4] = names[id];
      }
    }
  }
};

// Random events over few cars and customers, so keys are deleted and created again often.
std::pair<std::string, engine::NewEvent> random_event(std::mt19937& rng) {
  const std::string car = "car-" + std::to_string(rng() % 12);
  const std::string customer = "cust-" + std::to_string(rng() % 5);
  switch (rng() % 10) {
    case 0:
    case 1: return {car, test::new_event("car.created", {{"color", rng() % 2 ? "red" : "blue"}})};
    case 2:
    case 3: return {car, test::new_event("car.repainted", {{"color", "c" + std::to_string(rng() % 50)}})};
    case 4:
    case 5: return {car, test::new_event("car.sold", {{"to", customer}})};
    case 6: return {car, test::new_event("car.scrapped", nlohmann::json::object())};
    default: return {customer, test::new_event("customer.renamed", {{"name", "n" + std::to_string(rng() % 1000)}})};
  }
}

class HistoryTest : public test::LiveTest {
 protected:
  void SetUp() override {
    for (int v : {1, 2}) {
      auto compiled = engine::spec::compile(fleet_spec(v));
      registry_.add(std::move(std::get<std::unique_ptr<engine::spec::SpecProjection>>(compiled)));
    }
    registry_.add(std::make_unique<FleetCpp>(3));
    registry_.add(std::make_unique<FleetCpp>(4));
    auto retained = nlohmann::ordered_json::parse(fleet_spec(5));  // columns in document order
    retained["tables"]["fleet"]["history"] = {{"retain_events", 50}};
    registry_.add(
        std::move(std::get<std::unique_ptr<engine::spec::SpecProjection>>(engine::spec::compile(retained.dump()))));
    auto inline_mode = nlohmann::ordered_json::parse(fleet_spec(7));  // folded in every append's transaction
    inline_mode["mode"] = "inline";
    registry_.add(std::move(
        std::get<std::unique_ptr<engine::spec::SpecProjection>>(engine::spec::compile(inline_mode.dump()))));
    auto blind = nlohmann::ordered_json::parse(fleet_spec(6));  // v1's bug: buyers keep their old names
    blind["on"]["customer.renamed"].erase(1);
    registry_.add(
        std::move(std::get<std::unique_ptr<engine::spec::SpecProjection>>(engine::spec::compile(blind.dump()))));
    test::LiveTest::SetUp();
  }
  void start(int version) { live_->ensure("fleet", version); }
  void append_random(unsigned seed, int events) {
    std::mt19937 rng{seed};
    for (int i = 0; i < events; ++i) {
      auto [stream, e] = random_event(rng);
      append(stream, {e});
    }
  }

  std::vector<engine::Event> log() {
    std::vector<engine::Event> out;
    for (auto& e : store_->read(0, store_->safe_tail(), 1u << 20)) out.push_back(std::move(e));
    return out;
  }

  // Every car as of `position` -- by key and by list -- against the fold of the log up to it.
  void expect_as_of(const std::vector<engine::Event>& events, std::int64_t position, const std::string& where) {
    SCOPED_TRACE(where + " as of " + std::to_string(position));
    Fold fold;
    for (const auto& e : events) {
      if (e.global_position > position) break;
      fold.apply(e);
    }
    engine::HistoryReads reads{*live_};
    for (int i = 0; i < 12; ++i) {
      const std::string car = "car-" + std::to_string(i);
      const auto r = reads.get_as_of("fleet", car, position);
      EXPECT_EQ(r.watermark, position);
      auto it = fold.fleet.find(car);
      if (it == fold.fleet.end()) {
        EXPECT_TRUE(r.rows.empty()) << car << " did not exist then";
      } else {
        ASSERT_EQ(r.rows.size(), 1u) << car << " existed then";
        EXPECT_EQ(r.rows[0], it->second) << car;
      }
    }
    std::vector<engine::Row> listed;
    for (std::string after;;) {
      const auto page = reads.list_as_of("fleet", after, 5, position);
      listed.insert(listed.end(), page.rows.begin(), page.rows.end());
      if (page.rows.size() < 5) break;
      after = page.rows.back().key();
    }
    std::vector<engine::Row> expected;
    for (const auto& [k, row] : fold.fleet) expected.push_back(row);
    EXPECT_EQ(listed, expected);
    const auto sold_to = reads.list_as_of("fleet", "", 100, position, std::pair<std::string, std::string>{"customer_id", "cust-1"});
    std::size_t want = 0;
    for (const auto& [k, row] : fold.fleet) want += row.values[3] == Value{"cust-1"} ? 1u : 0u;
    EXPECT_EQ(sold_to.rows.size(), want) << "the filter applies to the rows as of the position";
  }

  // Every version of `car` the history reads (page by page, newest first), with what its event
  // changed, against the fold: a version per event that changed the row, none at or before
  // `horizon` but the one current there.
  void expect_history(const std::vector<engine::Event>& events, const std::string& car, const std::string& where,
                      std::int64_t horizon = 0) {
    SCOPED_TRACE(where + ": history of " + car);
    static const std::vector<std::string> kColumns{"car_id", "color", "sold", "customer_id", "customer_name"};
    const auto as_json = [](const Value& v) -> nlohmann::json {
      if (const auto* s = std::get_if<std::string>(&v)) return *s;
      if (const auto* b = std::get_if<bool>(&v)) return *b;
      return nullptr;
    };
    struct Expected {
      std::int64_t position;
      std::optional<engine::Row> row;
      nlohmann::json changed;
    };
    std::vector<Expected> expected;
    Fold fold;
    for (const auto& e : events) {
      const auto before_it = fold.fleet.find(car);
      const std::optional<engine::Row> before =
          before_it == fold.fleet.end() ? std::nullopt : std::optional<engine::Row>{before_it->second};
      fold.apply(e);
      const auto after_it = fold.fleet.find(car);
      const std::optional<engine::Row> after =
          after_it == fold.fleet.end() ? std::nullopt : std::optional<engine::Row>{after_it->second};
      if (before == after) continue;
      auto changed = nlohmann::json::object();
      for (std::size_t c = 0; c < kColumns.size(); ++c) {
        const Value old = before ? before->values[c] : Value{};
        const Value now = after ? after->values[c] : Value{};
        if (old != now) changed[kColumns[c]] = {{"old", as_json(old)}, {"new", as_json(now)}};
      }
      expected.push_back({e.global_position, after, changed});
    }
    std::size_t first = 0;  // the version current at the horizon
    while (first + 1 < expected.size() && expected[first + 1].position <= horizon) ++first;
    engine::HistoryReads reads{*live_};
    std::vector<engine::RowHistoryItem> items;
    for (std::int64_t before = 0;;) {
      auto page = reads.history("fleet", car, before, 3, {});
      items.insert(items.end(), page.items.begin(), page.items.end());
      if (!page.next) break;
      before = *page.next;
    }
    ASSERT_EQ(items.size(), expected.size() - std::min(first, expected.size()));
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& want = expected[expected.size() - 1 - i];
      EXPECT_EQ(items[i].from_position, want.position);
      EXPECT_EQ(items[i].row, want.row) << "at " << want.position;
      EXPECT_EQ(items[i].changed, want.changed) << "at " << want.position;
    }
  }

  void run_oracle(int first, int second, unsigned seed) {
    start(first);
    std::mt19937 rng{seed};
    for (int i = 0; i < 400; ++i) {
      auto [stream, e] = random_event(rng);
      append(stream, {e});
      if (rng() % 9 == 0) live_->catch_up("fleet", store_->safe_tail(), engine::ApplyMode::kWorker, 1 + rng() % 7);
    }
    auto events = log();
    std::uniform_int_distribution<std::int64_t> at{0, store_->safe_tail()};
    for (int k = 0; k < 6; ++k) expect_as_of(events, at(rng), "live");
    for (int i = 0; i < 12; i += 3) expect_history(events, "car-" + std::to_string(i), "live");

    engine::RebuildOptions options;
    options.checkpoint_events = 150;  // several checkpoints: history is appended at each
    engine::RebuildManager rebuilds{*pool_, *live_, options};
    auto info = rebuilds.run(rebuilds.start("fleet", second).id);
    ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
    for (int i = 0; i < 100; ++i) {  // after the promote: only the new version sees these
      auto [stream, e] = random_event(rng);
      append(stream, {e});
    }
    events = log();
    at = std::uniform_int_distribution<std::int64_t>{0, store_->safe_tail()};
    for (int k = 0; k < 6; ++k) expect_as_of(events, at(rng), "rebuilt");
    expect_as_of(events, store_->safe_tail(), "rebuilt");
    for (int i = 1; i < 12; i += 3) expect_history(events, "car-" + std::to_string(i), "rebuilt");

    rebuilds.rollback("fleet");
    for (int k = 0; k < 6; ++k) expect_as_of(events, at(rng), "rolled back");
    expect_as_of(events, store_->safe_tail(), "rolled back");
    for (int i = 2; i < 12; i += 3) expect_history(events, "car-" + std::to_string(i), "rolled back");
  }
};

}  // namespace

TEST_F(HistoryTest, SpecAsOfEqualsTheFoldLiveRebuiltAndRolledBack) { run_oracle(1, 2, 7); }

TEST_F(HistoryTest, CppAsOfEqualsTheFoldLiveRebuiltAndRolledBack) { run_oracle(3, 4, 11); }

TEST_F(HistoryTest, HistoryNamesTheEventOfEachValue) {
  start(1);
  append("cust-1", {test::new_event("customer.renamed", {{"name", "Bob"}})});
  const auto created = append("car-1", {test::new_event("car.created", {{"color", "red"}})});
  const auto sold = append("car-1", {test::new_event("car.sold", {{"to", "cust-1"}})});
  const auto renamed = append("cust-1", {test::new_event("customer.renamed", {{"name", "Charlie"}})});
  const auto scrapped = append("car-1", {test::new_event("car.scrapped", nlohmann::json::object())});
  engine::HistoryReads reads{*live_};
  const auto h = reads.history("fleet", "car-1", 0, 100, {});
  ASSERT_EQ(h.items.size(), 4u);
  EXPECT_EQ(h.items[0].from_position, scrapped);
  EXPECT_FALSE(h.items[0].row) << "a deletion";
  EXPECT_FALSE(h.items[0].to_position) << "current";
  EXPECT_EQ(h.items[0].type, "car.scrapped");
  EXPECT_EQ(h.items[1].from_position, renamed);
  EXPECT_EQ(h.items[1].to_position, scrapped);
  EXPECT_EQ(h.items[1].type, "customer.renamed");
  EXPECT_EQ(h.items[1].changed, (nlohmann::json{{"customer_name", {{"old", "Bob"}, {"new", "Charlie"}}}}));
  EXPECT_EQ(h.items[2].from_position, sold);
  EXPECT_EQ(h.items[2].changed["customer_name"]["new"], "Bob");
  EXPECT_EQ(h.items[2].changed["sold"], (nlohmann::json{{"old", false}, {"new", true}}));
  EXPECT_EQ(h.items[3].from_position, created);
  EXPECT_FALSE(h.items[3].event_id.empty());
  EXPECT_FALSE(h.items[3].recorded_at.empty());
  const auto page = reads.history("fleet", "car-1", 0, 2, {});
  ASSERT_TRUE(page.next);
  const auto rest = reads.history("fleet", "car-1", *page.next, 2, {});
  ASSERT_EQ(rest.items.size(), 2u);
  EXPECT_EQ(rest.items[0].from_position, sold);

  EXPECT_THROW(reads.get_as_of("fleet", "car-1", store_->safe_tail() + 1), engine::InvalidInput);
  EXPECT_THROW(reads.get_as_of("cars", "car-1", 1), engine::HistoryNotKept);
  pqxx::connection c{db_->url()};
  pqxx::read_transaction tx{c};
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM reproj_data.fleet__h")[0].as<int>(), 4)
      << "one version per change, none twice";
}

// A history table made before migration 0014 stored what each event changed in `_changed` (json,
// NOT NULL). After the migration new versions leave it NULL and are read with what they changed
// worked out from the version before; the old versions are read with what they stored.
TEST_F(HistoryTest, HistoryMadeBeforeMigration14KeepsItsChangesAndTakesNewVersions) {
  start(1);
  const auto created = append("car-1", {test::new_event("car.created", {{"color", "red"}})});
  live_->catch_up("fleet", store_->safe_tail(), engine::ApplyMode::kWorker);
  {
    pqxx::connection c{db_->url()};
    pqxx::work tx{c};
    tx.exec0("ALTER TABLE reproj_data.fleet__h ADD COLUMN _changed json");  // as 0012's tables had it
    tx.exec0(R"(UPDATE reproj_data.fleet__h SET _changed = '{"color": {"old": null, "new": "stored"}}')");
    tx.exec0("ALTER TABLE reproj_data.fleet__h ALTER COLUMN _changed SET NOT NULL");
    tx.exec0("ALTER TABLE reproj_data.fleet__names__h ADD COLUMN _changed json NOT NULL");  // empty yet
    tx.commit();
  }
  {
    pqxx::connection c{db_->url()};
    pqxx::work tx{c};
    for (const auto& m : engine::embedded_migrations()) {
      if (m.version == 14) tx.exec0(m.sql);
    }
    tx.commit();
  }
  const auto repainted = append("car-1", {test::new_event("car.repainted", {{"color", "blue"}})});
  append("cust-1", {test::new_event("customer.renamed", {{"name", "Bob"}})});
  live_->catch_up("fleet", store_->safe_tail(), engine::ApplyMode::kWorker);  // both tables take a version
  engine::HistoryReads reads{*live_};
  const auto h = reads.history("fleet", "car-1", 0, 10, {});  // the repaint applied: the column takes NULL
  ASSERT_EQ(h.items.size(), 2u);
  EXPECT_EQ(h.items[0].from_position, repainted);
  EXPECT_EQ(h.items[0].changed, (nlohmann::json{{"color", {{"old", "red"}, {"new", "blue"}}}}));
  EXPECT_EQ(h.items[1].from_position, created);
  EXPECT_EQ(h.items[1].changed, (nlohmann::json{{"color", {{"old", nullptr}, {"new", "stored"}}}})) << "as stored";
}

TEST_F(HistoryTest, RetentionPrunesBelowItsHorizonAndReadsThereAreGone) {
  start(5);
  append_random(3, 300);
  live_->catch_up("fleet", store_->safe_tail(), engine::ApplyMode::kWorker);
  const auto pruned = engine::prune_history(*pool_, registry_, "fleet", 7);  // several small batches
  EXPECT_EQ(pruned.horizon, store_->safe_tail() - 50);
  EXPECT_GT(pruned.versions, 0);
  engine::HistoryReads reads{*live_};
  try {
    reads.get_as_of("fleet", "car-1", pruned.horizon - 1);
    ADD_FAILURE() << "read before the horizon";
  } catch (const engine::HistoryPruned& e) {
    EXPECT_EQ(e.horizon(), pruned.horizon);
  }
  const auto events = log();
  for (auto p : {pruned.horizon, pruned.horizon + 7, store_->safe_tail()}) expect_as_of(events, p, "pruned");
  // What the version current at the horizon changed is still known: the one before it is kept.
  for (int i = 0; i < 12; ++i) expect_history(events, "car-" + std::to_string(i), "pruned", pruned.horizon);
  EXPECT_EQ(engine::prune_history(*pool_, registry_, "fleet").versions, 0) << "nothing more to prune";
}

TEST_F(HistoryTest, TheDiffBeforePromoteNamesTheEventBehindEachSide) {
  start(6);
  append("cust-1", {test::new_event("customer.renamed", {{"name", "Bob"}})});
  append("car-1", {test::new_event("car.created", {{"color", "red"}})});
  const auto sold = append("car-1", {test::new_event("car.sold", {{"to", "cust-1"}})});
  const auto renamed = append("cust-1", {test::new_event("customer.renamed", {{"name", "Charlie"}})});
  engine::RebuildManager rebuilds{*pool_, *live_, {}};
  const auto id = rebuilds.start("fleet", 2, engine::DependentViews::kRefuse, engine::PromoteMode::kManual).id;
  std::jthread runner{[&](std::stop_token stop) { rebuilds.run(id, stop); }};  // follows the tail at ready
  for (int i = 0; i < 200 && rebuilds.get(id)->state != engine::RebuildState::kReady; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  ASSERT_EQ(rebuilds.get(id)->state, engine::RebuildState::kReady) << rebuilds.get(id)->error;
  runner.request_stop();
  runner.join();
  const auto report = nlohmann::json::parse(rebuilds.diff(id).value());
  const auto& samples = report["tables"]["fleet"]["samples"];
  ASSERT_EQ(samples.size(), 1u) << report.dump();
  EXPECT_EQ(samples[0]["key"], "car-1");
  EXPECT_EQ(samples[0]["live_event"]["position"], sold) << "live's Bob came with the sale";
  EXPECT_EQ(samples[0]["live_event"]["type"], "car.sold");
  EXPECT_EQ(samples[0]["shadow_event"]["position"], renamed) << "the shadow's Charlie came with the rename";
  EXPECT_EQ(samples[0]["shadow_event"]["type"], "customer.renamed");
}

// The history streams out beside the fold and may commit past the last checkpoint (engine/detail/
// history_writer.hpp): a resume deletes what lies past it, and the history equals the fold.
TEST_F(HistoryTest, ARebuildDyingWithItsHistoryPastTheCheckpointResumesWithoutDoubles) {
  start(1);
  append_random(5, 2000);
  engine::RebuildOptions options;
  options.batch_events = 50;
  options.checkpoint_events = 500;
  options.transient_retry_after = std::chrono::milliseconds{20};
  bool thrown = false;
  options.fault = [&](std::string_view point, std::int64_t n) {
    if (point == "history_pushed" && n == 15 && !thrown) {  // 250 events past the checkpoint at 500
      thrown = true;
      std::this_thread::sleep_for(std::chrono::milliseconds{300});  // the writer commits what it holds
      throw pqxx::sql_error("the test cancels the replay", "", "57014");  // as pg_cancel_backend: transient
    }
  };
  engine::RebuildManager rebuilds{*pool_, *live_, options};
  const auto info = rebuilds.run(rebuilds.start("fleet", 2).id);
  ASSERT_TRUE(thrown);
  ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
  EXPECT_GE(info->resumes, 1);
  ASSERT_TRUE(info->resumed_from);
  EXPECT_EQ(*info->resumed_from, 500) << "from its checkpoint, not from zero";
  const auto events = log();
  for (auto p : {std::int64_t{400}, std::int64_t{700}, std::int64_t{1500}, store_->safe_tail()}) {
    expect_as_of(events, p, "resumed");
  }
}

TEST_F(HistoryTest, AnInlineProjectionKeepsItsHistoryInTheAppendsTransaction) {
  start(7);
  const auto created = append("car-1", {test::new_event("car.created", {{"color", "red"}})});
  const auto repainted = append("car-1", {test::new_event("car.repainted", {{"color", "blue"}})});
  pqxx::connection c{db_->url()};
  {
    pqxx::read_transaction tx{c};  // no catch-up ran: the appends wrote rows, versions and watermark
    EXPECT_EQ(tx.exec1("SELECT last_replayed FROM reproj.projections WHERE name = 'fleet'")[0].as<std::int64_t>(), repainted);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM reproj_data.fleet__h")[0].as<int>(), 2);
  }
  engine::HistoryReads reads{*live_};
  EXPECT_EQ(reads.get_as_of("fleet", "car-1", created).rows.at(0).values[1], Value{"red"});
  EXPECT_EQ(reads.get_as_of("fleet", "car-1", repainted).rows.at(0).values[1], Value{"blue"});
}
