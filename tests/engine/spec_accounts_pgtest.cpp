// A second domain from a spec alone (issue 15): accounts with an exact numeric balance, a bigint
// counter, a double, a jsonb item list (push/pull), a timestamptz and deletion on close. Random
// logs are folded live (small batches, so rows travel to PostgreSQL and back between events) and
// rebuilt (many checkpoints, so erased rows are deleted from a persisted shadow); both must equal
// an independent fold, and each other.
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "engine/column_value.hpp"
#include "engine/rebuild.hpp"
#include "engine/spec/spec_files.hpp"
#include "tests/support/live_fixture.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;

namespace {

struct Account {
  std::string owner;
  std::int64_t cents = 0;
  std::int64_t movements = 0;
  std::optional<double> last_amount;
  std::vector<nlohmann::json> items;
};

class SpecAccountsTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    projections::register_all(registry_);
    engine::spec::register_directory(std::string{REPROJ_SOURCE_DIR} + "/examples/specs", registry_);
    store_ = std::make_unique<engine::EventStore>(*pool_);
    live_ = std::make_unique<engine::LiveProjections>(*pool_, registry_);
    live_->ensure("accounts", 1);
  }

  // Appends a random log and returns the oracle's accounts.
  std::map<std::string, Account> append_random(unsigned seed, int events) {
    std::mt19937 rng{seed};
    std::map<std::string, Account> open;
    const std::vector<std::string> items{"pen", "book", "lamp", "cup"};
    for (int i = 0; i < events;) {
      const std::string id = "s" + std::to_string(seed) + "acc" + std::to_string(rng() % 40);
      std::vector<engine::NewEvent> batch;
      for (int n = 1 + static_cast<int>(rng() % 4); n > 0; --n, ++i) {
        const int kind = static_cast<int>(rng() % 20);
        auto it = open.find(id);
        if (it == open.end() || kind == 0) {
          open[id] = Account{};
          open[id].owner = "owner" + std::to_string(rng() % 5);
          batch.push_back(test::event(engine::new_event_id(), "account.opened", {{"owner", open[id].owner}}));
        } else if (kind == 1) {
          open.erase(it);
          batch.push_back(test::event(engine::new_event_id(), "account.closed", nlohmann::json::object()));
        } else if (kind < 12) {
          const std::int64_t cents = static_cast<std::int64_t>(rng() % 100'000);
          const bool credit = kind < 8;
          it->second.cents += credit ? cents : -cents;
          it->second.movements += 1;
          it->second.last_amount = static_cast<double>(cents) / 100;
          batch.push_back(test::event(engine::new_event_id(), credit ? "account.credited" : "account.debited",
                                      {{"amount", static_cast<double>(cents) / 100}}));
        } else {
          nlohmann::json item = {{"name", items[rng() % items.size()]}};
          if (kind < 17) {
            it->second.items.push_back(item);
            batch.push_back(test::event(engine::new_event_id(), "account.item_added", {{"item", item}}));
          } else {
            std::erase(it->second.items, item);
            batch.push_back(test::event(engine::new_event_id(), "account.item_removed", {{"item", item}}));
          }
        }
        if (open.find(id) == open.end()) break;  // nothing more for a closed account in this batch
      }
      store_->append(id, engine::ExpectedVersion::any(), batch);
      if (rng() % 10 == 0) {  // the live path in small steps: rows go to PostgreSQL and come back
        live_->catch_up("accounts", store_->safe_tail(), engine::ApplyMode::kWorker, 7);
      }
    }
    return open;
  }

  ::testing::AssertionResult matches(const std::vector<engine::Row>& rows, const std::map<std::string, Account>& want) {
    if (rows.size() != want.size()) {
      return ::testing::AssertionFailure() << rows.size() << " rows, the fold has " << want.size();
    }
    for (const auto& row : rows) {
      auto it = want.find(row.key());
      if (it == want.end()) return ::testing::AssertionFailure() << row.key() << " should have been deleted";
      const Account& a = it->second;
      // account_id, owner, balance, movements, last_amount, items, opened_at
      const auto& balance = std::get<std::string>(row.values[2]);
      const std::string cents = std::to_string(a.cents < 0 ? -a.cents : a.cents);
      const std::string padded = std::string(cents.size() < 3 ? 3 - cents.size() : 0, '0') + cents;
      const std::string expected =
          (a.cents < 0 ? "-" : "") + padded.substr(0, padded.size() - 2) + "." + padded.substr(padded.size() - 2);
      const std::string diff = engine::canonical::numeric_add(balance, expected, true);
      if (diff.find_first_not_of("0.") != std::string::npos) {
        return ::testing::AssertionFailure() << row.key() << ": balance " << balance << ", the fold has " << expected;
      }
      auto items = nlohmann::json::array();
      for (const auto& i : a.items) items.push_back(i);
      const bool same = row.values[1] == engine::Value{a.owner} &&
                        row.values[3] == engine::Value{a.movements} &&
                        row.values[4] == (a.last_amount ? engine::Value{*a.last_amount} : engine::Value{}) &&
                        row.values[5] == engine::Value{items.dump()} &&
                        std::holds_alternative<std::string>(row.values[6]);
      if (!same) {
        return ::testing::AssertionFailure() << row.key() << " differs from the fold (owner " << a.owner << ", movements "
                                             << a.movements << ", items " << items.dump() << ")";
      }
    }
    return ::testing::AssertionSuccess();
  }

  engine::ProjectionRegistry registry_;
  std::unique_ptr<engine::EventStore> store_;
  std::unique_ptr<engine::LiveProjections> live_;
};

}  // namespace

TEST_F(SpecAccountsTest, LiveAndRebuiltEqualTheIndependentFold) {
  std::map<std::string, Account> want;  // seeds write disjoint accounts
  for (unsigned seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    want.merge(append_random(seed, 1500));
    const auto live_rows = test::all_rows(*live_, "accounts");
    EXPECT_TRUE(matches(live_rows, want));

    engine::RebuildOptions options;
    options.checkpoint_events = 300;  // checkpoints between closes: erased rows leave a persisted shadow
    engine::RebuildManager rebuilds{*pool_, *live_, options};
    auto info = rebuilds.run(rebuilds.start("accounts", 1).id);
    ASSERT_EQ(info->state, engine::RebuildState::kDone) << info->error;
    EXPECT_EQ(test::all_rows(*live_, "accounts"), live_rows) << "the rebuild differs from the live fold";
    EXPECT_TRUE(matches(test::all_rows(*live_, "accounts"), want));
  }
}
