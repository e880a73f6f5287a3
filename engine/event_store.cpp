#include "engine/event_store.hpp"

#include <algorithm>
#include <charconv>
#include <exception>
#include <future>
#include <random>
#include <regex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/copy_writer.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

namespace {

constexpr const char* kInsertBatch = R"sql(
  INSERT INTO reproj.events (event_id, stream_id, stream_version, event_type, data, metadata)
  SELECT x.doc->>'event_id', $2, ($3::bigint + x.n)::int, x.doc->>'type', x.doc->'data', x.doc->'metadata'
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(doc, n)
  ORDER BY x.n
  RETURNING global_position)sql";

// Events of the batch whose event_id is already in the log, and whether their content matches.
constexpr const char* kFindExistingIds = R"sql(
  SELECT e.stream_id = $2 AND e.event_type = x.doc->>'type' AND e.data = x.doc->'data' AS same,
         e.global_position, e.event_id
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(doc, n)
  JOIN reproj.events e ON e.event_id = x.doc->>'event_id'
  ORDER BY x.n)sql";

constexpr const char* kStreamVersion =
    "SELECT coalesce(max(stream_version), 0) FROM reproj.events WHERE stream_id = $1";

void check_id(const std::string& what, const std::string& value) {
  if (value.empty()) throw InvalidInput(what + " must not be empty");
  if (value.size() > 200) throw InvalidInput(what + " is longer than 200 characters");
}

std::int64_t current_version(pqxx::work& tx, const std::string& stream_id) {
  return tx.exec_params1(kStreamVersion, stream_id)[0].as<std::int64_t>();
}

}  // namespace

std::string ExpectedVersion::to_string() const {
  if (std::holds_alternative<Any>(value)) return "any";
  if (std::holds_alternative<NoStream>(value)) return "no_stream";
  return std::to_string(std::get<std::int64_t>(value));
}

std::string random_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

AppendResult EventStore::append(const std::string& stream_id, const ExpectedVersion& expected,
                                const std::vector<NewEvent>& events) {
  check_id("stream_id", stream_id);
  if (events.empty()) throw InvalidInput("events must not be empty");
  auto doc = nlohmann::json::array();
  bool client_ids = false;
  std::unordered_set<std::string> seen;
  for (const auto& e : events) {
    check_id("type", e.type);
    if (e.event_id) {
      check_id("event_id", *e.event_id);
      client_ids = true;
    }
    std::string id = e.event_id ? *e.event_id : random_uuid();
    if (!seen.insert(id).second) throw InvalidInput("event_id '" + id + "' appears twice in the batch");
    doc.push_back({{"event_id", id}, {"type", e.type}, {"data", e.data}, {"metadata", e.metadata}});
  }
  const std::string doc_text = doc.dump();

  return pool_.run([&](pqxx::connection& conn) {
    try {
      pqxx::work tx{conn};
      // Taken in its own statement: under READ COMMITTED a statement's snapshot predates any lock it
      // waits for, so the version read below must come from a later statement than the lock.
      tx.exec("SELECT reproj.lock_appends()");
      AppendResult result;
      result.stream_id = stream_id;
      if (client_ids) {
        auto existing = tx.exec_params(kFindExistingIds, doc_text, stream_id);
        if (!existing.empty()) {
          for (const auto& row : existing) {
            if (!row[0].as<bool>()) throw EventIdConflict(row[2].as<std::string>());
          }
          if (existing.size() != events.size()) throw EventIdConflict(existing[0][2].as<std::string>());
          result.first_position = existing[0][1].as<std::int64_t>();
          result.last_position = existing[existing.size() - 1][1].as<std::int64_t>();
          result.next_expected_version = current_version(tx, stream_id);
          result.duplicate = true;
          return result;
        }
      }
      const std::int64_t actual = current_version(tx, stream_id);
      if (std::holds_alternative<ExpectedVersion::NoStream>(expected.value) && actual != 0) {
        throw VersionConflict(stream_id, actual, expected.to_string());
      }
      if (const auto* v = std::get_if<std::int64_t>(&expected.value); v && *v != actual) {
        throw VersionConflict(stream_id, actual, expected.to_string());
      }
      auto positions = tx.exec_params(kInsertBatch, doc_text, stream_id, actual);
      result.first_position = positions[0][0].as<std::int64_t>();
      result.last_position = positions[positions.size() - 1][0].as<std::int64_t>();
      result.next_expected_version = actual + static_cast<std::int64_t>(events.size());
      tx.commit();
      return result;
    } catch (const pqxx::data_exception& e) {
      // e.g. a \u0000 inside a string, which jsonb cannot hold
      throw InvalidInput(std::string{"event data cannot be stored: "} + e.what());
    }
  });
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

std::vector<Event> EventStore::read(std::int64_t after, std::int64_t up_to, std::size_t limit,
                                    const EventFilter& filter) {
  if (filter.stream_id.empty() && filter.type.empty()) return read(after, up_to, limit);
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<Event> out;
    // Unprepared, so each filter gets its own plan: a stream's events come from its (stream_id,
    // stream_version) index; a type alone walks positions in order until the page is full.
    const std::string select =
        "SELECT global_position, event_id, stream_id, stream_version, event_type, data::text AS data, "
        "metadata::text AS metadata, recorded_at::text AS recorded_at FROM reproj.events "
        "WHERE global_position > $1 AND global_position <= $2 ";
    const auto n = static_cast<std::int64_t>(limit);
    const pqxx::result rows =
        filter.type.empty()
            ? tx.exec_params(select + "AND stream_id = $3 ORDER BY global_position LIMIT $4", after, up_to,
                             filter.stream_id, n)
        : filter.stream_id.empty()
            ? tx.exec_params(select + "AND event_type = $3 ORDER BY global_position LIMIT $4", after, up_to,
                             filter.type, n)
            : tx.exec_params(select + "AND stream_id = $3 AND event_type = $4 ORDER BY global_position LIMIT $5",
                             after, up_to, filter.stream_id, filter.type, n);
    for (const auto& r : rows) {
      Event e;
      e.global_position = r["global_position"].as<std::int64_t>();
      e.event_id = r["event_id"].as<std::string>();
      e.stream_id = r["stream_id"].as<std::string>();
      e.stream_version = r["stream_version"].as<std::int64_t>();
      e.type = r["event_type"].as<std::string>();
      e.data = r["data"].as<std::string>();
      e.metadata = r["metadata"].as<std::string>();
      e.recorded_at = r["recorded_at"].as<std::string>();
      out.push_back(std::move(e));
    }
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
  return tx.exec("SELECT coalesce(max(global_position), 0) FROM reproj.events")[0][0].as<std::int64_t>();
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
      event.global_position = r[0].as<std::int64_t>();
      event.event_id = r[1].as<std::string>();
      event.stream_id = r[2].as<std::string>();
      event.stream_version = r[3].as<std::int64_t>();
      event.type = r[4].as<std::string>();
      event.data = r[5].as<std::string>();
      event.metadata = r[6].as<std::string>();
      event.recorded_at = r[7].as<std::string>();
      sink(event);
      ++count;
    }
    return count;
  }
  // libpqxx 6.4's stream_from only takes a table name and pastes it unquoted into COPY ... TO STDOUT,
  // so a parenthesized query streams a filtered, ordered range. Only integers are spliced in here.
  // Left-out columns come as constants, so every row decodes the same way.
  const std::string query =
      std::string{"(SELECT global_position, event_id, stream_id, "} + (extras.stream_version ? "stream_version" : "0") +
      ", event_type, data, " + (extras.metadata ? "metadata" : "''") + ", " + (extras.recorded_at ? "recorded_at" : "''") +
      " FROM reproj.events WHERE global_position > " +
      std::to_string(after) + " AND global_position <= " + std::to_string(up_to) +
      " ORDER BY global_position LIMIT " + std::to_string(limit) + ")";
  pqxx::stream_from in{tx, query};
  std::string line;
  std::vector<std::string> fields;
  std::vector<bool> nulls;
  Event event;
  std::size_t count = 0;
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
  return count;
}

}  // namespace log

namespace {

struct ImportLine {  // one parsed line of an import file
  std::size_t line_no = 0;
  std::string stream_id;
  std::string event_id;
  std::string type;
  std::string data;
  std::string metadata;
};

InvalidInput import_error(std::size_t line_no, const std::string& why) {
  return InvalidInput("line " + std::to_string(line_no) + ": " + why + "; nothing was imported");
}

// Parses and checks one line (everything but event_id uniqueness, which needs the whole file).
ImportLine parse_import_line(const std::string& line, std::size_t line_no) {
  auto fail = [&](const std::string& why) { return import_error(line_no, why); };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    throw fail(std::string{"invalid JSON ("} + e.what() + ")");
  }
  if (!j.is_object()) throw fail("expected a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "event_id" && key != "stream_id" && key != "type" && key != "data" && key != "metadata") {
      throw fail("unknown field '" + key + "'");
    }
  }
  auto text_field = [&](const char* name, bool required) -> std::string {
    auto it = j.find(name);
    if (it == j.end()) {
      if (required) throw fail(std::string{"missing \""} + name + "\"");
      return {};
    }
    if (!it->is_string()) throw fail(std::string{"\""} + name + "\" must be a string");
    auto s = it->get<std::string>();
    if (s.empty()) throw fail(std::string{"\""} + name + "\" must not be empty");
    if (s.size() > 200) throw fail(std::string{"\""} + name + "\" is longer than 200 characters");
    return s;
  };
  ImportLine p;
  p.line_no = line_no;
  p.stream_id = text_field("stream_id", true);
  p.type = text_field("type", true);
  p.event_id = text_field("event_id", false);
  if (p.event_id.empty()) p.event_id = random_uuid();
  auto data = j.find("data");
  if (data == j.end()) throw fail("missing \"data\"");
  if (!data->is_object()) throw fail("\"data\" must be a JSON object");
  auto meta = j.find("metadata");
  if (meta != j.end() && !meta->is_object()) throw fail("\"metadata\" must be a JSON object");
  try {
    p.data = data->dump();
    p.metadata = meta == j.end() ? "{}" : meta->dump();
  } catch (const nlohmann::json::type_error& e) {
    throw fail(std::string{"invalid text ("} + e.what() + ")");
  }
  if (p.data.find("\\u0000") != std::string::npos || p.metadata.find("\\u0000") != std::string::npos) {
    throw fail("JSON strings must not contain \\u0000");
  }
  return p;
}

// Lines parsed in order until the first bad one, whose error is kept.
struct ParsedChunk {
  std::vector<ImportLine> lines;
  std::exception_ptr error;
};

}  // namespace

ImportReport EventStore::import_ndjson(std::istream& input) {
  struct Pending {
    std::size_t stream;
    std::string event_id;
    std::string type;
    std::string data;
    std::string metadata;
  };
  std::vector<std::pair<std::size_t, std::string>> raw;  // (line number, text) of non-blank lines
  {
    std::string line;
    std::size_t line_no = 0;
    while (std::getline(input, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") != std::string::npos) raw.emplace_back(line_no, std::move(line));
    }
  }
  if (input.bad()) throw InvalidInput("cannot read the import file");

  // Parsing (JSON in, canonical JSON out) is most of the client's work: it runs on every core,
  // in contiguous chunks, before the one COPY.
  const std::size_t workers = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
  const std::size_t per_chunk = (raw.size() + workers - 1) / workers;
  std::vector<std::future<ParsedChunk>> chunks;
  for (std::size_t begin = 0; begin < raw.size(); begin += per_chunk) {
    const std::size_t end = std::min(raw.size(), begin + per_chunk);
    chunks.push_back(std::async(std::launch::async, [&raw, begin, end] {
      ParsedChunk out;
      out.lines.reserve(end - begin);
      try {
        for (std::size_t i = begin; i < end; ++i) out.lines.push_back(parse_import_line(raw[i].second, raw[i].first));
      } catch (...) {
        out.error = std::current_exception();
      }
      return out;
    }));
  }

  // In file order, so the error reported is the first line's: a chunk's lines before its bad one
  // are checked (a duplicate event_id there comes first), then its error.
  std::vector<std::string> streams;
  std::unordered_map<std::string, std::size_t> stream_index;
  std::unordered_map<std::string, std::size_t> id_line;  // event_id -> line, for error messages
  std::vector<Pending> pending;
  pending.reserve(raw.size());
  std::vector<ParsedChunk> parsed;
  for (auto& c : chunks) parsed.push_back(c.get());  // every worker done before anything throws
  raw.clear();
  for (auto& chunk : parsed) {
    for (auto& l : chunk.lines) {
      auto [id_it, fresh] = id_line.emplace(l.event_id, l.line_no);
      if (!fresh) {
        throw import_error(l.line_no, "event_id '" + l.event_id + "' already appears on line " +
                                          std::to_string(id_it->second));
      }
      auto [s_it, new_stream] = stream_index.emplace(l.stream_id, streams.size());
      if (new_stream) streams.push_back(std::move(l.stream_id));
      pending.push_back({s_it->second, std::move(l.event_id), std::move(l.type), std::move(l.data),
                         std::move(l.metadata)});
    }
    if (chunk.error) std::rethrow_exception(chunk.error);
  }

  ImportReport report;
  if (pending.empty()) return report;

  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    tx.exec("SELECT reproj.lock_appends()");

    // Current version of each stream named in the file, found with one join instead of a query each.
    tx.exec("CREATE TEMP TABLE reproj_import_streams (stream_id text PRIMARY KEY) ON COMMIT DROP");
    {
      detail::CopyWriter out{tx, "reproj_import_streams", {"stream_id"}};
      std::string row;
      for (const auto& s : streams) {
        row.clear();
        detail::append_copy_field(row, s);
        out.write_line(row);
      }
      out.complete();
    }
    std::vector<std::int64_t> next_version(streams.size(), 1);
    for (const auto& row : tx.exec(
             "SELECT s.stream_id, max(e.stream_version) FROM reproj_import_streams s "
             "JOIN reproj.events e ON e.stream_id = s.stream_id GROUP BY s.stream_id")) {
      next_version[stream_index.at(row[0].as<std::string>())] = row[1].as<std::int64_t>() + 1;
    }

    try {
      detail::CopyWriter out{tx, "reproj.events",
                             {"event_id", "stream_id", "stream_version", "event_type", "data", "metadata"}};
      std::string row;
      for (const auto& p : pending) {
        row.clear();
        detail::append_copy_field(row, p.event_id);
        row += '\t';
        detail::append_copy_field(row, streams[p.stream]);
        row += '\t';
        row += std::to_string(next_version[p.stream]++);
        row += '\t';
        detail::append_copy_field(row, p.type);
        row += '\t';
        detail::append_copy_field(row, p.data);
        row += '\t';
        detail::append_copy_field(row, p.metadata);
        out.write_line(row);
      }
      out.complete();
    } catch (const pqxx::unique_violation& e) {
      static const std::regex kKey{R"(\(event_id\)=\((.*)\) already exists)"};
      std::smatch m;
      const std::string msg = e.what();
      if (std::regex_search(msg, m, kKey) && id_line.count(m[1].str())) {
        throw InvalidInput("line " + std::to_string(id_line.at(m[1].str())) + ": event_id '" + m[1].str() +
                           "' is already in the log; nothing was imported");
      }
      throw InvalidInput("import conflicts with the log (" + msg + "); nothing was imported");
    } catch (const pqxx::data_exception& e) {
      throw InvalidInput(std::string{"import rejected by the database ("} + e.what() + "); nothing was imported");
    }
    report.events = static_cast<std::int64_t>(pending.size());
    report.last_position = log::safe_tail(tx);
    tx.commit();
    // Positions are contiguous: the append lock is held from before the first one was drawn.
    report.first_position = report.last_position - report.events + 1;
    return report;
  });
}

}  // namespace reproj::engine
