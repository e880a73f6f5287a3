#pragma once
// One line of an import file (`reproj import`): parsed, checked and escaped as a COPY row.

#include <cstddef>
#include <memory>
#include <string>

#include "engine/errors.hpp"

namespace simdjson::dom {
class parser;
}

namespace reproj::engine::detail {

struct ImportLine {
  std::size_t line_no = 0;
  std::string stream_id;
  std::string event_id;  // the file's, or a fresh UUID
  // The COPY row but its last field, stream_version (known only in file order): escaped here, on
  // the parsing threads, so the one thread feeding COPY only appends a number.
  std::string copy_head;
};

InvalidInput import_error(std::size_t line_no, const std::string& why);

/// The full parser alone (nlohmann): what ImportLineParser::parse must agree with.
ImportLine parse_import_line_fully(const std::string& line, std::size_t line_no);

/// Parses lines on one thread. Parsing is most of the import's client work, and on 2 cores the
/// client shares the CPU with PostgreSQL's COPY: a line that is plainly fine takes a fast path
/// (simdjson); anything else -- an error to name, a \u0000, a number simdjson cannot hold -- the
/// full parser, so the answer and the stored event are the same either way.
class ImportLineParser {
 public:
  ImportLineParser();
  ~ImportLineParser();
  ImportLineParser(const ImportLineParser&) = delete;
  ImportLineParser& operator=(const ImportLineParser&) = delete;

  /// The line checked (every field but event_id uniqueness, which needs the whole file); throws
  /// import_error naming the line and the problem.
  ImportLine parse(const std::string& line, std::size_t line_no);

 private:
  bool parse_fast(const std::string& line, ImportLine& out);
  std::unique_ptr<simdjson::dom::parser> fast_;
};

}  // namespace reproj::engine::detail
