#pragma once
// Every source on this instance: learns the documents from reproj.sources (so every instance knows
// them, as specs are learned), runs the ingester of each source whose lock it holds (one per
// source across instances; another instance takes over from the checkpoint when this one dies),
// and ingests for strong reads of sync_reads sources. Thread-safe.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/session_locks.hpp"
#include "sources/ingester.hpp"
#include "sources/source_store.hpp"

namespace reproj::engine {
class ConnectionPool;
class EventStore;
}  // namespace reproj::engine

namespace reproj::sources {

struct SourceManagerOptions {
  // How often documents are re-read from the database and free sources' locks tried (a dead
  // instance's sources are taken over within about this long).
  std::chrono::milliseconds supervise{500};
  // How long an ingester that found nothing waits before reading the source again.
  std::chrono::milliseconds poll{50};
  // A strong read of a sync_reads source ingests at most this many records itself, and waits at
  // most `sync_wait` for records held back by a transaction still open; past either, 503
  // source_behind.
  std::size_t sync_max_records = 10'000;
  std::chrono::milliseconds sync_wait{5000};
};

class SourceManager {
 public:
  SourceManager(engine::ConnectionPool& pool, engine::EventStore& store, std::string database_url,
                SourceManagerOptions options = {});
  ~SourceManager();
  SourceManager(const SourceManager&) = delete;
  SourceManager& operator=(const SourceManager&) = delete;

  /// Starts the supervisor (learning documents, taking locks, running ingesters). Without it the
  /// manager still answers admin calls and sync reads.
  void start();
  void stop();

  /// PUT /admin/sources/{name}: parses and checks `text` (InvalidSource), checks it against the
  /// source when that is reachable (InvalidSource for a missing table or column), stores it.
  SourceStore::Put put(const std::string& name, std::string_view text);
  SourceStore& store() { return store_; }

  /// Before a strong read: ingests what every sync_reads source holds now. Throws SourceBehind.
  void sync_for_read();
  /// Sources marked required_for_ready that are not live (readiness names them).
  std::vector<SourceStatus> required_not_live();

 private:
  struct Entry;
  void supervise(std::stop_token stop);
  void learn();
  void run(std::shared_ptr<Entry> entry, std::stop_token stop);

  engine::ConnectionPool& pool_;
  engine::EventStore& store_append_;
  const std::string database_url_;
  const SourceManagerOptions options_;
  SourceStore store_;
  engine::SessionLocks locks_;
  std::mutex mutex_;
  // State below is protected by mutex_: every source's document and ingester, by name.
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  bool any_sync_ = false;
  bool learned_ = false;  // the documents were read at least once
  std::jthread supervisor_;
};

}  // namespace reproj::sources
