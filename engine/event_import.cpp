// EventStore::import_ndjson: an NDJSON file read, parsed on every core, numbered per stream and
// written with COPY a chunk at a time, in one transaction: memory holds two chunks, whatever the
// file's size, and a bad line anywhere imports nothing.
#include <algorithm>
#include <charconv>
#include <exception>
#include <future>
#include <optional>
#include <pqxx/pqxx>
#include <regex>
#include <thread>

#include <absl/container/flat_hash_map.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/copy_writer.hpp"
#include "engine/detail/import_line.hpp"
#include "engine/detail/stream_versions.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"

namespace reproj::engine {

namespace {

using detail::import_error;
using detail::ImportLine;

// A chunk's lines parsed in order until the first bad one, whose error is kept.
struct ParsedChunk {
  std::vector<ImportLine> lines;
  std::exception_ptr error;
};

// Lines per chunk: the file is read, parsed and written a chunk at a time, so memory holds two
// chunks (one parsed while the other is written) whatever the file's size.
constexpr std::size_t kChunkLines = 65'536;

// Reads the next chunk of non-blank lines and parses it on every core. `blanks` gets, for each
// blank line, how many events came before it (line numbers from positions, for error messages).
ParsedChunk read_chunk(std::istream& input, std::size_t& line_no, std::vector<std::size_t>& blanks,
                       std::size_t& events_read) {
  std::vector<std::pair<std::size_t, std::string>> raw;
  raw.reserve(kChunkLines);
  std::string line;
  while (raw.size() < kChunkLines && std::getline(input, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      blanks.push_back(events_read + raw.size());
      continue;
    }
    raw.emplace_back(line_no, std::move(line));
  }
  if (input.bad()) throw InvalidInput("cannot read the import file");
  events_read += raw.size();
  // Parsing (JSON in, canonical JSON out) is most of the client's work: contiguous slices on
  // every core.
  const std::size_t workers = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
  const std::size_t per_slice = std::max<std::size_t>(1, (raw.size() + workers - 1) / workers);
  std::vector<std::future<ParsedChunk>> slices;
  for (std::size_t begin = 0; begin < raw.size(); begin += per_slice) {
    const std::size_t end = std::min(raw.size(), begin + per_slice);
    slices.push_back(std::async(std::launch::async, [&raw, begin, end] {
      ParsedChunk out;
      out.lines.reserve(end - begin);
      detail::ImportLineParser parser;
      for (std::size_t i = begin; i < end; ++i) {
        try {
          out.lines.push_back(parser.parse(raw[i].second, raw[i].first));
        } catch (...) {
          out.error = std::current_exception();
          break;
        }
      }
      return out;
    }));
  }
  ParsedChunk chunk;
  chunk.lines.reserve(raw.size());
  for (auto& f : slices) {
    auto slice = f.get();  // every slice done before anything is returned or thrown
    if (chunk.error) continue;
    for (auto& l : slice.lines) chunk.lines.push_back(std::move(l));
    chunk.error = slice.error;
  }
  return chunk;
}

// Writes lines [0, n) to the log, each stream's versions continuing the log's (earlier chunks
// included: they are in this transaction). Returns the event_id of a line whose id the log holds
// already -- from before the import or from an earlier chunk -- and then writes none of them.
std::optional<std::string> write_chunk(pqxx::work& tx, const std::vector<ImportLine>& lines, std::size_t n,
                                       detail::StreamVersions& versions) {
  if (n == 0) return std::nullopt;
  std::size_t id_bytes = 0;
  for (std::size_t i = 0; i < n; ++i) id_bytes += lines[i].stream_id.size();
  versions.make_room(n, id_bytes);
  // Streams this import has not written yet start at 1, unless the log has events of theirs: looked
  // up (one COPY and one statement for the chunk) unless the log was empty.
  std::vector<std::string_view> unknown;
  for (std::size_t i = 0; i < n; ++i) {
    if (versions.add(lines[i].stream_id)) unknown.push_back(lines[i].stream_id);
  }
  if (!unknown.empty()) {
    tx.exec0("TRUNCATE reproj_import_streams");
    {
      detail::CopyWriter out{tx, "reproj_import_streams", {"stream_id"}};
      std::string row;
      for (const auto stream : unknown) {
        row.clear();
        detail::append_copy_field(row, stream);
        out.write_line(row);
      }
      out.complete();
    }
    // Per stream from the (stream_id, stream_version) index: a join would scan the log.
    for (const auto& row : tx.exec("SELECT s.stream_id, v.n FROM reproj_import_streams s, LATERAL (SELECT max("
                                   "e.stream_version) AS n FROM reproj.events e WHERE e.stream_id = s.stream_id) v "
                                   "WHERE v.n IS NOT NULL")) {
      versions.of(row[0].as<std::string>()) = row[1].as<std::int64_t>() + 1;
    }
  }
  tx.exec0("SAVEPOINT reproj_import_chunk");
  try {
    detail::CopyWriter out{
        tx, "reproj.events", {"event_id", "stream_id", "event_type", "data", "metadata", "stream_version"}};
    std::string row;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& l = lines[i];
      row = l.copy_head;
      row += std::to_string(versions.of(l.stream_id)++);
      out.write_line(row);
    }
    out.complete();
  } catch (const pqxx::unique_violation& e) {
    static const std::regex kKey{R"(\(event_id\)=\((.*)\) already exists)"};
    std::smatch m;
    const std::string msg = e.what();
    if (!std::regex_search(msg, m, kKey)) {
      throw InvalidInput("import conflicts with the log (" + msg + "); nothing was imported");
    }
    tx.exec0("ROLLBACK TO SAVEPOINT reproj_import_chunk");  // so the caller can look the id up
    return m[1].str();
  } catch (const pqxx::data_exception& e) {
    throw InvalidInput(std::string{"import rejected by the database ("} + e.what() + "); nothing was imported");
  }
  tx.exec0("RELEASE SAVEPOINT reproj_import_chunk");
  return std::nullopt;
}

}  // namespace

ImportReport EventStore::import_ndjson(std::istream& input) {
  std::size_t line_no = 0, events_read = 0;
  std::vector<std::size_t> blanks;  // per blank line: the events before it
  // The line of the n-th event (0-based) of the file.
  const auto line_of = [&](std::size_t n) {
    return n + 1 + static_cast<std::size_t>(std::upper_bound(blanks.begin(), blanks.end(), n) - blanks.begin());
  };
  ParsedChunk chunk = read_chunk(input, line_no, blanks, events_read);
  ImportReport report;
  if (chunk.lines.empty() && !chunk.error) return report;

  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    tx.exec("SELECT reproj.lock_appends()");
    const std::int64_t tail_before = log::safe_tail(tx);
    tx.exec("CREATE TEMP TABLE reproj_import_streams (stream_id text PRIMARY KEY) ON COMMIT DROP");
    detail::StreamVersions versions{options_.import_version_cache_bytes, tail_before == 0};
    std::int64_t written = 0;
    while (true) {
      // The next chunk is read and parsed while this one is written.
      auto next = chunk.error || chunk.lines.size() < kChunkLines
                      ? std::future<ParsedChunk>{}
                      : std::async(std::launch::async, [&] { return read_chunk(input, line_no, blanks, events_read); });
      // Lines up to the chunk's first bad one -- a parse error or an id twice in the chunk -- are
      // written first: an id they share with an earlier chunk or the log is an earlier error.
      absl::flat_hash_map<std::string_view, std::size_t> id_line;
      id_line.reserve(chunk.lines.size());
      std::size_t good = 0;
      std::optional<InvalidInput> bad;
      for (; good < chunk.lines.size(); ++good) {
        const auto& l = chunk.lines[good];
        auto [it, fresh] = id_line.emplace(l.event_id, l.line_no);
        if (!fresh) {
          bad = import_error(l.line_no,
                             "event_id '" + l.event_id + "' already appears on line " + std::to_string(it->second));
          break;
        }
      }
      const auto taken = write_chunk(tx, chunk.lines, good, versions);
      if (next.valid()) next.wait();  // it writes `blanks`, which line_of reads
      if (taken) {
        // An earlier line of the file (positions are contiguous from the import's first) or the log.
        const auto r = tx.exec_params1(
            "SELECT e.global_position - (SELECT min(global_position) FROM reproj.events WHERE global_position > $2) "
            "FROM reproj.events e WHERE e.event_id = $1",
            *taken, tail_before);
        const auto here = id_line.at(*taken);
        const auto before = r[0].is_null() ? -1 : r[0].as<std::int64_t>();
        if (before >= 0) {
          throw import_error(here, "event_id '" + *taken + "' already appears on line " +
                                       std::to_string(line_of(static_cast<std::size_t>(before))));
        }
        throw import_error(here, "event_id '" + *taken + "' is already in the log");
      }
      written += static_cast<std::int64_t>(good);
      if (bad) throw *bad;
      if (chunk.error) std::rethrow_exception(chunk.error);
      if (!next.valid()) break;
      chunk = next.get();
    }
    report.events = written;
    report.last_position = log::safe_tail(tx);
    if (options_.observer && options_.observer->active()) {
      // The inline projections fold the file in this transaction too: all or nothing, also for
      // them (a unique rule the file breaks refuses the whole import).
      options_.observer->appended(tx, tail_before + 1, report.last_position, nullptr);
    }
    tx.commit();
    // Positions are contiguous: the append lock is held from before the first one was drawn.
    report.first_position = report.last_position - report.events + 1;
    return report;
  });
}

}  // namespace reproj::engine
