#pragma once
// The reproj.rebuilds record: how a RebuildInfo is read from it, and every statement that writes it.
// Writers that move a running rebuild on check its state in the same statement and return false
// when it moved meanwhile (a cancel): the caller then stops without writing anything else.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/rebuild.hpp"

namespace reproj::engine::detail {

/// The states of a rebuild still running, as an SQL list.
inline constexpr const char* kRunningStates = "('replaying', 'catching_up', 'ready', 'promoting')";

/// "SELECT <what a RebuildInfo holds> FROM reproj.rebuilds " (with retired_position too): add the
/// WHERE and ORDER BY.
std::string select_rebuilds();
/// A row of select_rebuilds() as a RebuildInfo (eta_seconds derived from rate and target).
RebuildInfo rebuild_from_row(const pqxx::row& r);
/// Rebuild `id`, or nullopt.
std::optional<RebuildInfo> load_rebuild(pqxx::transaction_base& tx, std::int64_t id);

/// What a new rebuild records.
struct NewRebuild {
  std::string projection;
  int version = 0;
  std::int64_t target = 0;  // the safe tail when it started
  DependentViews views = DependentViews::kRefuse;
  int from_version = 0;
  PromoteMode promote = PromoteMode::kAuto;
  std::vector<std::string> expect_changes;
};
/// Inserts it (state replaying); returns its id. A second running rebuild of the same projection
/// breaks a unique index (pqxx::unique_violation).
std::int64_t insert_rebuild(pqxx::transaction_base& tx, const NewRebuild& r);
/// Running -> cancelled.
bool mark_cancelled(pqxx::transaction_base& tx, std::int64_t id);
/// An operator's ask of a ready rebuild, for its runner to act on.
enum class Ask { kPromote, kDiff };
bool record_ask(pqxx::transaction_base& tx, std::int64_t id, Ask ask);
/// The runner's asks as it last read them.
struct Asks {
  bool promote = false;
  bool diff = false;
  bool has_diff = false;
};
Asks read_asks(pqxx::transaction_base& tx, std::int64_t id);

/// A runner took the rebuild: names it, clears what it was waiting for.
void claim(pqxx::transaction_base& tx, std::int64_t id, const std::string& runner);
/// Rows the last checkpoint recorded in the shadow.
std::int64_t recorded_shadow_rows(pqxx::transaction_base& tx, std::int64_t id);
/// The shadow lost its rows (UNLOGGED, after a crash): replay from 0.
void restart_replay(pqxx::transaction_base& tx, std::int64_t id);
/// A runner resumed from checkpoint `position`.
void record_resume(pqxx::transaction_base& tx, std::int64_t id, std::int64_t position);

/// A checkpoint: the shadow holds the rows up to `position`.
struct Checkpoint {
  std::int64_t position = 0;
  std::int64_t events = 0;        // folded since the last one
  std::int64_t shadow_rows = 0;
  double events_per_second = 0;
  RebuildState state = RebuildState::kReplaying;  // the state it was written in (checked)
  bool to_catching_up = false;    // the replay ended and the shadow is indexed already
  std::int64_t skipped = 0;       // events quarantined since the last one
};
bool record_checkpoint(pqxx::transaction_base& tx, std::int64_t id, const Checkpoint& c);
/// replaying -> catching_up, once the shadow is indexed.
bool mark_catching_up(pqxx::transaction_base& tx, std::int64_t id);
/// running -> ready, with the diff's report; `gated`: it waits for a promote (unexpected changes).
bool mark_ready(pqxx::transaction_base& tx, std::int64_t id, const std::string& diff_report, bool gated);
/// running -> promoting (then done in the same transaction, or rolled back with it).
bool mark_promoting(pqxx::transaction_base& tx, std::int64_t id);
/// What the swap records.
struct Promoted {
  std::int64_t position = 0;  // the tail it promoted at
  std::int64_t events = 0;    // applied under the swap's lock
  int retired_version = 0;
  std::int64_t retired_position = 0;
  std::int64_t skipped = 0;
};
void mark_done(pqxx::transaction_base& tx, std::int64_t id, const Promoted& p);
/// running -> failed, with the error and any unique-rule clashes (JSON list).
bool mark_failed(pqxx::transaction_base& tx, std::int64_t id, const std::string& error,
                 const std::optional<std::string>& duplicates_json);
/// What a running rebuild waits for (shown in its status).
void record_waiting(pqxx::transaction_base& tx, std::int64_t id, const std::string& waiting);

/// Keeps the retired tables of only the `keep` latest rebuilds of `projection`.
void trim_retired(pqxx::transaction_base& tx, const std::string& projection, int keep);
/// A rollback swapped the retired version back: the one it replaced is now the retired one.
void record_rollback(pqxx::transaction_base& tx, std::int64_t id, int retired_version, std::int64_t retired_position);

}  // namespace reproj::engine::detail
