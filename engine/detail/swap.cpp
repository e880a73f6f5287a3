#include "engine/detail/swap.hpp"

#include <random>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/detail/apply_range.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"

namespace reproj::engine::detail {

namespace {

constexpr const char* kDependentObjectsStillExist = "2BP01";  // raised by reproj.swap_carry_over
constexpr const char* kLockNotAvailable = "55P03";

std::string names_json(const std::vector<std::string>& names) { return nlohmann::json(names).dump(); }

}  // namespace

void check_dependents(pqxx::transaction_base& tx, const Projection& outgoing, const Projection& incoming,
                      DependentViews views) {
  std::vector<IncompatibleDependents::Dependent> problems;
  bool droppable = false;
  for (const auto& r : tx.exec_params("SELECT kind, object, detail, droppable "
                                      "FROM reproj.swap_problems($1::jsonb, $2::jsonb) ORDER BY kind, object, detail",
                                      names_json(table_names(outgoing)), live_columns_json(incoming))) {
    IncompatibleDependents::Dependent d{r["kind"].as<std::string>(), r["object"].as<std::string>(),
                                        r["detail"].as<std::string>()};
    const bool broken_view = r["droppable"].as<bool>();
    if (broken_view && views == DependentViews::kDrop) continue;  // dropped at the swap, as asked
    droppable = droppable || broken_view;
    problems.push_back(std::move(d));
  }
  if (!problems.empty()) {
    throw IncompatibleDependents(std::move(problems),
                                 droppable ? " (pass \"drop_dependent_views\": true to drop such views at the swap)" : "");
  }
}

void prepare_swap(pqxx::transaction_base& tx, const Projection& outgoing, const Projection& incoming,
                  DependentViews views) {
  check_dependents(tx, outgoing, incoming, views);
  const auto live = names_json(table_names(outgoing));
  tx.exec_params("SELECT reproj.swap_capture($1::jsonb)", live);
  tx.exec_params("SELECT reproj.swap_has_objects(min(c.oid), max(c.oid)) FROM jsonb_array_elements_text($1::jsonb) l "
                 "JOIN pg_class c ON c.relname = l.value AND c.relnamespace = 'reproj_data'::regnamespace",
                 live);
  tx.exec("SELECT reproj.swap_carry_over('{}', '{}', false)");  // compiles the function: no table named
}

void retry_on_lock_timeout(std::chrono::milliseconds budget, std::string_view what,
                           const std::function<void(std::int64_t attempt)>& attempt) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + budget;
  auto backoff = std::chrono::milliseconds{20};
  std::mt19937 jitter{std::random_device{}()};
  for (std::int64_t n = 1;; ++n) {
    try {
      attempt(n);
      return;
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != kLockNotAvailable) throw;
      if (Clock::now() + backoff > deadline) {
        throw LockTimeout("could not take the locks of " + std::string{what} + " within " +
                          std::to_string(budget.count()) + " ms; live is unchanged");
      }
      spdlog::info("{}: lock busy (attempt {}), retrying in {} ms", what, n, backoff.count());
      std::this_thread::sleep_for(backoff + std::chrono::milliseconds{jitter() % 20});
      backoff = std::min(backoff * 2, std::chrono::milliseconds{1000});
    }
  }
}

void set_lock_timeout(pqxx::transaction_base& tx, std::chrono::milliseconds timeout) {
  tx.exec0("SET LOCAL lock_timeout = '" + std::to_string(timeout.count()) + "ms'");
}

void rename_tables(pqxx::transaction_base& tx, const std::vector<std::string>& from, const std::vector<std::string>& to) {
  for (std::size_t i = 0; i < from.size(); ++i) {
    tx.exec0("ALTER TABLE " + qualified(tx, from[i]) + " RENAME TO " + tx.quote_name(to[i]));
  }
}

void swap_tables(pqxx::transaction_base& tx, const Projection& outgoing, const std::vector<std::string>& outgoing_to,
                 const Projection& incoming, const std::vector<std::string>& incoming_from, DependentViews views) {
  const auto live = table_names(outgoing);
  // Captured before the renames: the definitions name the live tables, so re-run after them they
  // read the incoming ones.
  const auto captured = tx.exec_params1("SELECT reproj.swap_capture($1::jsonb)::text", names_json(live))[0]
                            .as<std::string>();
  rename_tables(tx, live, outgoing_to);
  rename_tables(tx, incoming_from, table_names(incoming));
  auto moved = nlohmann::json::object();
  for (std::size_t i = 0; i < live.size(); ++i) moved[live[i]] = outgoing_to[i];
  try {
    tx.exec_params("SELECT reproj.swap_carry_over($1::jsonb, $2::jsonb, $3)", captured, moved.dump(),
                   views == DependentViews::kDrop);
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != kDependentObjectsStillExist) throw;
    std::string message = e.what();
    if (auto nl = message.find('\n'); nl != std::string::npos) message.resize(nl);
    if (message.rfind("ERROR:  ", 0) == 0) message.erase(0, 8);
    throw IncompatibleDependents({{"view", "", message}});
  }
}

}  // namespace reproj::engine::detail
