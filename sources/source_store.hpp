#pragma once
// The sources' rows (reproj.sources, reproj.source_quarantine): documents as operators put them,
// state and figures as ingesters report them. Any instance reads and writes them; only an
// ingesting transaction moves a checkpoint (sources/ingester.hpp). Thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sources/source_document.hpp"

namespace reproj::engine {
class ConnectionPool;
}

namespace reproj::sources {

/// GET /admin/sources/{name}, as one struct (api/json_mapping renders it).
struct SourceStatus {
  std::string name, kind;
  std::string state;  // catching_up | live | paused | reconnecting | stopped | gap
  std::optional<std::int64_t> checkpoint;  // the last ingested record's position; null before the first
  nlohmann::json checkpoint_detail;        // the kind's whole checkpoint ({"xid", "position"} for a table)
  std::int64_t tail = 0;
  std::int64_t lag = 0;  // tail - checkpoint, in positions
  double records_per_second = 0;
  std::optional<double> eta_seconds;
  std::int64_t ingested = 0, quarantined = 0;
  std::string last_error;
  bool paused = false, sync_reads = false, required_for_ready = false;
  std::string sha256;
  nlohmann::json document;  // as put, a password in "url" masked
};

struct QuarantinedRecord {
  std::string position, reason;
  nlohmann::json record;
  std::string quarantined_at;
};

/// A stored document, as instances learn it.
struct StoredSource {
  std::string name, text, sha256;
};

class SourceStore {
 public:
  explicit SourceStore(engine::ConnectionPool& pool) : pool_(pool) {}

  enum class Put { kCreated, kSame, kReplaced };
  /// Stores `d`: created, the same document again, or another one for a paused source (its
  /// checkpoint stays). Throws StateConflict for another document of a source that is not paused.
  Put put(const SourceDocument& d);
  std::vector<StoredSource> documents();
  std::vector<SourceStatus> statuses();
  std::optional<SourceStatus> status(const std::string& name);
  /// Pauses or resumes (a resume also restarts a stopped source). Throws NotFound.
  SourceStatus set_paused(const std::string& name, bool paused);
  /// False when there was no such source.
  bool remove(const std::string& name);
  /// Throws NotFound for an unknown source.
  std::vector<QuarantinedRecord> quarantine(const std::string& name, std::size_t limit);
  /// An ingester's state and figures; ignored while the source is paused, stopped or in a gap.
  void report(const std::string& name, const std::string& state, std::int64_t tail, double records_per_second,
              const std::string& last_error);

 private:
  engine::ConnectionPool& pool_;
};

}  // namespace reproj::sources
