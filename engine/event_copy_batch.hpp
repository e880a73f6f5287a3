#pragma once
// Batches of events from a source written with COPY: the import's path for batches that must each
// commit with something of their own (a source's checkpoint). The append path answers each request
// alone (versions, duplicates, refusals) and costs about 4x a COPY per event (BENCH.md, "Sources");
// a source's batch needs none of that unless something is wrong, so it is tried this way first.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/connection_pool.hpp"
#include "engine/event.hpp"
#include "engine/event_store.hpp"

namespace reproj::engine {

namespace detail {
class StreamVersions;
}

/// One writer of batches (one source's ingester). Not thread-safe.
class CopyBatchWriter {
 public:
  /// Each event of a batch as a COPY line but for its stream version (known only under the append
  /// lock), in order: rendered on another thread while the batch before is written.
  using Rendered = std::vector<std::string>;
  static Rendered render(const std::vector<AppendRequest>& requests);

  CopyBatchWriter(ConnectionPool& pool, const EventStoreOptions& options);
  ~CopyBatchWriter();
  CopyBatchWriter(const CopyBatchWriter&) = delete;
  CopyBatchWriter& operator=(const CopyBatchWriter&) = delete;

  /// In one transaction holding the append lock (waiting at most options.append_lock_timeout):
  /// appends every event of `requests` in order, each stream's versions continuing the log's,
  /// folds the options' inline projections over them, runs `before_commit` and commits. Every
  /// event must carry its id; every request expects any version.
  /// Returns false, having written nothing, when the batch needs the append path's answer per
  /// request: an event id the log holds already (a replay past a lost checkpoint), a value the log
  /// refuses, an event an inline projection refuses, the append lock busy. What `before_commit`
  /// throws rolls the batch back and propagates; so does DatabaseUnavailable.
  /// `rendered`: render(requests), or null to render here.
  bool write(const std::vector<AppendRequest>& requests, const Rendered* rendered,
             const std::function<void(pqxx::transaction_base&)>& before_commit);

 private:
  ConnectionPool& pool_;
  const EventStoreOptions options_;
  // Each stream's next version as this writer's last batch left the log. Trusted only while the
  // log's tail is still `left_at_` when the next batch holds the append lock (nobody wrote since);
  // then only streams it does not know are looked up -- none while the log held nothing but this
  // writer's events, as in a first ingest of a team's history.
  std::unique_ptr<detail::StreamVersions> versions_;
  std::int64_t left_at_ = -1;
};

}  // namespace reproj::engine
