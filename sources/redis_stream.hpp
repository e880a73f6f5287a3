#pragma once
// Kind 2: one or more Redis streams ("kind": "redis_stream"), read with XREAD from the entry ids
// the checkpoint holds (no consumer group: the checkpoint lives in PostgreSQL, with the events).
//
// Order. Within a key, entry order. Across keys, by entry id (the time Redis gave each entry, then
// its sequence): a batch reads up to `batch` entries of every key and takes the lowest ids, so
// the order does not depend on batch boundaries. Ties between keys go to the key named first.
//
// Gaps. A trimmed (XTRIM, MAXLEN) or deleted (XDEL) entry past the checkpoint is gone before it
// was ingested. Each batch reads the entries and XINFO STREAM of every key in one MULTI, so they
// agree, and compares: the checkpoint counts the entries each key ever had up to its id (`n`), so
// more entries removed (entries-added - length) than that means a trim reached past it, and a
// max-deleted-entry-id past it means an XDEL did. Either is a record of its own, the gap, naming
// the range, which the Ingester answers by the document's "on_gap" (sources/source_document.hpp). Needs Redis 7 (those XINFO fields).

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sources/mapping.hpp"
#include "sources/source_reader.hpp"

namespace reproj::sources {

struct RedisStreamConfig {
  std::vector<std::string> streams;  // the keys, in the order ties go
};

/// The references of this kind: $field.NAME (the field's string), $json.NAME (the field parsed as
/// JSON), $id, $key and $record ({"key", "id", "fields"}).
std::vector<ReferenceRoot> redis_stream_references();

/// Checks the kind's members of `doc` (streams; a url is required), adding problems;
/// nullopt if any.
std::optional<RedisStreamConfig> parse_redis_stream(const nlohmann::json& doc, std::vector<Problem>& problems);

/// Reads the streams over one connection to `url` (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]).
/// `json_fields`: the fields the mapping reads with $json, parsed as each entry is read.
std::unique_ptr<SourceReader> redis_stream_reader(RedisStreamConfig config, std::string url, std::set<std::string> json_fields);

}  // namespace reproj::sources
