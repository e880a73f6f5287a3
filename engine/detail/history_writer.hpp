#pragma once
// A replay's history, written while the fold goes on. A history holds about a version per event,
// so written at the checkpoint its COPY followed the fold: at 1M events the last checkpoint of a
// rebuild keeping history took 4.3 s against 0.7 s without (BENCH.md "Time travel"). This writer
// appends each folded batch's versions on a connection and thread of its own, so PostgreSQL parses
// them on one core while the fold runs on the other; the checkpoint first waits for it (drain).
// Each batch commits by itself, so versions past the last checkpoint may be in the shadow's
// history when a rebuild dies: a resume deletes them first (trim_history), and the history still
// equals the fold up to the checkpoint (docs/DESIGN.md invariant 14). At the end of the replay the
// same session builds the history's key (build_key) while the checkpoint writes the rows: the key
// of a history is the longest index build of the shadow, and it needs nothing the rows hold.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "engine/projection.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine::detail {

class HistoryWriter {
 public:
  /// Writes to the history tables among `names` (a table_names() list of the shadow).
  HistoryWriter(const std::string& database_url, const std::string& application_name, const Projection& projection,
                std::vector<std::string> names);
  /// Stops, cancelling a statement under way; what is queued is dropped (the rebuild stops too, or
  /// resumes from its checkpoint).
  ~HistoryWriter();
  HistoryWriter(const HistoryWriter&) = delete;
  HistoryWriter& operator=(const HistoryWriter&) = delete;

  /// Queues versions for the thread. Throws the thread's first error.
  void push(std::vector<RowVersion> versions);
  /// Runs `statements` (each by itself, no transaction: the history's key build,
  /// shadow_tables.hpp history_key_build) after what is queued.
  void build_key(std::vector<std::string> statements);
  /// Waits until everything pushed is committed and every statement run. Throws the thread's
  /// first error.
  void drain();

 private:
  void run();

  const Projection& projection_;
  const std::vector<std::string> names_;
  std::unique_ptr<pqxx::connection> conn_;
  std::mutex mutex_;
  std::condition_variable changed_;
  struct Job {
    std::vector<RowVersion> versions;
    std::vector<std::string> statements;
  };
  std::deque<Job> queue_;
  bool writing_ = false;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

/// Deletes the versions past `position` from the history tables among `names`.
void trim_history(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& names,
                  std::int64_t position);

}  // namespace reproj::engine::detail
