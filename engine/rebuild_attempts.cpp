// One rebuild's attempts: its projection's lock, transient errors retried from the last
// checkpoint, and a failure recorded (the work of an attempt is rebuild_runner.cpp).
#include <algorithm>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/rebuild_record.hpp"
#include "engine/detail/sleep.hpp"
#include "engine/detail/unique_clash.hpp"
#include "engine/errors.hpp"
#include "engine/rebuild.hpp"

namespace reproj::engine {

namespace {

// Errors a later attempt can get past: a cancelled statement (pg_cancel_backend, statement_timeout),
// a serialization failure or deadlock, a lock timeout, and insufficient resources (disk full, out
// of memory, too many connections). Anything else (a bug, a poison event under stop) is final.
bool is_transient(const pqxx::sql_error& e) {
  const std::string& s = e.sqlstate();
  return s == "57014" || s == "40001" || s == "40P01" || s == "55P03" || s.rfind("53", 0) == 0;
}

}  // namespace

std::optional<RebuildInfo> RebuildManager::run(std::int64_t id, std::stop_token stop) {
  auto conn = detail::connect(pool_.database_url());
  std::optional<RebuildInfo> info;
  int live_version = 0;
  {
    pqxx::read_transaction tx{*conn};
    info = detail::load_rebuild(tx, id);
    if (info) {
      auto v = tx.exec_params("SELECT active_version FROM reproj.projections WHERE name = $1", info->projection);
      if (!v.empty()) live_version = v[0][0].as<int>();
    }
  }
  if (!info) throw NotFound("no rebuild " + std::to_string(id));
  if (!is_running(info->state)) return info;
  // An instance of another release (a rolling deploy) may not know the version: it must not take
  // the rebuild, let alone fail it.
  const auto known = live_.registry().versions(info->projection);
  for (int v : {info->version, live_version}) {
    if (std::find(known.begin(), known.end(), v) == known.end()) {
      spdlog::info("rebuild {}: leaving it to an instance that knows {} version {}", id, info->projection, v);
      return std::nullopt;
    }
  }
  // Session-level: held while this connection lives, so a runner that dies releases it and
  // another process picks the rebuild up from its checkpoint.
  {
    pqxx::nontransaction tx{*conn};
    if (!tx.exec_params1("SELECT pg_try_advisory_lock(hashtext('reproj.rebuild:' || $1))", info->projection)[0]
             .as<bool>()) {
      return std::nullopt;
    }
  }
  // Named in pg_stat_activity from here on (operators, and the tests that cancel it, find it so).
  detail::exec_session(*conn, "SET application_name = 'reproj rebuild " + std::to_string(id) + "'");
  auto backoff = options_.transient_retry_after;
  std::int64_t failed_at = -1;  // the checkpoint the last transient error resumed from
  while (true) {
    try {
      const bool go_on = detail::translate_errors([&] {
        {
          pqxx::read_transaction tx{*conn};
          info = detail::load_rebuild(tx, id);  // it may have moved on before we got the lock
        }
        if (info->position > failed_at && failed_at >= 0) backoff = options_.transient_retry_after;  // got further
        if (!is_running(info->state) || stop.stop_requested()) return false;
        run_attempt(*conn, *info, stop);
        return true;
      });
      if (!go_on) return info;
      break;
    } catch (const DatabaseUnavailable&) {
      throw;  // resumable: the next runner continues from the checkpoint
    } catch (const pqxx::sql_error& e) {
      if (!is_transient(e)) {
        fail(id, e);
        break;
      }
      // The runner and its memory are gone; the next one resumes from the last checkpoint.
      const std::string why = std::string{"transient error ("} + e.sqlstate() + "): " + e.what();
      spdlog::warn("rebuild {}: {}; resuming from its checkpoint in {} ms", id, why, backoff.count());
      pool_.run([&](pqxx::connection& c) {
        pqxx::work tx{c};
        detail::record_waiting(tx, id,
                               why + "; resuming from the last checkpoint in " + std::to_string(backoff.count()) + " ms");
        tx.commit();
      });
      detail::sleep_unless_stopped(stop, backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds{30'000});
      failed_at = info->position;
    } catch (const std::exception& e) {
      fail(id, e);
      break;
    }
  }
  return get(id);
}

void RebuildManager::fail(std::int64_t id, const std::exception& e) {
  if (auto now = get(id); now && now->state == RebuildState::kCancelled) {
    spdlog::info("rebuild {} stopped: it was cancelled", id);
    drop_orphans();
    return;
  }
  // A poison event under stop or an error retrying cannot fix: record it, drop the shadow, leave
  // live untouched.
  spdlog::error("rebuild {} failed: {}", id, e.what());
  const auto* duplicates = dynamic_cast<const UniqueViolation*>(&e);
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx{c};
    detail::mark_failed(tx, id, e.what(),
                        duplicates ? std::optional<std::string>{detail::clashes_json(*duplicates)} : std::nullopt);
    tx.commit();
  });
  drop_orphans();
}

}  // namespace reproj::engine
