// EventStore::append and append_group: the write path of the log.
#include <unordered_set>

#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/append_verdicts.hpp"
#include "engine/detail/coalesced_transaction.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/storable_json.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"

namespace reproj::engine {

namespace {

constexpr const char* kLockTimeout = "55P03";

// Each event of the group one element of a jsonb array, written in the array's order.
constexpr const char* kInsertHead = R"sql(
  INSERT INTO reproj.events (event_id, stream_id, stream_version, event_type, data, metadata)
  SELECT x.doc->>'event_id', x.doc->>'stream_id', (x.doc->>'stream_version')::int, x.doc->>'type', x.doc->'data',
         x.doc->'metadata'
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(doc, n)
  ORDER BY x.n
  )sql";
const std::string kInsert = std::string{kInsertHead} + "RETURNING global_position";
// The same, returning the events as the log holds them (jsonb normalizes the data's text), for
// an observer that folds them in the same transaction.
const std::string kInsertReturningEvents =
    std::string{kInsertHead} +
    "RETURNING global_position, event_id, stream_id, stream_version, event_type, data::text, metadata::text, "
    "recorded_at::text";

// What the group's verdicts depend on, in one statement: each stream's version ($1: stream ids)
// and the events already holding an id a request gives ($2: those ids).
constexpr const char* kLookUp = R"sql(
  SELECT 0 AS kind, s.id AS key,
         (SELECT coalesce(max(e.stream_version), 0) FROM reproj.events e WHERE e.stream_id = s.id)::bigint AS n,
         NULL::text AS stream_id, NULL::text AS event_type, NULL::text AS data
  FROM jsonb_array_elements_text($1::jsonb) AS s(id)
  UNION ALL
  SELECT 1, e.event_id, e.global_position, e.stream_id, e.event_type, e.data::text
  FROM reproj.events e WHERE e.event_id IN (SELECT jsonb_array_elements_text($2::jsonb)))sql";

void check_id(const std::string& what, const std::string& value) {
  if (value.empty()) throw InvalidInput(what + " must not be empty");
  if (value.size() > 200) throw InvalidInput(what + " is longer than 200 characters");
}

detail::CheckedRequest check(const AppendRequest& req, std::size_t index) {
  check_id("stream_id", req.stream_id);
  if (req.events.empty()) throw InvalidInput("events must not be empty");
  detail::CheckedRequest r{index, &req, {}, false};
  r.ids.reserve(req.events.size());
  std::unordered_set<std::string_view> seen;
  for (const auto& e : req.events) {
    check_id("type", e.type);
    if (e.event_id) {
      check_id("event_id", *e.event_id);
      r.client_ids = true;
    }
    // Refused here, so a \u0000 never fails a whole group's INSERT.
    if (detail::holds_nul(e.data) || detail::holds_nul(e.metadata)) {
      throw InvalidInput("event data cannot be stored: a string holds \\u0000, which PostgreSQL's jsonb cannot hold");
    }
    r.ids.push_back(e.event_id ? *e.event_id : new_event_id());
  }
  for (const auto& id : r.ids) {
    if (!seen.insert(id).second) throw InvalidInput("event_id '" + id + "' appears twice in the batch");
  }
  return r;
}

// What only one request of a group can cause: the group is redone one request at a time to find
// which. Anything else (the lock's timeout, an outage) answers the whole group.
bool attributable(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const UniqueViolation&) {
    return true;
  } catch (const InvalidInput&) {
    return true;
  } catch (const pqxx::data_exception&) {
    return true;
  } catch (...) {
    return false;
  }
}

// The error a lone append answers for `e` (attributable(e) holds).
std::exception_ptr as_answer(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const pqxx::data_exception& ex) {  // e.g. a stream past 2^31 - 1 events
    return std::make_exception_ptr(InvalidInput(std::string{"event data cannot be stored: "} + ex.what()));
  } catch (...) {
    return e;
  }
}

// Begins the group's transaction, takes the append lock and reads what the verdicts depend on, in
// one round trip. The lock is taken in a statement of its own: under READ COMMITTED a statement's
// snapshot predates any lock it waits for, so the versions must be read by a later statement (each
// statement of the string takes its own snapshot). The wait is bounded by `timeout` ms; what
// follows is not, but for an observer's locks (inline projections' metadata rows), which keep it.
detail::GroupVerdicts begin_and_look_up(detail::CoalescedTransaction& ct, const std::vector<detail::CheckedRequest>& group,
                                        bool observer, const std::string& timeout) {
  auto streams = nlohmann::json::array();
  auto ids = nlohmann::json::array();
  std::unordered_set<std::string_view> seen;
  for (const auto& r : group) {
    if (seen.insert(r.request->stream_id).second) streams.push_back(r.request->stream_id);
    if (!r.client_ids) continue;
    for (std::size_t i = 0; i < r.ids.size(); ++i) {
      if (r.request->events[i].event_id) ids.push_back(r.ids[i]);
    }
  }
  std::unordered_map<std::string, std::int64_t> versions;
  std::unordered_map<std::string, detail::StoredEvent> stored;
  pqxx::result rows;
  try {
    rows = ct.begin_with("SET LOCAL lock_timeout = " + timeout + "; SELECT reproj.lock_appends(); " +
                         (observer ? "" : "SET LOCAL lock_timeout TO DEFAULT; ") +
                         detail::execute_prepared(ct.tx().conn(), kLookUp,
                                                  {ct.tx().quote(streams.dump()), ct.tx().quote(ids.dump())}));
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != kLockTimeout) throw;
    throw LockTimeout("appends are blocked: another writer has held the append lock for over " + timeout + " ms");
  }
  for (const auto& row : rows) {
    if (row[0].as<int>() == 0) {
      versions.emplace(row[1].as<std::string>(), row[2].as<std::int64_t>());
    } else {
      stored.emplace(row[1].as<std::string>(),
                     detail::StoredEvent{row[2].as<std::int64_t>(), row[3].as<std::string>(),
                                         row[4].as<std::string>(), nlohmann::json::parse(row[5].as<std::string>())});
    }
  }
  return detail::GroupVerdicts{std::move(versions), std::move(stored)};
}

// Writes planned events [begin, end) and lets the observer fold them. kCommit (no observer): the
// COMMIT travels with the INSERT, and the transaction is over.
enum class Then { kStayOpen, kCommit };
void write(detail::CoalescedTransaction& ct, detail::GroupVerdicts& verdicts, std::size_t begin, std::size_t end,
           AppendObserver* observer, const std::string& timeout, Then then) {
  const auto& planned = verdicts.planned();
  std::string doc = "[";
  for (std::size_t n = begin; n < end; ++n) {
    const auto& p = planned[n];
    if (n > begin) doc += ',';
    doc += "{\"event_id\":" + nlohmann::json(*p.event_id).dump() + ",\"stream_id\":" +
           nlohmann::json(*p.stream_id).dump() + ",\"stream_version\":" + std::to_string(p.stream_version) +
           ",\"type\":" + nlohmann::json(p.event->type).dump() + ",\"data\":" + p.event->data.dump() +
           ",\"metadata\":" + p.event->metadata.dump() + '}';
  }
  doc += ']';
  // Prepared (planning cost about what a round trip does), sent as EXECUTE to share a string.
  const auto sql = detail::execute_prepared(ct.tx().conn(), observer ? kInsertReturningEvents : kInsert,
                                            {ct.tx().quote(doc)});
  const auto rows = then == Then::kCommit ? ct.exec_then_commit(sql) : ct.tx().exec(sql);
  if (rows.size() != end - begin) throw Error("the group's INSERT returned an unexpected number of rows");
  for (std::size_t i = 0; i < rows.size(); ++i) verdicts.set_position(begin + i, rows[i][0].as<std::int64_t>());
  if (!observer) return;
  std::vector<Event> appended;
  appended.reserve(rows.size());
  for (const auto& r : rows) {
    appended.push_back({.global_position = r[0].as<std::int64_t>(),
                        .event_id = r[1].as<std::string>(),
                        .stream_id = r[2].as<std::string>(),
                        .stream_version = r[3].as<std::int64_t>(),
                        .type = r[4].as<std::string>(),
                        .data = r[5].as<std::string>(),
                        .metadata = r[6].as<std::string>(),
                        .recorded_at = r[7].as<std::string>()});
  }
  try {
    observer->appended(ct.tx(), appended.front().global_position, appended.back().global_position, &appended);
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != kLockTimeout) throw;
    throw LockTimeout("an inline projection was held by another applier for over " + timeout + " ms");
  }
}

}  // namespace

AppendResult EventStore::append(const std::string& stream_id, const ExpectedVersion& expected,
                                const std::vector<NewEvent>& events) {
  std::vector<AppendRequest> one(1);
  one[0].stream_id = stream_id;
  one[0].expected = expected;
  one[0].events = events;
  auto outcome = append_group(one);
  if (outcome[0].error) std::rethrow_exception(outcome[0].error);
  return outcome[0].result;
}

std::vector<AppendOutcome> EventStore::append_group(const std::vector<AppendRequest>& requests) {
  std::vector<AppendOutcome> out;
  append_group(requests, {}, out);
  return out;
}

bool EventStore::append_group(const std::vector<AppendRequest>& requests, const BeforeCommit& before_commit,
                              std::vector<AppendOutcome>& out) {
  out.assign(requests.size(), AppendOutcome{});
  std::vector<detail::CheckedRequest> group;
  group.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    try {
      group.push_back(check(requests[i], i));
    } catch (...) {
      out[i].error = std::current_exception();
    }
  }
  auto refusals = [&] {
    std::vector<std::exception_ptr> refused(out.size());
    for (std::size_t i = 0; i < out.size(); ++i) refused[i] = out[i].error;
    return refused;
  };
  if (group.empty()) {
    if (!before_commit) return false;
    try {
      pool_.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        before_commit(tx, refusals());
        tx.commit();
      });
      return true;
    } catch (...) {
      for (auto& o : out) o.error = std::current_exception();
      return false;
    }
  }

  AppendObserver* observer = options_.observer && options_.observer->active() ? options_.observer : nullptr;
  const std::string timeout = std::to_string(options_.append_lock_timeout.count());
  // One transaction: false when a request of a group of several failed it and the group must be
  // redone one request at a time (`one_by_one`), each in a savepoint, to answer it alone.
  enum class Grouping { kTogether, kOneByOne };
  const auto attempt = [&](pqxx::connection& conn, Grouping grouping) {
    const bool one_by_one = grouping == Grouping::kOneByOne;
    detail::CoalescedTransaction ct{conn};
    auto verdicts = begin_and_look_up(ct, group, observer != nullptr, timeout);
    std::vector<detail::Verdict> decided(group.size());
    std::vector<std::exception_ptr> refused(group.size());
    for (std::size_t k = 0; k < group.size(); ++k) {
      try {
        decided[k] = verdicts.decide(group[k]);
      } catch (...) {
        refused[k] = std::current_exception();
        continue;
      }
      if (decided[k].duplicate) continue;
      const auto begin = verdicts.planned().size();
      verdicts.accept(group[k], decided[k]);
      if (!one_by_one) continue;
      // Plain statements: libpqxx 6.4's subtransaction sent no SAVEPOINT before a prepared statement.
      ct.tx().exec0("SAVEPOINT reproj_append");
      try {
        write(ct, verdicts, begin, verdicts.planned().size(), observer, timeout, Then::kStayOpen);
        ct.tx().exec0("RELEASE SAVEPOINT reproj_append");
      } catch (...) {
        if (!attributable(std::current_exception())) throw;
        refused[k] = as_answer(std::current_exception());
        verdicts.undo(group[k], decided[k]);
        ct.tx().exec0("ROLLBACK TO SAVEPOINT reproj_append");
      }
    }
    bool committed = false;
    if (!one_by_one && !verdicts.planned().empty()) {
      try {
        committed = observer == nullptr && !before_commit;  // INSERT and COMMIT in one round trip
        write(ct, verdicts, 0, verdicts.planned().size(), observer, timeout, committed ? Then::kCommit : Then::kStayOpen);
      } catch (...) {
        if (!attributable(std::current_exception())) throw;
        if (group.size() > 1 || before_commit) return false;  // the hook needs a transaction that can commit
        out[group[0].index].error = as_answer(std::current_exception());  // nothing commits
        return true;
      }
    }
    if (before_commit) {
      auto all = refusals();
      for (std::size_t k = 0; k < group.size(); ++k) all[group[k].index] = refused[k];
      before_commit(ct.tx(), all);
    }
    if (!committed) ct.commit();
    for (std::size_t k = 0; k < group.size(); ++k) {
      auto& o = out[group[k].index];
      if (refused[k]) {
        o.error = refused[k];
      } else {
        o.result = verdicts.resolve(decided[k]);
      }
    }
    return true;
  };
  try {
    if (!pool_.run([&](pqxx::connection& conn) { return attempt(conn, Grouping::kTogether); })) {
      pool_.run([&](pqxx::connection& conn) { return attempt(conn, Grouping::kOneByOne); });
    }
  } catch (...) {
    // The group did not commit: each of its requests answers with why.
    for (const auto& r : group) out[r.index].error = std::current_exception();
    return false;
  }
  return true;
}

}  // namespace reproj::engine
