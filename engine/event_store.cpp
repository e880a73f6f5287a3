#include "engine/event_store.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>

#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/copy_writer.hpp"
#include "engine/detail/event_row.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

std::string ExpectedVersion::to_string() const {
  if (std::holds_alternative<Any>(value)) return "any";
  if (std::holds_alternative<NoStream>(value)) return "no_stream";
  return std::to_string(std::get<std::int64_t>(value));
}

std::string new_event_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const std::uint64_t hi = (ms << 16) | 0x7000ULL | (rng() & 0x0fffULL);             // unix ms, version 7, rand_a
  const std::uint64_t lo = (rng() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 9562 variant
  // By hand, not snprintf: an import of events without ids draws one per line.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  std::size_t at = 0;
  const auto put = [&](std::uint64_t bits, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) {
      if (at == 8 || at == 13 || at == 18 || at == 23) ++at;
      out[at++] = kHex[(bits >> (4 * i)) & 0xf];
    }
  };
  put(hi, 16);
  put(lo, 16);
  return out;
}

std::int64_t EventStore::safe_tail() {
  return pool_.run([](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    return log::safe_tail(tx);
  });
}

std::vector<Event> EventStore::read(std::int64_t after, std::int64_t up_to, std::size_t limit) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<Event> out;
    log::stream_events(tx, after, up_to, limit, [&](Event& e) { out.push_back(std::move(e)); });
    return out;
  });
}

EventStore::Page EventStore::read_page(std::int64_t after, std::size_t limit, std::size_t max_bytes,
                                         const EventFilter& filter) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::nontransaction tx{conn};  // one statement, one snapshot: tail and page agree
    // Each filter has its own statement. A page costs O(limit) wherever it starts: the
    // LIMIT applies before anything is summed (a window over every event past `after` made paging
    // the whole log quadratic). One row past `limit` says whether more follow. A stream's events
    // come from its (stream_id, stream_version) index, whose order is the log's within a stream; a
    // type alone walks positions in order until the page is full. The running size keeps the rows
    // past the byte budget in PostgreSQL (they are never sent); `more`: a row of the head follows
    // (the one past the limit, or one past the budget). One window pass and no re-sort: with a
    // count(*) OVER () and an outer ORDER BY as well, the page took 3.6 ms in PostgreSQL against
    // 2.3 ms (1000 events; a COPY of them 1.0 ms). The tail comes with the page (a left join: also
    // when the page is empty), saving a transaction of its own.
    std::string where = "global_position > $1 AND global_position <= t.tail";
    if (!filter.stream_id.empty()) where += " AND stream_id = $4";
    if (!filter.type.empty()) where += filter.stream_id.empty() ? " AND event_type = $4" : " AND event_type = $5";
    const std::string order = filter.stream_id.empty() ? "global_position" : "stream_id, stream_version";
    const std::string sql =
        "SELECT page.global_position, event_id, stream_id, stream_version, event_type, data, metadata, recorded_at, "
        "more, t.tail FROM (SELECT (" + std::string{log::kSafeTailSql} + ") AS tail) t LEFT JOIN LATERAL ("
        "SELECT *, sum(octet_length(data) + octet_length(metadata)) OVER w AS upto, "
        "lead(global_position) OVER w IS NOT NULL AS more FROM ("
        "SELECT global_position, event_id, stream_id, stream_version, event_type, data::text AS data, "
        "metadata::text AS metadata, recorded_at::text AS recorded_at "
        "FROM reproj.events WHERE " + where + " ORDER BY " + order + " LIMIT $2 + 1) head "
        "WINDOW w AS (ORDER BY global_position ROWS UNBOUNDED PRECEDING)) page "
        "ON upto - octet_length(data) - octet_length(metadata) < $3";
    const auto n = static_cast<std::int64_t>(limit);
    const auto bytes = static_cast<std::int64_t>(max_bytes);
    // Prepared once per connection and filter (parsing and planning were a fifth of the page).
    using detail::exec_prepared_once;
    const pqxx::result rows =
        filter.stream_id.empty() && filter.type.empty() ? exec_prepared_once(tx, sql, "", after, n, bytes)
        : filter.type.empty()      ? exec_prepared_once(tx, sql, "", after, n, bytes, filter.stream_id)
        : filter.stream_id.empty() ? exec_prepared_once(tx, sql, "", after, n, bytes, filter.type)
                                   : exec_prepared_once(tx, sql, "", after, n, bytes, filter.stream_id, filter.type);
    Page out;
    out.tail = rows[0][9].as<std::int64_t>();
    // Up to limit + 1 rows (or one of nulls: an empty page), in the window's position order (the
    // join keeps its one outer row's inner order; sorted here should a plan ever not): the last
    // one kept says whether more follow.
    const auto found = rows[0][0].is_null() ? std::size_t{0} : static_cast<std::size_t>(rows.size());
    std::vector<std::pair<Event, bool>> head(found);
    // By column number, in the SELECT's order: by name, libpq's PQfnumber compared strings for
    // every field of every row.
    for (std::size_t i = 0; i < found; ++i) {
      const auto& r = rows[static_cast<pqxx::result::size_type>(i)];
      Event& e = head[i].first;
      e.global_position = r[0].as<std::int64_t>();
      e.event_id.assign(r[1].c_str(), r[1].size());
      e.stream_id.assign(r[2].c_str(), r[2].size());
      e.stream_version = r[3].as<std::int64_t>();
      e.type.assign(r[4].c_str(), r[4].size());
      e.data.assign(r[5].c_str(), r[5].size());
      e.metadata.assign(r[6].c_str(), r[6].size());
      e.recorded_at.assign(r[7].c_str(), r[7].size());
      head[i].second = r[8].as<bool>();
    }
    auto by_position = [](const auto& a, const auto& b) { return a.first.global_position < b.first.global_position; };
    if (!std::is_sorted(head.begin(), head.end(), by_position)) std::sort(head.begin(), head.end(), by_position);
    head.resize(std::min(found, limit));
    out.exhausted = head.empty() || !head.back().second;
    out.events.reserve(head.size());
    for (auto& [e, more] : head) out.events.push_back(std::move(e));
    return out;
  });
}

namespace log {

namespace {
// Ranges up to this long are read with a prepared SELECT, longer ones stream through COPY.
constexpr std::int64_t kFewEvents = 500;

std::int64_t to_int(const std::string& s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) throw Error("unexpected number in reproj.events: " + s);
  return v;
}
}  // namespace

std::int64_t safe_tail(pqxx::transaction_base& tx) {
  // Appends commit in position order (see the class comment), so the highest visible position is final.
  return tx.exec(kSafeTailSql)[0][0].as<std::int64_t>();
}

std::size_t stream_events(pqxx::transaction_base& tx, std::int64_t after, std::int64_t up_to, std::size_t limit,
                          const std::function<void(Event&)>& sink, const EventExtras& extras) {
  if (up_to <= after || limit == 0) return 0;
  if (up_to - after <= kFewEvents) {
    // A live catch-up a few events behind: a prepared statement, where the COPY's query would be
    // planned every time (its planning cost more than reading the events).
    std::size_t count = 0;
    Event event;
    for (const auto& r : detail::exec_prepared_once(
             tx,
             "SELECT global_position, event_id, stream_id, stream_version, event_type, data::text, metadata::text, "
             "recorded_at::text FROM reproj.events WHERE global_position > $1 AND global_position <= $2 "
             "ORDER BY global_position LIMIT $3",
             "", after, up_to, static_cast<std::int64_t>(limit))) {
      detail::read_event(r, event);
      sink(event);
      ++count;
    }
    return count;
  }
  std::size_t count = 0;
  std::string line;
  std::vector<std::string> fields;
  std::vector<bool> nulls;
  Event event;
  while (count < limit && after < up_to) {
    // Positions are dense but for rolled-back appends, so (after, after + wanted] holds at most the
    // events still wanted: the query costs what it returns, whatever the planner believes. Right
    // after a bulk import its statistics say the log is nearly empty, and a bitmap scan of every
    // later event, then sorted, made each chunk of a catch-up cost the rest of the log.
    const std::size_t wanted = limit - count;
    const std::int64_t hi =
        wanted >= static_cast<std::size_t>(up_to - after) ? up_to : after + static_cast<std::int64_t>(wanted);
    // libpqxx 6.4's stream_from only takes a table name and pastes it unquoted into COPY ... TO
    // STDOUT, so a parenthesized query streams a filtered, ordered range. Only integers are spliced
    // in here. Left-out columns come as constants, so every row decodes the same way.
    const std::string query =
        std::string{"(SELECT global_position, event_id, stream_id, "} + (extras.stream_version ? "stream_version" : "0") +
        ", event_type, data, " + (extras.metadata ? "metadata" : "''") + ", " + (extras.recorded_at ? "recorded_at" : "''") +
        " FROM reproj.events WHERE global_position > " + std::to_string(after) + " AND global_position <= " +
        std::to_string(hi) + " ORDER BY global_position)";
    pqxx::stream_from in{tx, query};
    while (in.get_raw_line(line)) {
      if (!line.empty() && line.back() == '\n') line.pop_back();  // libpqxx 6.4 keeps the newline
      detail::decode_copy_line(line, fields, nulls);
      if (fields.size() != 8) throw Error("unexpected COPY row from reproj.events: " + line);
      event.global_position = to_int(fields[0]);
      event.event_id.swap(fields[1]);
      event.stream_id.swap(fields[2]);
      event.stream_version = to_int(fields[3]);
      event.type.swap(fields[4]);
      event.data.swap(fields[5]);
      event.metadata.swap(fields[6]);
      event.recorded_at.swap(fields[7]);
      sink(event);
      ++count;
    }
    in.complete();
    after = hi;
  }
  return count;
}

}  // namespace log

}  // namespace reproj::engine
