#include "engine/reactor_store.hpp"

#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/event_row.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/session_locks.hpp"

namespace reproj::engine {

using Json = nlohmann::json;

namespace {

const char* const kSelectReactor =
    "SELECT r.name, r.config::text, r.position, r.state, r.circuit, r.consecutive_failures, "
    "coalesce(r.last_error, ''), coalesce(to_char(r.next_attempt_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ''), r.delivered, "
    "(SELECT count(*) FROM reproj.reactor_dead_letters d WHERE d.reactor = r.name AND d.status = 'dead'), "
    "r.in_flight, r.backing_off, "
    "(SELECT count(*) FROM reproj.reactor_acks a WHERE a.reactor = r.name AND a.global_position > r.position) "
    "FROM reproj.reactors r ";

ReactorInfo reactor_from(const pqxx::row& r, std::int64_t tail) {
  ReactorInfo out;
  out.name = r[0].as<std::string>();
  out.config = ReactorConfig::from_json(Json::parse(r[1].as<std::string>()));
  out.position = r[2].as<std::int64_t>();
  out.state = r[3].as<std::string>();
  out.circuit = r[4].as<std::string>();
  out.consecutive_failures = r[5].as<int>();
  out.last_error = r[6].as<std::string>();
  out.next_attempt_at = r[7].as<std::string>();
  out.delivered = r[8].as<std::int64_t>();
  out.dead_letters = r[9].as<std::int64_t>();
  out.in_flight = r[10].as<int>();
  out.backing_off = r[11].as<int>();
  out.acknowledged_above = r[12].as<std::int64_t>();
  out.tail = tail;
  return out;
}

ReactorInfo get_in(pqxx::transaction_base& tx, const std::string& name) {
  const auto rows = tx.exec_params(std::string{kSelectReactor} + "WHERE r.name = $1", name);
  if (rows.empty()) throw NotFound("no reactor named '" + name + "'");
  return reactor_from(rows[0], log::safe_tail(tx));
}

void require_reactor(pqxx::transaction_base& tx, const std::string& name) {
  if (tx.exec_params("SELECT 1 FROM reproj.reactors WHERE name = $1", name).empty()) {
    throw NotFound("no reactor named '" + name + "'");
  }
}

Event event_from(const pqxx::row& r) {
  Event e;
  detail::read_event(r, e);
  return e;
}

DeadLetter dead_letter_from(const pqxx::row& r) {
  return DeadLetter{r[0].as<std::string>(), r[1].as<std::int64_t>(), r[2].as<std::string>(), r[3].as<int>(),
                    r[4].as<std::string>(),  r[5].as<std::string>(),  r[6].as<std::string>()};
}

const char* const kDeadLetterColumns =
    "event_id, global_position, event_type, attempts, last_error, status, "
    "to_char(dead_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') ";

// Compare-and-set of the checkpoint, only while the deliverer's lock session (`lock_pid`) holds the
// reactor's lock: false when either does not hold.
bool move_checkpoint(pqxx::work& tx, const std::string& name, std::int64_t from, std::int64_t to,
                     std::int64_t delivered, int lock_pid) {
  return !tx.exec_params("UPDATE reproj.reactors SET position = $3, delivered = delivered + $4, updated_at = now() "
                         "WHERE name = $1 AND position = $2 AND EXISTS (SELECT 1 FROM pg_locks WHERE locktype = "
                         "'advisory' AND granted AND pid = $5 AND classid = " +
                             std::to_string(kReactorLockClass) +
                             " AND objid = hashtext($1)::oid AND objsubid = 2) RETURNING 1",
                         name, from, to, delivered, lock_pid)
              .empty();
}

}  // namespace

ReactorStore::PutResult ReactorStore::put(const std::string& name, const ReactorConfig& config,
                                          std::optional<std::int64_t> start) {
  if (!valid_reactor_name(name)) {
    throw InvalidInput("a reactor name is 1 to 63 characters of a-z, 0-9, '_' and '-', starting with a letter");
  }
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    const auto stored = tx.exec_params("SELECT config::text FROM reproj.reactors WHERE name = $1 FOR UPDATE", name);
    if (!stored.empty()) {
      if (ReactorConfig::from_json(Json::parse(stored[0][0].as<std::string>())) == config) return PutResult::kUnchanged;
      tx.exec_params("UPDATE reproj.reactors SET config = $2::jsonb, updated_at = now() WHERE name = $1", name,
                     config.to_json().dump());
      tx.commit();
      return PutResult::kChanged;
    }
    const std::int64_t tail = log::safe_tail(tx);
    const std::int64_t position = start.value_or(tail);
    if (position < 0 || position > tail) {
      throw InvalidInput("start " + std::to_string(position) + " is past the log's tail (" + std::to_string(tail) + ")");
    }
    // Two creators at once: the second waits on the primary key and then sees a conflict.
    const auto inserted = tx.exec_params(
        "INSERT INTO reproj.reactors (name, config, position) VALUES ($1, $2::jsonb, $3) "
        "ON CONFLICT (name) DO NOTHING RETURNING 1",
        name, config.to_json().dump(), position);
    if (inserted.empty()) throw StateConflict("reactor '" + name + "' was created concurrently; retry");
    tx.commit();
    return PutResult::kCreated;
  });
}

std::vector<ReactorInfo> ReactorStore::list() {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    const auto tail = log::safe_tail(tx);
    std::vector<ReactorInfo> out;
    for (const auto& r : tx.exec(std::string{kSelectReactor} + "ORDER BY r.name")) out.push_back(reactor_from(r, tail));
    return out;
  });
}

ReactorInfo ReactorStore::get(const std::string& name) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    return get_in(tx, name);
  });
}

void ReactorStore::remove(const std::string& name) {
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    if (tx.exec_params("DELETE FROM reproj.reactors WHERE name = $1 RETURNING 1", name).empty()) {
      throw NotFound("no reactor named '" + name + "'");
    }
    tx.commit();
  });
}

ReactorInfo ReactorStore::set_state(const std::string& name, const std::string& state) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    require_reactor(tx, name);
    if (state == "running") {
      tx.exec_params("UPDATE reproj.reactors SET state = 'running', circuit = 'closed', consecutive_failures = 0, "
                     "next_attempt_at = NULL, updated_at = now() WHERE name = $1",
                     name);
    } else {
      tx.exec_params("UPDATE reproj.reactors SET state = $2, updated_at = now() WHERE name = $1", name, state);
    }
    auto out = get_in(tx, name);
    tx.commit();
    return out;
  });
}

ReactorInfo ReactorStore::reset(const std::string& name, std::int64_t position) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    require_reactor(tx, name);
    const auto tail = log::safe_tail(tx);
    if (position < 0 || position > tail) {
      throw InvalidInput("position must be from 0 to the log's tail (" + std::to_string(tail) + ")");
    }
    tx.exec_params("UPDATE reproj.reactors SET position = $2, updated_at = now() WHERE name = $1", name, position);
    tx.exec_params("DELETE FROM reproj.reactor_acks WHERE reactor = $1", name);
    auto out = get_in(tx, name);
    tx.commit();
    return out;
  });
}

std::vector<DeadLetter> ReactorStore::dead_letters(const std::string& name, std::int64_t after_position,
                                                   std::size_t limit) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    require_reactor(tx, name);
    std::vector<DeadLetter> out;
    for (const auto& r : tx.exec_params(std::string{"SELECT "} + kDeadLetterColumns +
                                            "FROM reproj.reactor_dead_letters WHERE reactor = $1 AND global_position > $2 "
                                            "ORDER BY global_position LIMIT $3",
                                        name, after_position, static_cast<std::int64_t>(limit))) {
      out.push_back(dead_letter_from(r));
    }
    return out;
  });
}

DeadLetter ReactorStore::retry_dead_letter(const std::string& name, const std::string& event_id) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    require_reactor(tx, name);
    const auto rows = tx.exec_params(std::string{"UPDATE reproj.reactor_dead_letters SET status = 'retrying' "
                                                 "WHERE reactor = $1 AND event_id = $2 RETURNING "} +
                                         kDeadLetterColumns,
                                     name, event_id);
    if (rows.empty()) throw NotFound("reactor '" + name + "' has no dead letter for event '" + event_id + "'");
    tx.commit();
    return dead_letter_from(rows[0]);
  });
}

void ReactorStore::delete_dead_letter(const std::string& name, const std::string& event_id) {
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    require_reactor(tx, name);
    if (tx.exec_params("DELETE FROM reproj.reactor_dead_letters WHERE reactor = $1 AND event_id = $2 RETURNING 1",
                       name, event_id)
            .empty()) {
      throw NotFound("reactor '" + name + "' has no dead letter for event '" + event_id + "'");
    }
    tx.commit();
  });
}

std::optional<ReactorStore::Work> ReactorStore::next_work(const std::string& name, std::optional<std::int64_t> after,
                                                          std::size_t limit) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<Work> {
    pqxx::read_transaction tx{conn};
    const auto rows = tx.exec_params(std::string{kSelectReactor} + "WHERE r.name = $1", name);
    if (rows.empty()) return std::nullopt;
    Work work;
    work.reactor = reactor_from(rows[0], log::safe_tail(tx));
    const auto& config = work.reactor.config;
    Json exact = Json::array(), prefixes = Json::array();
    bool all = false;
    for (const auto& p : config.events) {
      if (p == "*") all = true;
      else if (p.back() == '*') prefixes.push_back(p.substr(0, p.size() - 1));
      else exact.push_back(p);
    }
    const char* const columns =
        "e.global_position, e.event_id, e.stream_id, e.stream_version, e.event_type, e.data::text, "
        "e.metadata::text, e.recorded_at::text ";
    // Positions in order through the primary key; the type test is a filter on what it walks.
    for (const auto& r : detail::exec_prepared_once(
             tx,
             std::string{"SELECT "} + columns +
                 "FROM reproj.events e WHERE e.global_position > $1 AND e.global_position <= $2 "
                 "AND ($3 OR e.event_type IN (SELECT jsonb_array_elements_text($4::jsonb)) "
                 "OR EXISTS (SELECT 1 FROM jsonb_array_elements_text($5::jsonb) p WHERE starts_with(e.event_type, p))) "
                 "ORDER BY e.global_position LIMIT $6",
             "", after.value_or(work.reactor.position), work.reactor.tail, all, exact.dump(), prefixes.dump(),
             static_cast<std::int64_t>(limit))) {
      work.events.push_back(event_from(r));
    }
    work.complete = work.events.size() < limit;
    if (!after) {
      for (const auto& r : tx.exec_params("SELECT global_position FROM reproj.reactor_acks WHERE reactor = $1 AND "
                                          "global_position > $2 ORDER BY global_position",
                                          name, work.reactor.position)) {
        work.acknowledged.push_back(r[0].as<std::int64_t>());
      }
    }
    for (const auto& r : tx.exec_params(
             std::string{"SELECT "} + columns +
                 ", d.attempts FROM reproj.reactor_dead_letters d JOIN reproj.events e USING (event_id) "
                 "WHERE d.reactor = $1 AND d.status = 'retrying' ORDER BY d.global_position LIMIT 10",
             name)) {
      work.retries.push_back(event_from(r));
      work.retry_attempts.push_back(r[8].as<int>());
    }
    return work;
  });
}

bool ReactorStore::checkpoint(const std::string& name, const Progress& p, int lock_pid) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    if (!move_checkpoint(tx, name, p.from, p.to, p.delivered, lock_pid)) return false;
    tx.exec_params("UPDATE reproj.reactors SET in_flight = $2, backing_off = $3 WHERE name = $1", name, p.in_flight,
                   p.backing_off);
    for (const auto& d : p.dead) {
      tx.exec_params(
          "INSERT INTO reproj.reactor_dead_letters (reactor, event_id, global_position, event_type, attempts, "
          "last_error) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (reactor, event_id) DO UPDATE SET attempts = "
          "EXCLUDED.attempts, last_error = EXCLUDED.last_error, status = 'dead', dead_at = now()",
          name, d.event.event_id, d.event.global_position, d.event.type, d.attempts, d.error);
    }
    if (p.to > p.from) {
      tx.exec_params("DELETE FROM reproj.reactor_acks WHERE reactor = $1 AND global_position <= $2", name, p.to);
    }
    if (!p.done_above.empty()) {
      std::string positions = "{";
      for (const auto position : p.done_above) {
        if (positions.size() > 1) positions += ',';
        positions += std::to_string(position);
      }
      positions += '}';
      tx.exec_params("INSERT INTO reproj.reactor_acks (reactor, global_position) SELECT $1, unnest($2::bigint[]) "
                     "ON CONFLICT DO NOTHING",
                     name, positions);
    }
    tx.commit();
    return true;
  });
}

std::optional<ReactorStore::Control> ReactorStore::control(const std::string& name) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<Control> {
    pqxx::read_transaction tx{conn};
    const auto rows = tx.exec_params("SELECT state, config::text FROM reproj.reactors WHERE name = $1", name);
    if (rows.empty()) return std::nullopt;
    return Control{rows[0][0].as<std::string>(), ReactorConfig::from_json(Json::parse(rows[0][1].as<std::string>()))};
  });
}

void ReactorStore::stop_at(const std::string& name, const std::string& error) {
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    tx.exec_params("UPDATE reproj.reactors SET state = 'stopped', last_error = $2, next_attempt_at = NULL, "
                   "updated_at = now() WHERE name = $1",
                   name, error);
    tx.commit();
  });
}

std::optional<ReactorStore::Control> ReactorStore::record_health(const std::string& name, const std::string& circuit,
                                                                 int failures, const std::string& error,
                                                                 std::int64_t next_attempt_in_ms) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<Control> {
    pqxx::work tx{conn};
    const auto rows = tx.exec_params(
        "UPDATE reproj.reactors SET circuit = $2, consecutive_failures = $3, "
        "last_error = CASE WHEN $4 = '' THEN last_error ELSE $4 END, "
        "next_attempt_at = CASE WHEN $5 < 0 THEN NULL ELSE now() + $5 * interval '1 millisecond' END "
        "WHERE name = $1 RETURNING state, config::text",
        name, circuit, failures, error, next_attempt_in_ms);
    tx.commit();
    if (rows.empty()) return std::nullopt;
    return Control{rows[0][0].as<std::string>(), ReactorConfig::from_json(Json::parse(rows[0][1].as<std::string>()))};
  });
}

void ReactorStore::retried(const std::string& name, const std::string& event_id, bool delivered, int attempts,
                           const std::string& error) {
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    if (delivered) {
      tx.exec_params("DELETE FROM reproj.reactor_dead_letters WHERE reactor = $1 AND event_id = $2", name, event_id);
      tx.exec_params("UPDATE reproj.reactors SET delivered = delivered + 1 WHERE name = $1", name);
    } else {
      tx.exec_params("UPDATE reproj.reactor_dead_letters SET status = 'dead', attempts = $3, last_error = $4, "
                     "dead_at = now() WHERE reactor = $1 AND event_id = $2",
                     name, event_id, attempts, error);
    }
    tx.commit();
  });
}

}  // namespace reproj::engine
