// EventStore::import_ndjson: a whole NDJSON file parsed on every core, numbered per stream and
// written with one COPY in one transaction.
#include <algorithm>
#include <charconv>
#include <exception>
#include <future>
#include <regex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/copy_writer.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"

namespace reproj::engine {

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
    const std::int64_t tail_before = log::safe_tail(tx);

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
