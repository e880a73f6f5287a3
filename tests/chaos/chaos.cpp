// reproj_chaos: a crash loop. It runs `reproj serve` under HTTP load (appenders and strong readers),
// SIGKILLs it at chosen moments — mid-replay, at the catch-up switch, inside the promotion and
// rollback transactions, and while plainly serving — restarts it, and after every restart checks:
// readiness returns, the interrupted rebuild resumes from its checkpoint, each projection equals an
// independent fold of the log at its committed watermark, every acknowledged append is in the log
// at the position it was acknowledged with, and no orphan table survives the janitor. Between kills
// it disturbs the run in turn: a raw SQL writer holding the append lock for 10 s, pg_cancel_backend
// of the replaying rebuild (which must resume, never start over), and a storm of cancelled statements.
//
//   reproj_chaos [--kills N] [--seed S] [--events E] [--log FILE]
// Needs DATABASE_URL (a cluster it may create a database on) and REPROJ_BINARY; scripts/chaos and
// CTest (5 kills) provide both. Exit status 0 only if nothing was lost, mismatched or orphaned.
#include <fstream>
#include <sstream>
#include <chrono>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/http_client.hpp"
#include "engine/connection_pool.hpp"
#include "engine/event_store.hpp"
#include "engine/migrations.hpp"
#include "tests/support/http_load.hpp"
#include "tests/support/pg_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/verify.hpp"

using namespace reproj;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kToken = "chaos-token";

enum class Phase { kReplay, kCatchUp, kPromote, kServing, kRollback };
const char* name(Phase p) {
  switch (p) {
    case Phase::kReplay:
      return "replay";
    case Phase::kCatchUp:
      return "catch-up";
    case Phase::kPromote:
      return "promotion";
    case Phase::kServing:
      return "serving";
    case Phase::kRollback:
      return "rollback";
  }
  return "?";
}

struct Options {
  int kills = 20;
  unsigned seed = std::random_device{}();
  int events = 60'000;
  std::string log = "/dev/null";
};

api::ClientReply call(const std::string& base, const std::string& method, const std::string& target,
                      const std::string& body = "") {
  return api::http_call(base, method, target, body, {{"Authorization", std::string{"Bearer "} + kToken}}, 30);
}

// The running rebuild of `projection` as the database has it: id and
// checkpointed position.
struct RunningRebuild {
  std::int64_t id;
  std::int64_t position;
  std::string state;
  int resumes;
};

class Chaos {
 public:
  Chaos(Options options, const std::string& url)
      : options_(std::move(options)), url_(url), pool_(url, 4), store_(pool_), rng_(options_.seed) {}

  int run() {
    engine::migrate(url_);
    test::seed_events(store_, options_.events, 8, options_.seed);
    const Phase cycle[] = {Phase::kReplay, Phase::kCatchUp, Phase::kPromote, Phase::kServing, Phase::kRollback};
    for (int k = 0; k < options_.kills; ++k) {
      const Phase phase = cycle[k % 5];
      // Every other rollback is killed inside its transaction; the others commit, then a kill follows.
      rollback_commits_ = phase == Phase::kRollback && (k / 5) % 2 == 1;
      start_server(phase);
      if (after_restart()) {
        disturb(k);
        kill_during(phase);
      } else {
        record_kill(phase);  // its fault point was reached before readiness
      }
    }
    start_server(std::nullopt);
    if (!after_restart()) fail("the last restart did not become ready");
    wait_for_no_rebuild(180s);
    load_->stop();
    if (lock_holder_.joinable()) lock_holder_.join();
    // One strong read applies everything up to the tail; then the state must equal the fold of it all.
    call(base_, "GET", "/cars?limit=1");
    call(base_, "GET", "/customers?limit=1");
    verify("final", true);
    server_->kill(SIGTERM);
    int status = 0;
    if (!server_->wait_for(20s, &status)) {
      fail("the server did not stop on SIGTERM");
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fail("the server's clean stop did not exit 0 (a sanitizer report?)");  // leaks show here under ASan
    }
    exit_status_ = status;

    const auto counts = load_->counts();
    for (const auto& s : load_->surprises()) std::cout << "unexpected answer: " << s << "\n";
    std::cout << fmt::format(
        "appends acknowledged {}, reads ok {}, refused while down {}, other statuses {}, "
        "readiness after restart max {:.1f} s\n",
        counts.appends_acked, counts.reads_ok, counts.transport_errors + counts.unavailable,
        counts.other + counts.unavailable_no_retry, max_ready_seconds_);
    std::cout << fmt::format(
        "crash loop: {} kills, {} lost appends, {} mismatches, {} orphans, resumed {}/{} rebuilds, "
        "{} append-lock holds of 10 s, {} cancels of a replaying rebuild ({} restarted from zero), "
        "{} statement-cancel storms, {} checks of cars v5's history against the fold\n",
        kills_, lost_, mismatches_, orphans_, resumed_, interrupted_, lock_holds_, rebuild_cancels_, restarted_from_zero_,
        cancel_storms_, history_checks_);
    const bool ok = lost_ == 0 && mismatches_ == 0 && orphans_ == 0 && resumed_ == interrupted_ && failures_ == 0 &&
                    restarted_from_zero_ == 0 &&
                    counts.other + counts.unavailable_no_retry == 0;
    return ok ? 0 : 1;
  }

 private:
  void fail(const std::string& what) {
    ++failures_;
    std::cout << "FAIL: " << what << std::endl;
  }

  // --- the server ---

  void start_server(std::optional<Phase> phase) {
    std::vector<std::string> env{"DATABASE_URL=" + url_, "REPROJ_REBUILD_BATCH=2000", "REPROJ_FAULT="};
    if (phase == Phase::kCatchUp) env.back() = "REPROJ_FAULT=catching_up:0";
    if (phase == Phase::kPromote) env.back() = "REPROJ_FAULT=promote:1";
    if (phase == Phase::kRollback && !rollback_commits_) env.back() = "REPROJ_FAULT=rollback:1";
    const int port = test::free_port();
    base_ = "http://127.0.0.1:" + std::to_string(port);
    if (load_) {
      load_->retarget(base_);
    } else {
      load_ = std::make_unique<test::HttpLoad>(base_, options_.seed, kToken);
    }
    server_.reset();
    exit_status_.reset();
    server_ =
        std::make_unique<test::Child>(std::vector<std::string>{"serve", "--listen", "127.0.0.1:" + std::to_string(port),
                                                               "--admin-token", kToken, "--initial-version", "cars=1"},
                                      env, options_.log);
  }

  // Waits for readiness and checks the state the restart found. False if the
  // server died first, which a fault point armed for this run may do
  // legitimately (SIGKILL before the first /readyz).
  bool after_restart() {
    const auto started = Clock::now();
    bool ready = false;
    while (!ready) {
      try {
        ready = call(base_, "GET", "/readyz").status == 200;
      } catch (const std::exception&) {  // not listening yet
      }
      if (!ready && exited()) {
        if (!(WIFSIGNALED(*exit_status_) && WTERMSIG(*exit_status_) == SIGKILL)) fail("the server exited on its own");
        break;
      }
      if (!ready && Clock::now() - started > 120s) {
        fail("readiness did not return within 120 s");
        break;
      }
      if (!ready) std::this_thread::sleep_for(50ms);
    }
    if (ready) {
      max_ready_seconds_ = std::max(max_ready_seconds_, std::chrono::duration<double>(Clock::now() - started).count());
    }
    if (pending_) check_resumed(*pending_, ready);
    pending_.reset();
    verify("after restart " + std::to_string(kills_), false);
    return ready;
  }

  // Reaps the server if it has exited, remembering how.
  bool exited() {
    int status = 0;
    if (!exit_status_ && server_->wait_for(0ms, &status)) exit_status_ = status;
    return exit_status_.has_value();
  }

  // The rebuild a kill interrupted must go on under the same id from exactly
  // its last checkpoint (its resume count goes up and resumed_from names that
  // checkpoint), not fail or start over. With the server already dead again, it
  // is judged once: if it had not resumed yet, the interruption carries over to
  // the kill that just happened.
  void check_resumed(const RunningRebuild& killed, bool alive) {
    const auto until = Clock::now() + 60s;
    while (Clock::now() < until) {
      pqxx::connection c{url_};
      pqxx::read_transaction tx{c};
      auto r = tx.exec_params1(
          "SELECT state, resumes, coalesce(resumed_from, -1), position FROM reproj.rebuilds WHERE id = $1", killed.id);
      const auto state = r[0].as<std::string>();
      const int resumes = r[1].as<int>();
      const std::int64_t resumed_from = r[2].as<std::int64_t>();
      if (state == "failed" || state == "cancelled") {
        fail(fmt::format("interrupted rebuild {} ended {} instead of resuming", killed.id, state));
        return;
      }
      if (killed.position > 0 && resumes > killed.resumes) {
        if (resumed_from != killed.position) {
          fail(fmt::format("rebuild {} resumed from {}, not its checkpoint {}", killed.id, resumed_from,
                           killed.position));
          return;
        }
        ++resumed_;
        return;
      }
      if (killed.position == 0 && (state == "done" || r[3].as<std::int64_t>() > 0)) {  // nothing to resume from
        ++resumed_;
        return;
      }
      if (state == "done") {
        fail(fmt::format("rebuild {} finished without resuming from checkpoint {}", killed.id, killed.position));
        return;
      }
      if (!alive) {
        --interrupted_;
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    fail(fmt::format("rebuild {} did not resume within 60 s", killed.id));
  }

  void kill_during(Phase phase) {
    switch (phase) {
      case Phase::kReplay: {
        const auto id = ensure_rebuild();
        // Past its first checkpoint, then a random moment inside the replay.
        wait_until(30s, [&] {
          auto r = running();
          return r && r->id == id && r->state == "replaying" && r->position > 0;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds{rng_() % 200});
        kill_now(phase);
        break;
      }
      case Phase::kCatchUp:
      case Phase::kPromote:
        ensure_rebuild();
        await_self_kill(phase, 120s);  // REPROJ_FAULT kills the server at that exact point
        break;
      case Phase::kRollback: {
        wait_for_no_rebuild(120s);
        try {
          auto reply = call(base_, "POST", "/admin/projections/cars/rollback");
          if (reply.status != 200) std::cout << "rollback answered " << reply.status << ": " << reply.body << "\n";
        } catch (const std::exception&) {  // killed inside the rollback: no answer
        }
        if (rollback_commits_) {
          std::this_thread::sleep_for(std::chrono::milliseconds{rng_() % 300});
          kill_now(phase);
        } else {
          await_self_kill(phase, 10s);
        }
        break;
      }
      case Phase::kServing:
        wait_for_no_rebuild(120s);
        std::this_thread::sleep_for(std::chrono::milliseconds{200 + rng_() % 1000});
        kill_now(phase);
        break;
    }
  }

  // --- disturbances (issue 14): what an unlucky operator or a hostile writer does meanwhile ---

  void disturb(int k) {
    switch (k % 3) {
      case 0: hold_append_lock(); break;
      case 1: cancel_replaying_rebuild(); break;
      case 2: cancel_storm(); break;
    }
  }

  // A raw SQL writer that takes the append lock, inserts one event and sits on it for 10 s: HTTP
  // appends answer 503 busy meanwhile, reads and the admin API go on.
  void hold_append_lock() {
    if (lock_holder_.joinable()) lock_holder_.join();
    ++lock_holds_;
    lock_holder_ = std::thread([url = url_, n = lock_holds_] {
      try {
        pqxx::connection c{url};
        pqxx::work tx{c};
        tx.exec_params("INSERT INTO reproj.events (event_id, stream_id, stream_version, event_type, data) "
                       "VALUES ($1, $1, 1, 'chaos.held', '{}')",
                       "held-" + std::to_string(n));
        std::this_thread::sleep_for(10s);
        tx.commit();
      } catch (const std::exception& e) {
        std::cout << "lock holder: " << e.what() << "\n";
      }
    });
    std::cout << "disturbance: a raw SQL writer holds the append lock for 10 s\n" << std::flush;
  }

  // pg_cancel_backend of the rebuild's backends mid-replay, for a second: it must resume from its
  // checkpoint, not fail and not start over.
  void cancel_replaying_rebuild() {
    const auto id = ensure_rebuild();
    wait_until(30s, [&] {
      auto r = running();
      return r && r->id == id && r->state == "replaying" && r->position > 0;
    });
    const auto before = running();
    const int cancelled = cancel_for(1s, "application_name LIKE 'reproj rebuild%'");
    ++rebuild_cancels_;
    std::this_thread::sleep_for(500ms);
    pqxx::connection c{url_};
    pqxx::read_transaction tx{c};
    const auto r = tx.exec_params1("SELECT state, position, coalesce(error, '') FROM reproj.rebuilds WHERE id = $1", id);
    const auto state = r[0].as<std::string>();
    if (state == "failed") fail(fmt::format("rebuild {} failed on a cancelled statement: {}", id, r[2].as<std::string>()));
    if (before && r[1].as<std::int64_t>() < before->position) {
      ++restarted_from_zero_;
      fail(fmt::format("rebuild {} went back from {} to {} after a cancel", id, before->position, r[1].as<std::int64_t>()));
    }
    std::cout << fmt::format("disturbance: {} statements of rebuild {} cancelled mid-replay; it is {} at {}\n", cancelled,
                             id, state, r[1].as<std::int64_t>())
              << std::flush;
  }

  // Every active statement of the database cancelled for 1.5 s: SQLSTATE 57014 everywhere, what a
  // too-low statement_timeout raises. Requests answer 503 + Retry-After meanwhile, nothing is lost.
  void cancel_storm() {
    const int cancelled = cancel_for(1500ms, "datname = current_database()");
    ++cancel_storms_;
    std::cout << fmt::format("disturbance: statement-cancel storm, {} statements cancelled\n", cancelled) << std::flush;
  }

  int cancel_for(std::chrono::milliseconds window, const std::string& which) {
    pqxx::connection c{url_};
    int cancelled = 0;
    const auto until = Clock::now() + window;
    while (Clock::now() < until) {
      pqxx::nontransaction tx{c};
      cancelled += tx.exec1("SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity WHERE " +
                            which + " AND state = 'active' AND pid <> pg_backend_pid()")[0]
                       .as<int>();
      std::this_thread::sleep_for(5ms);
    }
    return cancelled;
  }

  void kill_now(Phase phase) {
    if (!exited()) {
      server_->kill(SIGKILL);
      exit_status_ = server_->wait();
    }
    record_kill(phase);
  }

  void await_self_kill(Phase phase, std::chrono::seconds within) {
    int status = 0;
    if (exited()) {
      status = *exit_status_;
    } else if (!server_->wait_for(within, &status)) {
      std::cout << "kill " << kills_ + 1 << ": the " << name(phase) << " fault point was not reached; killing now\n";
      server_->kill(SIGKILL);
      server_->wait();
      status = W_EXITCODE(0, SIGKILL);
    }
    exit_status_ = status;
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      fail(std::string{"the server exited by itself during "} + name(phase));
    }
    record_kill(phase);
  }

  // What the kill interrupted is what the database holds now: the rebuild at
  // its last checkpoint.
  void record_kill(Phase phase) {
    ++kills_;
    pending_ = running();
    if (pending_) ++interrupted_;
    std::cout << fmt::format("kill {:2}: during {:<9} {}\n", kills_, name(phase),
                             pending_ ? fmt::format("(rebuild {} left {} at {})", pending_->id, pending_->state,
                                                    pending_->position)
                                      : std::string{})
              << std::flush;
  }

  // --- rebuilds ---

  std::optional<RunningRebuild> running() {
    pqxx::connection c{url_};
    pqxx::read_transaction tx{c};
    auto r = tx.exec(
        "SELECT id, position, state, resumes FROM reproj.rebuilds WHERE projection = 'cars' AND state IN ('replaying', "
        "'catching_up', 'promoting')");
    if (r.empty()) return std::nullopt;
    return RunningRebuild{r[0][0].as<std::int64_t>(), r[0][1].as<std::int64_t>(), r[0][2].as<std::string>(),
                          r[0][3].as<int>()};
  }

  // cars v2's spec twin (projections/specs/cars_v2.json) as v5, keeping the served table's history.
  static std::string cars_with_history() {
    std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/projections/specs/cars_v2.json"};
    std::stringstream text;
    text << in.rdbuf();
    auto doc = nlohmann::ordered_json::parse(text.str());
    doc["version"] = 5;
    doc["tables"]["cars"]["history"] = true;
    return doc.dump();
  }

  // The running rebuild, or a new one to the version cars is not at.
  std::int64_t ensure_rebuild() {
    if (auto r = running()) return r->id;
    int active = 0;
    {
      pqxx::connection c{url_};
      pqxx::read_transaction tx{c};
      active = tx.exec1("SELECT active_version FROM reproj.projections WHERE name = 'cars'")[0].as<int>();
    }
    try {
      // v5 keeps history (invariant 14): every kill of its replay, catch-up or promotion must leave
      // each change recorded once, which verify() checks against the fold.
      if (active == 1) {
        const auto put = call(base_, "PUT", "/admin/projections/cars/versions/5", cars_with_history());
        if (put.status != 201 && put.status != 200) fail("deploying cars v5 answered " + std::to_string(put.status));
      }
      auto reply = call(base_, "POST", "/admin/projections/cars/rebuild",
                        nlohmann::json{{"version", active == 1 ? 5 : 1}}.dump());
      if (reply.status == 202) return nlohmann::json::parse(reply.body).at("rebuild_id").get<std::int64_t>();
      fail("rebuild start answered " + std::to_string(reply.status) + ": " + reply.body);
    } catch (const std::exception& e) {
      if (!exited()) fail(std::string{"rebuild start: "} + e.what());
    }
    return 0;
  }

  void wait_for_no_rebuild(std::chrono::seconds within) {
    if (!wait_until(within, [&] { return !running(); })) fail("a rebuild did not finish in time");
  }

  template <class Pred>
  bool wait_until(std::chrono::seconds within, Pred pred) {
    const auto until = Clock::now() + within;
    while (Clock::now() < until) {
      if (pred()) return true;
      if (exited()) return false;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  // --- checks ---

  void verify(const std::string& when, bool final) {
    if (auto lost = test::missing_appends(url_, load_->acked()); lost > 0) {
      std::cout << when << ": " << lost << " acknowledged appends missing or moved\n";
      lost_ = std::max(lost_, lost);
    }
    const auto fold = test::check_against_fold(url_, store_);
    if (fold.history_at >= 0) ++history_checks_;
    if (fold.differences > 0) {
      std::cout << when << ": " << fold.describe() << "\n";
      ++mismatches_;
    }
    if (final && (fold.cars_at != fold.tail || fold.customers_at != fold.tail)) {
      fail(when + ": not caught up after a strong read: " + fold.describe());
    }
    // The janitor runs at start-up beside serving: give it a moment before calling a table orphaned.
    std::vector<std::string> orphans;
    for (int attempt = 0; attempt < 50; ++attempt) {
      orphans = test::orphan_tables(url_);
      if (orphans.empty()) return;
      std::this_thread::sleep_for(100ms);
    }
    std::cout << when << ": orphan tables:";
    for (const auto& t : orphans) std::cout << " " << t;
    std::cout << "\n";
    orphans_ += orphans.size();
  }

  Options options_;
  std::string url_;
  engine::ConnectionPool pool_;
  engine::EventStore store_;
  std::mt19937 rng_;
  std::unique_ptr<test::Child> server_;
  std::optional<int> exit_status_;  // set once server_ is reaped
  bool rollback_commits_ = false;
  std::string base_;
  std::optional<RunningRebuild> pending_;
  std::unique_ptr<test::HttpLoad> load_;
  double max_ready_seconds_ = 0;
  int kills_ = 0, interrupted_ = 0, resumed_ = 0, failures_ = 0;
  int lock_holds_ = 0, rebuild_cancels_ = 0, restarted_from_zero_ = 0, cancel_storms_ = 0, history_checks_ = 0;
  std::thread lock_holder_;
  std::size_t lost_ = 0, mismatches_ = 0, orphans_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--kills") {
      options.kills = std::stoi(value);
    } else if (flag == "--seed") {
      options.seed = static_cast<unsigned>(std::stoul(value));
    } else if (flag == "--events") {
      options.events = std::stoi(value);
    } else if (flag == "--log") {
      options.log = value;
    } else {
      std::cerr << "usage: reproj_chaos [--kills N] [--seed S] [--events E] [--log FILE]\n";
      return 2;
    }
  }
  try {
    std::cout << "crash loop: " << options.kills << " kills, seed " << options.seed << ", server log " << options.log
              << std::endl;
    test::TestDatabase db;
    return Chaos{options, db.url()}.run();
  } catch (const std::exception& e) {
    std::cerr << "reproj_chaos: " << e.what() << "\n";
    return 1;
  }
}
