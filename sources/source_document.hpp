#pragma once
// A source as a document: PUT /admin/sources/{name}. The members every kind shares are checked
// here; each kind checks its own (sources/postgres_table.hpp).

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/poison.hpp"
#include "sources/mapping.hpp"
#include "sources/source_reader.hpp"

namespace reproj::sources {

struct SourceDocument {
  std::string name;
  std::string kind;
  std::string text;           // as given
  nlohmann::json document;    // parsed
  Mapping mapping;
  enum class Start { kBeginning, kEnd } start = Start::kBeginning;
  bool sync_reads = false;
  engine::PoisonPolicy poison = engine::PoisonPolicy::kSkip;
  bool required_for_ready = false;
  std::size_t batch = 5000;   // records per ingesting transaction
  // Records gone from the source before they were ingested (a trimmed stream): "on_gap": "stop"
  // (state gap, naming the range) or "skip" (the gap quarantined, counted and logged). Kinds that
  // can lose records take the member; for the others it stays kStop and never happens.
  enum class OnGap { kStop, kSkip } on_gap = OnGap::kStop;
  // Where the source is: "url" as given, or the name of the environment variable ("url_env") or
  // file ("url_file") holding it, read when connecting so that it is never stored. None: reproj's
  // own database.
  std::string url, url_env, url_file;

  /// The connection URL now (reproj's own `database_url` when none is named). Throws
  /// InvalidSource when the variable or file named is missing.
  std::string resolve_url(const std::string& database_url) const;
  /// A reader for this document's kind.
  std::unique_ptr<SourceReader> reader(const std::string& database_url) const;
};

/// Parses and checks `text` as the document of source `name`. Throws InvalidSource with every
/// problem found (JSON pointers into the document).
SourceDocument parse_source(const std::string& name, std::string_view text);

}  // namespace reproj::sources
