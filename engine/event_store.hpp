#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "engine/event.hpp"

namespace pqxx {
class transaction_base;
}

namespace reproj::engine {

class ConnectionPool;

/// What an import did.
struct ImportReport {
  std::int64_t events = 0;
  std::int64_t first_position = 0;  // 0 when the file held no events
  std::int64_t last_position = 0;
};

/// The global event log (reproj.events). Thread-safe: each call leases its own connection.
///
/// Ordering guarantee: appends are serialized by a transaction-scoped advisory lock taken by a
/// trigger on every INSERT/COPY (migrations/0001_events.sql), so transactions commit in position
/// order and safe_tail() -- the highest visible position -- is final: no event at or below it can
/// still appear. Readers must never read past safe_tail().
/// What a browse of the log keeps (empty: any).
struct EventFilter {
  std::string stream_id;
  std::string type;
};

/// Whatever must commit with appended events (inline projections, engine/inline_projections.hpp):
/// called inside the append's or the import's transaction, holding the append lock, after the
/// events were written. Throwing refuses the whole append; nothing of it is written.
class AppendObserver {
 public:
  virtual ~AppendObserver() = default;
  /// False when appended() has nothing to do (no inline projection registered): it is not called.
  virtual bool active() const = 0;
  /// The events in [first, last] were just written by `tx`. `events`: those events as the log
  /// holds them, or null (an import: the observer reads them).
  virtual void appended(pqxx::transaction_base& tx, std::int64_t first, std::int64_t last,
                        const std::vector<Event>* events) = 0;
};

struct EventStoreOptions {
  // How long an append waits for the append lock (held by another append, a `reproj import` or a
  // raw SQL transaction) before it gives up with LockTimeout: a stuck writer makes appends fail
  // fast rather than pile up.
  std::chrono::milliseconds append_lock_timeout{5'000};
  // Called in every append's transaction (the composition root passes the inline projections).
  AppendObserver* observer = nullptr;
  // What import_ndjson may spend remembering each stream's next version, so that a chunk looks up
  // only streams the import has not written yet. Past it the memory is emptied and streams are
  // looked up in the log again (correct, slower). 256 MiB holds ~3.6M stream ids of ~12
  // characters (a generated 10M-event log has 3.2M streams).
  std::size_t import_version_cache_bytes = std::size_t{256} << 20;
};

class EventStore {
 public:
  explicit EventStore(ConnectionPool& pool, EventStoreOptions options = {}) : pool_(pool), options_(options) {}

  /// Appends `events` to `stream_id` atomically. Idempotent by event_id: re-appending events whose
  /// ids, stream, types and data all match returns the original positions with duplicate = true.
  /// Throws VersionConflict (with the actual version), EventIdConflict, InvalidInput (empty batch,
  /// empty ids or types), LockTimeout (the append lock, or an inline projection's, was not free
  /// within append_lock_timeout), DatabaseUnavailable, and what the observer throws
  /// (UniqueViolation, InlineProjectionStopped, InvalidInput).
  AppendResult append(const std::string& stream_id, const ExpectedVersion& expected,
                      const std::vector<NewEvent>& events);

  /// Appends each request as append() would, one after the other in the order given, in one
  /// transaction: one lock, one commit and one flush for all (group commit). Each request's answer
  /// is what append() would have answered for it alone after the requests before it (its version
  /// check, idempotency and conflicts see what they wrote; a refused request writes nothing and the
  /// others commit). A failure of the whole transaction (LockTimeout, DatabaseUnavailable) is every
  /// request's answer. Returns one outcome per request, in order; never throws.
  std::vector<AppendOutcome> append_group(const std::vector<AppendRequest>& requests);

  /// Whatever must commit with a group (a source's checkpoint and quarantine): called in the
  /// group's transaction, holding the append lock, after every request was decided and written
  /// and before COMMIT. `refused[i]` is why request i wrote nothing (null when it was appended or
  /// was a duplicate). Throwing rolls the whole group back (every request answers with it).
  using BeforeCommit = std::function<void(pqxx::transaction_base& tx, const std::vector<std::exception_ptr>& refused)>;
  /// append_group() with `before_commit` in its transaction, called even when every request was
  /// refused before the transaction began. Returns whether the group's transaction committed.
  bool append_group(const std::vector<AppendRequest>& requests, const BeforeCommit& before_commit,
                    std::vector<AppendOutcome>& outcomes);

  const EventStoreOptions& options() const { return options_; }

  /// The highest position below which no event can still appear (0 for an empty log).
  std::int64_t safe_tail();

  /// Events with after < global_position <= up_to, in order, at most `limit` of them. Never pass
  /// an `up_to` above a safe_tail() you read.
  std::vector<Event> read(std::int64_t after, std::int64_t up_to, std::size_t limit);
  /// A page for browsing the log: like read() up to the safe tail (read in the same statement),
  /// only events of one stream and/or of one type (an empty field does not filter; a type alone
  /// scans positions in order), and at most about `max_bytes` of data and metadata text -- always
  /// at least one event -- so large events cannot make one page cost gigabytes. Not for appliers.
  struct Page {
    std::vector<Event> events;
    std::int64_t tail = 0;   // the safe tail the page was read against
    bool exhausted = false;  // no further event of the filter lies in (after, tail]
  };
  Page read_page(std::int64_t after, std::size_t limit, std::size_t max_bytes, const EventFilter& filter);

  /// Imports NDJSON (one event a line: {"event_id"?, "stream_id", "type", "data", "metadata"?}) with
  /// COPY in one transaction: all or nothing. Stream versions continue each stream's current one.
  /// Throws InvalidInput naming the line number and the reason; nothing is imported then.
  ImportReport import_ndjson(std::istream& input);

 private:
  ConnectionPool& pool_;
  const EventStoreOptions options_;
};

/// Helpers for code that already holds a transaction (the read path, the rebuilder).
namespace log {
/// The one query for the safe tail (statements that read it with other things embed it).
inline constexpr const char* kSafeTailSql = "SELECT coalesce(max(global_position), 0) FROM reproj.events";
/// safe_tail() inside `tx` (its snapshot's view).
std::int64_t safe_tail(pqxx::transaction_base& tx);
/// Streams events in (after, up_to] (through COPY unless the range is short), in order, calling `sink` for each; at most
/// `limit` events. Returns the number read. The sink may move from the Event it is given.
std::size_t stream_events(pqxx::transaction_base& tx, std::int64_t after, std::int64_t up_to, std::size_t limit,
                          const std::function<void(Event&)>& sink, const EventExtras& extras = {});
}  // namespace log

/// The id of an event appended or imported without one: a version 7 UUID (RFC 9562) in canonical
/// text form, 48 bits of Unix milliseconds then 74 random bits. Ids drawn one after another sort
/// together, so their inserts into the log's unique index on event_id land on its last leaves
/// rather than on a random page each, which after every checkpoint costs a full-page image in the
/// WAL that the append's commit waits to flush (BENCH.md: "Time-ordered event ids").
std::string new_event_id();

}  // namespace reproj::engine
