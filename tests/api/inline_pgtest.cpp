// Inline projections and unique rules (issue 17): an append that would give a value of a unique
// rule a second holder is refused whole (409) in the transaction that appends; rows and watermark
// commit with the events; the verdict never depends on how events are batched, live or rebuilt.
// Every table is compared with an independent fold of the log, one event at a time.
#include <barrier>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <boost/asio/ip/tcp.hpp>

#include "engine/errors.hpp"
#include "tests/support/api_fixture.hpp"
#include "tests/support/example_specs.hpp"
#include "tests/support/process.hpp"

using namespace reproj;
using test::ApiTest;
using test::Json;
using namespace std::chrono_literals;

namespace {

// Several users per stream (a directory), so one request can move values between rows.
Json handles_spec(const std::string& name, int version, bool inline_mode, bool unique) {
  Json table{{"key", "user_id"}, {"columns", {{"user_id", "text"}, {"handle", "text"}}}};
  if (unique) table["unique"] = Json::array({Json::array({"handle"})});
  Json doc{{"projection", name},
           {"version", version},
           {"tables", {{name, table}}},
           {"on",
            {{"handle.set", Json::array({{{"upsert", name}, {"key", "$data.user"}, {"set", {{"handle", "$data.handle"}}}}})},
             {"handle.dropped", Json::array({{{"delete", name}, {"key", "$data.user"}}})}}}};
  if (inline_mode) doc["mode"] = "inline";
  return doc;
}

Json set_handle(const std::string& user, const std::string& handle) {
  return {{"type", "handle.set"}, {"data", {{"user", user}, {"handle", handle}}}};
}
Json drop_handle(const std::string& user) { return {{"type", "handle.dropped"}, {"data", {{"user", user}}}}; }

using Table = std::map<std::string, std::map<std::string, Json>>;  // key -> column -> value

// The rows of a live table, through SQL as a reader sees them.
Table table_rows(const std::string& url, const std::string& table, const std::string& key) {
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  Table out;
  for (const auto& r : tx.exec("SELECT to_jsonb(t)::text FROM reproj_data." + tx.quote_name(table) + " t")) {
    auto row = Json::parse(r[0].as<std::string>());
    auto& cols = out[row[key].get<std::string>()];
    for (auto& [k, v] : row.items()) {
      if (k != key) cols[k] = v;
    }
  }
  return out;
}

struct LoggedEvent {
  std::int64_t position;
  std::string stream, type;
  Json data;
};
std::vector<LoggedEvent> log_of(const std::string& url) {
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  std::vector<LoggedEvent> out;
  for (const auto& r : tx.exec("SELECT global_position, stream_id, event_type, data::text FROM reproj.events "
                               "ORDER BY global_position")) {
    out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   Json::parse(r[3].as<std::string>())});
  }
  return out;
}

// The independent folds, one event at a time. Each asserts what the log must never hold: an event
// giving a unique value a second holder (the appends that would have were refused).
Table fold_handles(const std::vector<LoggedEvent>& log) {
  Table t;
  for (const auto& e : log) {
    if (e.type == "handle.set") {
      const auto user = e.data["user"].get<std::string>();
      const auto handle = e.data["handle"];
      for (const auto& [k, cols] : t) {
        EXPECT_FALSE(k != user && cols.at("handle") == handle) << "position " << e.position << " takes " << handle;
      }
      t[user]["handle"] = handle;
    } else if (e.type == "handle.dropped") {
      t.erase(e.data["user"].get<std::string>());
    }
  }
  return t;
}
Table fold_emails(const std::vector<LoggedEvent>& log) {
  Table t;
  auto take = [&](const std::string& customer, const Json& email, std::int64_t position) {
    for (const auto& [k, cols] : t) {
      EXPECT_FALSE(!email.is_null() && k != customer && cols.at("email") == email) << "position " << position;
    }
    t[customer]["email"] = email;
  };
  for (const auto& e : log) {
    if (e.type == "customer.created") {
      take(e.stream, e.data.contains("email") ? e.data["email"] : Json(nullptr), e.position);
      t[e.stream]["name"] = e.data["name"];
    } else if (e.type == "customer.email_changed" && t.contains(e.stream)) {
      take(e.stream, e.data["email"], e.position);
    } else if (e.type == "customer.renamed" && t.contains(e.stream)) {
      t[e.stream]["name"] = e.data["name"];
    }
  }
  return t;
}

Json created(const std::string& name, const std::string& email) {
  return {{"type", "customer.created"}, {"data", {{"name", name}, {"email", email}}}};
}

class InlineTest : public ApiTest {
 protected:
  void deploy(const std::string& name, int version, const std::string& doc) {
    auto r = call("PUT", "/admin/projections/" + name + "/versions/" + std::to_string(version), doc, true);
    ASSERT_EQ(r.status, 201) << r.body;
    if (json(r).contains("rebuild_id")) {
      ASSERT_EQ(wait_rebuild(json(r)["rebuild_id"]), "done");
    }
  }
  std::int64_t watermark(const std::string& name) {
    for (const auto& s : live_->status()) {
      if (s.name == name) return s.watermark;
    }
    return -1;
  }
  std::int64_t tail() { return store_->safe_tail(); }
};

}  // namespace

TEST_F(InlineTest, SixteenClientsRegisterOneEmailAtOnceAndExactlyOneWinsEachRound) {
  deploy("customer_emails", 1, test::example_spec("customer_emails_v1.json"));
  constexpr std::size_t kClients = 16, kRounds = 100;
  std::vector<std::vector<unsigned>> statuses(kRounds, std::vector<unsigned>(kClients));
  std::barrier start{kClients};
  std::vector<std::thread> clients;
  for (std::size_t c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (std::size_t round = 0; round < kRounds; ++round) {
        start.arrive_and_wait();  // all 16 at once
        const auto r = append("r" + std::to_string(round) + "-" + std::to_string(c), "no_stream",
                              {created("client " + std::to_string(c), "round" + std::to_string(round) + "@example.com")});
        statuses[round][c] = r.status;
        if (r.status == 409) {
          EXPECT_EQ(Json::parse(r.body)["error"], "unique_violation") << r.body;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  for (std::size_t round = 0; round < kRounds; ++round) {
    const auto wins = std::count(statuses[round].begin(), statuses[round].end(), 201u);
    const auto refused = std::count(statuses[round].begin(), statuses[round].end(), 409u);
    EXPECT_EQ(wins, 1) << "round " << round;
    EXPECT_EQ(refused, static_cast<std::ptrdiff_t>(kClients) - 1) << "round " << round;
  }
  const auto log = log_of(db_->url());
  EXPECT_EQ(log.size(), static_cast<std::size_t>(kRounds)) << "a refused append left an event behind";
  EXPECT_EQ(table_rows(db_->url(), "customer_emails", "customer_id"), fold_emails(log));
  EXPECT_EQ(watermark("customer_emails"), tail()) << "the inline rows commit with their events";

  // The 409 names the rule, the value and who holds it.
  const auto holder = table_rows(db_->url(), "customer_emails", "customer_id");
  std::string holder_of_round0;
  for (const auto& [k, cols] : holder) {
    if (cols.at("email") == "round0@example.com") holder_of_round0 = k;
  }
  auto again = append("c9", "any", {created("Late", "round0@example.com")});
  ASSERT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(json(again),
            (Json{{"error", "unique_violation"}, {"message", json(again)["message"]}, {"projection", "customer_emails"},
                  {"table", "customer_emails"}, {"columns", {"email"}}, {"value", "round0@example.com"},
                  {"existing_key", holder_of_round0}}));
  // Inline reads are like any other.
  auto read = call("GET", "/customer_emails/" + holder_of_round0);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(json(read)["email"], "round0@example.com");
}

TEST_F(InlineTest, AValueIsReleasedAndReusedInOneRequestOrTwoButNeverTakenBeforeItIsFree) {
  deploy("handles", 1, handles_spec("handles", 1, true, true).dump());
  ASSERT_EQ(append("dir", "any", {set_handle("A", "x")}).status, 201);
  // One request: A lets go of x, then B takes it.
  auto moved = append("dir", "any", {set_handle("A", "y"), set_handle("B", "x")});
  ASSERT_EQ(moved.status, 201) << moved.body;
  // One request taking a value before its holder lets go of it: refused whole, whatever follows.
  const auto before = log_of(db_->url()).size();
  auto early = append("dir", "any", {set_handle("C", "y"), set_handle("A", "z")});
  ASSERT_EQ(early.status, 409) << early.body;
  EXPECT_EQ(json(early)["existing_key"], "A");
  EXPECT_EQ(log_of(db_->url()).size(), before) << "nothing of a refused append is written";
  // Released by deletion, across requests.
  ASSERT_EQ(append("dir", "any", {drop_handle("B")}).status, 201);
  ASSERT_EQ(append("dir2", "any", {set_handle("C", "x")}).status, 201);
  // customer_emails, across requests: c1 changes x to y, c2 takes x.
  deploy("customer_emails", 1, test::example_spec("customer_emails_v1.json"));
  ASSERT_EQ(append("c1", "no_stream", {created("Ann", "x@example.com")}).status, 201);
  ASSERT_EQ(append("c2", "no_stream", {created("Bob", "x@example.com")}).status, 409);
  ASSERT_EQ(append("c1", 1, {{{"type", "customer.email_changed"}, {"data", {{"email", "y@example.com"}}}}}).status, 201);
  auto reused = append("c2", "no_stream", {created("Bob", "x@example.com")});
  ASSERT_EQ(reused.status, 201) << reused.body;

  const Table expected{{"A", {{"handle", "y"}}}, {"C", {{"handle", "x"}}}};
  EXPECT_EQ(table_rows(db_->url(), "handles", "user_id"), expected);
  EXPECT_EQ(fold_handles(log_of(db_->url())), expected);
  EXPECT_EQ(table_rows(db_->url(), "customer_emails", "customer_id"), fold_emails(log_of(db_->url())));
}

TEST_F(InlineTest, RandomBatchesLiveAndARebuildUnderWritersEqualTheOneEventAtATimeFold) {
  deploy("handles", 1, handles_spec("handles", 1, true, true).dump());
  constexpr int kWriters = 4, kRequests = 150;
  std::atomic<int> accepted{0}, refused{0}, other{0};
  std::atomic<bool> rebuilt{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(1234 + w));
      for (int i = 0; i < kRequests; ++i) {
        std::vector<Json> events(1 + rng() % 5);
        for (auto& e : events) {
          const auto user = "u" + std::to_string(rng() % 30);
          e = rng() % 6 == 0 ? drop_handle(user) : set_handle(user, "h" + std::to_string(rng() % 20));
        }
        const auto r = append("dir-" + std::to_string(w), "any", events);
        (r.status == 201 ? accepted : r.status == 409 ? refused : other)++;
        if (r.status != 201 && r.status != 409) ADD_FAILURE() << r.status << " " << r.body;
      }
    });
  }
  // A rebuild of the inline projection while they write: appends keep updating the live one, the
  // promote swaps under the same lock, and the checks go on against the promoted tables.
  std::this_thread::sleep_for(300ms);
  auto started = call("POST", "/admin/projections/handles/rebuild", R"({"version": 1})", true);
  ASSERT_EQ(started.status, 202) << started.body;
  EXPECT_EQ(wait_rebuild(json(started)["rebuild_id"]), "done");
  rebuilt = true;
  for (auto& t : writers) t.join();
  EXPECT_GT(accepted.load(), 50);
  EXPECT_GT(refused.load(), 50) << "the random log should break the rule often";
  EXPECT_EQ(other.load(), 0);

  const auto log = log_of(db_->url());
  const auto folded = fold_handles(log);
  EXPECT_EQ(table_rows(db_->url(), "handles", "user_id"), folded) << "live";
  EXPECT_EQ(watermark("handles"), tail());
  // Rebuilt after the writers, from the log alone, in batches of 2 events (the fixture's).
  auto again = call("POST", "/admin/projections/handles/rebuild", R"({"version": 1})", true);
  ASSERT_EQ(again.status, 202) << again.body;
  ASSERT_EQ(wait_rebuild(json(again)["rebuild_id"]), "done");
  EXPECT_EQ(table_rows(db_->url(), "handles", "user_id"), folded) << "rebuilt";
}

TEST_F(InlineTest, ARebuildWhoseUniqueRuleTheHistoryBreaksFailsWithTheDuplicatesAndNeverPromotes) {
  deploy("nicks", 1, handles_spec("nicks", 1, false, false).dump());
  ASSERT_EQ(append("dir", "any", {set_handle("A", "x"), set_handle("C", "y")}).status, 201);
  ASSERT_EQ(append("dir", "any", {set_handle("B", "x")}).status, 201);
  ASSERT_EQ(append("dir", "any", {set_handle("D", "y"), set_handle("A", "z"), set_handle("E", "x")}).status, 201);
  ASSERT_EQ(append("dir", "any", {set_handle("F", "y")}).status, 201);
  ASSERT_TRUE(live_->catch_up("nicks", tail(), engine::ApplyMode::kWorker).watermark == tail());
  const auto live_before = table_rows(db_->url(), "nicks", "user_id");
  ASSERT_EQ(live_before.size(), 6u);

  deploy("nicks", 2, handles_spec("nicks", 2, true, true).dump());
  auto started = call("POST", "/admin/projections/nicks/rebuild", R"({"version": 2})", true);
  ASSERT_EQ(started.status, 202) << started.body;
  const auto id = json(started)["rebuild_id"].get<std::int64_t>();
  ASSERT_EQ(wait_rebuild(id), "failed");
  const auto r = json(call("GET", "/admin/rebuilds/" + std::to_string(id), "", true));
  ASSERT_TRUE(r.contains("duplicates")) << r.dump();
  // B takes A's x at 3, D takes C's y at 4 (both left out, as an inline check would have refused
  // them); A lets x go at 5, so E may take it at 6; F takes C's y at 7 -- past the batch of the
  // first clashes (the fixture's batches hold 2 events): the report covers the whole log.
  const Json expected = Json::array(
      {{{"table", "nicks"}, {"columns", {"handle"}}, {"value", "x"}, {"key", "B"}, {"position", 3},
        {"existing_key", "A"}, {"existing_position", 1}},
       {{"table", "nicks"}, {"columns", {"handle"}}, {"value", "y"}, {"key", "D"}, {"position", 4},
        {"existing_key", "C"}, {"existing_position", 2}},
       {{"table", "nicks"}, {"columns", {"handle"}}, {"value", "y"}, {"key", "F"}, {"position", 7},
        {"existing_key", "C"}, {"existing_position", 2}}});
  EXPECT_EQ(r["duplicates"], expected) << r.dump();
  EXPECT_NE(r["error"].get<std::string>().find("unique rule (handle)"), std::string::npos) << r.dump();
  // Live untouched: still version 1, the same rows, no shadow left behind.
  for (const auto& s : live_->status()) {
    if (s.name == "nicks") {
      EXPECT_EQ(s.active_version, 1);
    }
  }
  EXPECT_EQ(table_rows(db_->url(), "nicks", "user_id"), live_before);
  pqxx::connection c{db_->url()};
  pqxx::read_transaction tx{c};
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM pg_tables WHERE schemaname = 'reproj_data' AND tablename LIKE '%shadow%'")[0]
                .as<int>(),
            0);
}

TEST_F(InlineTest, RawSqlBypassesTheCheckAndMeetsThePoisonPolicy) {
  deploy("customer_emails", 1, test::example_spec("customer_emails_v1.json"));
  ASSERT_EQ(append("c1", "no_stream", {created("Ann", "x@example.com")}).status, 201);
  // skip (the default): the next applier -- here an append -- quarantines the raw duplicate.
  insert_raw("raw-1", "c2", 1, "customer.created", R"({"name": "Bob", "email": "x@example.com"})");
  ASSERT_EQ(append("c3", "no_stream", {created("Cy", "z@example.com")}).status, 201);
  auto quarantined = live_->quarantined("customer_emails", 1, 0, 10);
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_EQ(quarantined[0].event_id, "raw-1");
  EXPECT_NE(quarantined[0].error.find("unique rule (email)"), std::string::npos) << quarantined[0].error;
  EXPECT_FALSE(table_rows(db_->url(), "customer_emails", "customer_id").contains("c2"));
  EXPECT_EQ(watermark("customer_emails"), tail());

  // stop: appends cannot commit with a projection that cannot pass the raw event.
  live_->set_poison_policy("customer_emails", engine::PoisonPolicy::kStop);
  insert_raw("raw-2", "c4", 1, "customer.created", R"({"name": "Di", "email": "z@example.com"})");
  const auto stopped_at = tail();
  auto refused = append("c5", "no_stream", {created("Ed", "e@example.com")});
  ASSERT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(json(refused)["error"], "inline_projection_stopped");
  EXPECT_EQ(json(refused)["projection"], "customer_emails");
  EXPECT_EQ(tail(), stopped_at) << "the refused append wrote nothing";
  const auto applied = live_->catch_up("customer_emails", tail(), engine::ApplyMode::kWorker);
  EXPECT_TRUE(applied.failed);
  EXPECT_EQ(append("c5", "no_stream", {created("Ed", "e@example.com")}).status, 503);
  // Back to skip: it resumes, quarantines raw-2, and appends go through and are checked again.
  live_->set_poison_policy("customer_emails", engine::PoisonPolicy::kSkip);
  EXPECT_EQ(append("c5", "no_stream", {created("Ed", "e@example.com")}).status, 201);
  EXPECT_EQ(append("c6", "no_stream", {created("Fay", "z@example.com")}).status, 409);
  EXPECT_EQ(live_->quarantined("customer_emails", 1, 0, 10).size(), 2u);
  EXPECT_EQ(table_rows(db_->url(), "customer_emails", "customer_id"),
            (Table{{"c1", {{"email", "x@example.com"}, {"name", "Ann"}}},
                   {"c3", {{"email", "z@example.com"}, {"name", "Cy"}}},
                   {"c5", {{"email", "e@example.com"}, {"name", "Ed"}}}}));
}

TEST_F(InlineTest, AnImportIsFoldedInItsTransactionAndRefusedWholeWhenItBreaksARule) {
  deploy("customer_emails", 1, test::example_spec("customer_emails_v1.json"));
  ASSERT_EQ(append("c1", "no_stream", {created("Ann", "x@example.com")}).status, 201);
  std::istringstream clashing{
      R"({"stream_id": "c2", "type": "customer.created", "data": {"name": "Bob", "email": "b@example.com"}})"
      "\n"
      R"({"stream_id": "c3", "type": "customer.created", "data": {"name": "Cy", "email": "x@example.com"}})"
      "\n"};
  const auto before = tail();
  EXPECT_THROW(store_->import_ndjson(clashing), engine::UniqueViolation);
  EXPECT_EQ(tail(), before);
  std::istringstream fine{
      R"({"stream_id": "c1", "type": "customer.email_changed", "data": {"email": "a@example.com"}})"
      "\n"
      R"({"stream_id": "c3", "type": "customer.created", "data": {"name": "Cy", "email": "x@example.com"}})"
      "\n"};
  store_->import_ndjson(fine);
  EXPECT_EQ(watermark("customer_emails"), tail());
  EXPECT_EQ(table_rows(db_->url(), "customer_emails", "customer_id"), fold_emails(log_of(db_->url())));
  EXPECT_EQ(table_rows(db_->url(), "customer_emails", "customer_id").at("c3").at("email"), "x@example.com");
}

namespace {

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

class InlineKillTest : public test::LiveTest {
 protected:
  void SetUp() override { SetUpLive(1); }
};

}  // namespace

// kill -9 of a server in the middle of appends, three times: after each, before anything runs
// again, the inline table is exactly the fold of the log and its watermark is the log's end --
// no event committed without its inline row, no inline row without its event.
TEST_F(InlineKillTest, AKillDuringAppendsNeverSeparatesAnEventFromItsInlineRow) {
  const auto dir = std::filesystem::temp_directory_path() / ("reproj-inline-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(std::string{REPROJ_SOURCE_DIR} + "/examples/specs/customer_emails_v1.json",
                             dir / "customer_emails_v1.json", std::filesystem::copy_options::overwrite_existing);
  std::int64_t accepted = 0, refused = 0;
  for (int cycle = 0; cycle < 3; ++cycle) {
    const auto port = free_port();
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    test::Child server{{"serve", "--listen", "127.0.0.1:" + std::to_string(port), "--admin-token", "t"},
                       {"DATABASE_URL=" + db_->url(), "REPROJ_PROJECTIONS_DIR=" + dir.string()},
                       (dir / "serve.log").string()};
    bool up = false;
    for (int i = 0; i < 200 && !up; ++i) {
      try {
        up = api::http_call(base, "GET", "/readyz", "", {}).status == 200;
      } catch (const std::exception&) {
      }
      if (!up) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(up) << "the server did not start";
    std::atomic<bool> killed{false};
    std::atomic<std::int64_t> ok{0}, taken{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        std::mt19937 rng(static_cast<unsigned>(cycle * 10 + w));
        for (int i = 0; !killed; ++i) {
          const auto stream = "k" + std::to_string(cycle) + "-" + std::to_string(w) + "-" + std::to_string(i % 50);
          const Json event = i < 50 ? created("n", "e" + std::to_string(rng() % 120) + "@example.com")
                                    : Json{{"type", "customer.email_changed"},
                                           {"data", {{"email", "e" + std::to_string(rng() % 120) + "@example.com"}}}};
          try {
            Json body{{"expected_version", "any"}, {"events", Json::array({event})}};
            const auto r = api::http_call(base, "POST", "/streams/" + stream + "/events", body.dump(),
                                              {{"Authorization", "Bearer t"}});
            if (r.status == 201) ++ok;
            if (r.status == 409) ++taken;
            if (r.status != 201 && r.status != 409 && !killed) ADD_FAILURE() << r.status << " " << r.body;
          } catch (const std::exception&) {  // the server is gone
            if (!killed) std::this_thread::sleep_for(10ms);
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(700 + 300 * cycle));
    server.kill(SIGKILL);
    server.wait();
    killed = true;
    for (auto& t : writers) t.join();
    accepted += ok;
    refused += taken;

    const auto log = log_of(db_->url());
    ASSERT_FALSE(log.empty());
    pqxx::connection c{db_->url()};
    pqxx::read_transaction tx{c};
    EXPECT_EQ(tx.exec1("SELECT last_replayed FROM reproj.projections WHERE name = 'customer_emails'")[0].as<std::int64_t>(),
              log.back().position)
        << "cycle " << cycle;
    EXPECT_EQ(table_rows(db_->url(), "customer_emails", "customer_id"), fold_emails(log)) << "cycle " << cycle;
  }
  EXPECT_GT(accepted, 100);
  EXPECT_GT(refused, 10);
  std::filesystem::remove_all(dir);
}
