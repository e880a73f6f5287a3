#pragma once
// One source's records into the log, a batch at a time, exactly once (docs/DESIGN.md, invariant 13):
// a batch is written with COPY under the append lock, inline projections folded (CopyBatchWriter),
// or, when that declines, through the append path, which answers record by record (a replay, a
// refusal); the source's checkpoint moves in that same transaction, only if it still is the
// checkpoint the batch was read after. Event ids derive from the records' coordinates, so even a
// replay past a lost checkpoint appends nothing twice.

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/event_copy_batch.hpp"
#include "sources/source_document.hpp"

namespace reproj::engine {
class ConnectionPool;
class EventStore;
}  // namespace reproj::engine

namespace reproj::sources {

class Ingester {
 public:
  /// Reads the source through its own connection; appends through `store`; reads and moves the
  /// checkpoint through `pool` (reproj's database, at `database_url`).
  Ingester(SourceDocument document, engine::EventStore& store, engine::ConnectionPool& pool,
           const std::string& database_url);

  struct Batch {
    std::size_t records = 0;      // read from the source (ingested + quarantined)
    std::size_t quarantined = 0;
    bool idle = false;            // paused, stopped, in a gap or deleted: nothing was read
    bool moved = false;           // another ingester moved the checkpoint first: nothing was written
    bool stopped = false;         // a bad record under the stop policy stopped the source
    std::int64_t position = 0;    // the checkpoint's position after the batch
  };

  /// Ingests one batch past the stored checkpoint (at most the document's batch size). Thread-safe:
  /// calls are serialized. Throws DatabaseUnavailable (reproj's database or the source's),
  /// InvalidSource (the source does not fit the document), LockTimeout (the append lock).
  Batch ingest_once();

  /// Read-your-writes: ingests what the source holds now, then returns. Waits (up to `wait`) for
  /// records that committed but that a transaction still open could precede. Throws SourceBehind
  /// past `max_records` records or the wait.
  void sync(std::size_t max_records, std::chrono::milliseconds wait);

  /// The source's tail now.
  std::int64_t tail();

  const SourceDocument& document() const { return document_; }

 private:
  Batch ingest_locked();
  // A batch read and made ready to write: its records mapped to append requests (a bad one
  // quarantined, or the batch cut before it under the stop policy) and rendered as COPY lines.
  struct Prepared {
    std::vector<SourceRecord> records;
    std::vector<engine::AppendRequest> requests;
    std::vector<std::size_t> record_of;                     // request -> record
    std::vector<std::pair<std::size_t, std::string>> bad;   // record, reason
    std::string stop_reason;                                // set: the source stops after these
    std::string stop_state = "stopped";                     // in this state: stopped (a bad record) or gap
    engine::CopyBatchWriter::Rendered rendered;
  };
  Prepared prepare(std::vector<SourceRecord> records) const;
  // The batch read ahead, if a read ahead was in flight and succeeded.
  struct Prefetched {
    nlohmann::json after;  // the checkpoint it read after
    Prepared batch;
  };
  std::optional<Prefetched> settle_ahead();

  const SourceDocument document_;
  engine::EventStore& store_;
  engine::ConnectionPool& pool_;
  std::mutex mutex_;
  std::unique_ptr<SourceReader> reader_;  // guarded by mutex_
  std::optional<nlohmann::json> committed_;  // the checkpoint this ingester's last batch committed; guarded by mutex_
  engine::CopyBatchWriter copies_;        // guarded by mutex_
  // The next batch, read and prepared while this one is written when this one was full (more are
  // waiting): the source's database and the log then work on two cores at once. The reader serves one caller at
  // a time, so anything else that uses it settles this first. Guarded by mutex_; last, so it is
  // waited for before the reader goes.
  std::optional<std::pair<nlohmann::json, std::future<Prepared>>> ahead_;
};

}  // namespace reproj::sources
