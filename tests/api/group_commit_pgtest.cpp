// Group commit seen from outside: 32 clients appending at once over HTTP, with exact expected
// versions on their own streams, racing expected versions on shared ones (conflicting on purpose),
// idempotent retries, pairs sending the same event at the same moment and quartets reusing one id
// with different content. Every answer must be one a lone append could have given in some order --
// the order the log shows -- and the log must hold exactly what was answered 201, without a gap.
#include <barrier>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "tests/support/api_fixture.hpp"

using namespace reproj;
using test::Json;

namespace {

struct Answer {
  std::string stream;
  Json request;
  unsigned status = 0;
  Json body;
};

// A counter's value in /metrics' text (0 if absent).
double counter(const std::string& metrics, const std::string& name) {
  const auto at = metrics.find("\n" + name + " ");
  return at == std::string::npos ? 0.0 : std::stod(metrics.substr(at + name.size() + 2));
}

class GroupCommitTest : public test::ApiTest {};

// Group commit with a long gathering wait, so what it does is plain to see.
class GatheringTest : public test::ApiTest {
 protected:
  void SetUp() override {
    appends_.gather = std::chrono::milliseconds{300};
    test::ApiTest::SetUp();
  }
  double mean_group() {
    const auto metrics = metrics_.render();
    return counter(metrics, "reproj_grouped_appends_total") / counter(metrics, "reproj_append_groups_total");
  }
};

}  // namespace

TEST_F(GroupCommitTest, ThirtyTwoClientsGetTheAnswersLoneAppendsWouldGet) {
  constexpr int kClients = 32, kRounds = 30;
  std::mutex mutex;
  std::vector<Answer> answers;
  std::barrier round_start{kClients};
  const auto send = [&](const std::string& stream, const Json& expected, std::vector<Json> events) {
    Json body = {{"expected_version", expected}, {"events", std::move(events)}};
    const auto reply = call("POST", "/streams/" + stream + "/events", body.dump(), true);
    Answer a{stream, body, reply.status, Json::parse(reply.body, nullptr, false)};
    std::scoped_lock lock{mutex};
    answers.push_back(a);
    return a;
  };
  std::atomic<int> surprises{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng{static_cast<unsigned>(c)};
      const std::string own = "own-" + std::to_string(c), shared = "shared-" + std::to_string(c % 4);
      std::int64_t own_version = 0, shared_seen = 0;
      for (int r = 0; r < kRounds; ++r) {
        const std::string round = std::to_string(r);
        round_start.arrive_and_wait();  // what follows arrives together: often one group
        if (c % 8 == 0) {  // four clients, one id, four contents: one 201, three 409
          send("clash", "any", {test::ev("clash-" + round, "group.test", {{"by", c}})});
        } else {  // a pair sends the same event: one 201, one 200 with the same positions
          send("pair-" + std::to_string(c / 2), "any", {test::ev("pair-" + std::to_string(c / 2) + "-" + round,
                                                                 "group.test", {{"round", r}})});
        }
        std::vector<Json> mine;
        for (unsigned k = 0; k <= rng() % 2; ++k) {
          mine.push_back(test::ev(own + "-" + round + "-" + std::to_string(k), "group.test", {{"k", k}}));
        }
        const auto first = send(own, own_version, mine);
        if (first.status != 201) {
          ++surprises;
          continue;
        }
        own_version = first.body["next_expected_version"];
        if (rng() % 3 == 0) {  // the client did not hear the answer: it sends the same again
          const auto retry = send(own, first.request["expected_version"], mine);
          if (retry.status != 200 || retry.body["first_position"] != first.body["first_position"] ||
              retry.body["next_expected_version"] != own_version) {
            ++surprises;
          }
        }
        const auto raced = send(shared, shared_seen, {Json{{"type", "group.test"}, {"data", {{"by", c}}}}});
        if (raced.status == 201) {
          shared_seen = raced.body["next_expected_version"];
        } else if (raced.status == 409 && raced.body["error"] == "version_conflict") {
          shared_seen = raced.body["actual_version"];
        } else {
          ++surprises;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(surprises.load(), 0) << "an own-stream append or a retry was not answered as alone";

  // The log: every stream's versions run 1..n in position order, and the events at each 201's
  // positions are the ones it sent.
  std::map<std::int64_t, std::tuple<std::string, std::string, std::int64_t, std::string>> log;  // by position
  std::map<std::string, std::int64_t> versions;
  pool_->run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    for (const auto& r : tx.exec("SELECT global_position, event_id, stream_id, stream_version, data::text "
                                 "FROM reproj.events ORDER BY global_position")) {
      const auto stream = r[2].as<std::string>();
      const auto version = r[3].as<std::int64_t>();
      EXPECT_EQ(version, versions[stream] + 1) << "stream " << stream << " has a gap or a repeat";
      versions[stream] = version;
      log[r[0].as<std::int64_t>()] = {r[1].as<std::string>(), stream, version, r[4].as<std::string>()};
    }
  });
  std::size_t written = 0;
  std::map<std::string, std::vector<const Answer*>> by_first_id;
  std::map<std::string, int> statuses;
  for (const auto& a : answers) {
    ++statuses[std::to_string(a.status) + (a.body.contains("error") ? " " + a.body["error"].get<std::string>() : "")];
    const auto& events = a.request["events"];
    by_first_id[events[0].value("event_id", "")].push_back(&a);
    if (a.status != 201) continue;
    const auto first = a.body["first_position"].get<std::int64_t>();
    const auto last = a.body["last_position"].get<std::int64_t>();
    ASSERT_EQ(last - first + 1, static_cast<std::int64_t>(events.size()));
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto it = log.find(first + static_cast<std::int64_t>(i));
      ASSERT_NE(it, log.end()) << "a 201's event is not in the log";
      const auto& [id, stream, version, data] = it->second;
      EXPECT_EQ(stream, a.stream);
      if (events[i].contains("event_id")) {
        EXPECT_EQ(id, events[i]["event_id"]);
      }
      EXPECT_EQ(Json::parse(data), events[i]["data"]);
      const auto& expected = a.request["expected_version"];
      if (expected.is_number()) {
        EXPECT_EQ(version, expected.get<std::int64_t>() + static_cast<std::int64_t>(i) + 1);
      }
      ++written;
    }
    EXPECT_EQ(a.body["next_expected_version"], std::get<2>(log[last]));
  }
  EXPECT_EQ(written, log.size()) << "the log holds events no 201 answered";
  // A 409 names a version the stream really had, and not the one expected.
  for (const auto& a : answers) {
    if (a.status != 409 || a.body["error"] != "version_conflict") continue;
    EXPECT_NE(a.body["actual_version"], a.request["expected_version"]);
    EXPECT_LE(a.body["actual_version"].get<std::int64_t>(), versions[a.stream]);
  }
  // Pairs and clashes: one winner each, the others answered as alone after it.
  for (int r = 0; r < kRounds; ++r) {
    const std::string round = std::to_string(r);
    const auto& clash = by_first_id["clash-" + round];
    ASSERT_EQ(clash.size(), 4u);
    int won = 0, refused = 0;
    for (const auto* a : clash) {
      won += a->status == 201;
      refused += a->status == 409 && a->body["error"] == "event_id_conflict";
    }
    EXPECT_EQ(won, 1) << "clash round " << r;
    EXPECT_EQ(refused, 3) << "clash round " << r;
    for (int p = 0; p < kClients / 2; ++p) {
      const auto& pair = by_first_id["pair-" + std::to_string(p) + "-" + round];
      if ((2 * p) % 8 == 0) continue;  // that pair's first client sent the clash
      ASSERT_EQ(pair.size(), 2u);
      EXPECT_EQ(std::set<unsigned>({pair[0]->status, pair[1]->status}), (std::set<unsigned>{200, 201}));
      EXPECT_EQ(pair[0]->body["first_position"], pair[1]->body["first_position"]);
    }
  }
  for (const auto& [status, n] : statuses) std::cout << "  " << n << " × " << status << "\n";
  EXPECT_GT(statuses["409 version_conflict"], 50) << "the shared streams did not race";
  // The appends were coalesced: fewer transactions than requests.
  const auto metrics = metrics_.render();
  const double groups = counter(metrics, "reproj_append_groups_total");
  const double grouped = counter(metrics, "reproj_grouped_appends_total");
  std::cout << "  " << grouped << " appends in " << groups << " groups\n";
  EXPECT_EQ(grouped, static_cast<double>(answers.size()));
  EXPECT_GT(grouped / groups, 1.5) << "appends were not grouped";
}

// Clients appending in a loop come back together: after a group of several, the next waits for as
// many, so each group holds every client, not the half that queued while the last one ran.
TEST_F(GatheringTest, ClientsAnsweredTogetherAppendAgainInOneGroup) {
  constexpr int kClients = 4, kRounds = 25;
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  std::atomic<int> failed{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int r = 0; r < kRounds; ++r) {
        const auto reply = append("gather-" + std::to_string(c), r, {test::ev("g-" + std::to_string(c) + "-" + std::to_string(r), "group.test", {{"r", r}})});
        if (reply.status != 201) ++failed;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  std::cout << "  mean group " << mean_group() << "\n";
  EXPECT_GE(mean_group(), 3.0) << "the answered clients did not land in one group";
  // No answer waits for the gathering: 25 rounds take far less than 25 waits of 300 ms.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds{4});
}

// A lone client never waits for company: 20 appends one after the other take far less than 20
// gathering waits.
TEST_F(GatheringTest, ALoneAppendWaitsForNothing) {
  const auto started = std::chrono::steady_clock::now();
  for (int r = 0; r < 20; ++r) {
    ASSERT_EQ(append("alone", r, {test::ev("alone-" + std::to_string(r), "group.test", {{"r", r}})}).status, 201u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds{3});
  EXPECT_DOUBLE_EQ(mean_group(), 1.0);
}
