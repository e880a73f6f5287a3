#pragma once
// Every failure the engine reports, as a small closed set of exception types. The API maps each
// one to an HTTP status in exactly one place (api/errors.cpp); pqxx exceptions never leave engine/.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace reproj::engine {

/// Base of all engine errors.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Input that can never succeed as given (bad JSON, empty ids, bad import line, ...).
class InvalidInput : public Error {
 public:
  using Error::Error;
};

/// An append's expected version did not match the stream's actual version.
class VersionConflict : public Error {
 public:
  VersionConflict(std::string stream_id, std::int64_t actual_version, const std::string& expected)
      : Error("stream '" + stream_id + "' is at version " + std::to_string(actual_version) +
              ", expected " + expected),
        stream_id_(std::move(stream_id)),
        actual_version_(actual_version) {}
  const std::string& stream_id() const { return stream_id_; }
  std::int64_t actual_version() const { return actual_version_; }

 private:
  std::string stream_id_;
  std::int64_t actual_version_;
};

/// An event_id is already in the log with other content (stream, type or data).
class EventIdConflict : public Error {
 public:
  explicit EventIdConflict(std::string event_id)
      : Error("event_id '" + event_id + "' is already used by an event with other content"),
        event_id_(std::move(event_id)) {}
  const std::string& event_id() const { return event_id_; }

 private:
  std::string event_id_;
};

/// A stored migration file differs from the one already applied.
class MigrationChecksumMismatch : public Error {
 public:
  explicit MigrationChecksumMismatch(const std::string& file)
      : Error("migration " + file + " was edited after it was applied (checksum differs); "
              "add a new migration instead") {}
};

/// An event a projection handler cannot use. Nothing of the batch holding it is applied.
class PoisonEvent : public Error {
 public:
  PoisonEvent(std::int64_t global_position, std::string event_id, std::string type, std::string reason)
      : Error("poison event at position " + std::to_string(global_position) + " (event_id '" + event_id +
              "', type '" + type + "'): " + reason),
        global_position_(global_position) {}
  std::int64_t global_position() const { return global_position_; }

 private:
  std::int64_t global_position_;
};

/// An event to append lacks what a registered projection requires of its type (nothing written).
class InvalidEvent : public Error {
 public:
  InvalidEvent(std::size_t index, std::string event_type, std::string field, std::string expected,
               std::string projection, int version)
      : Error("events[" + std::to_string(index) + "] (type '" + event_type + "'): data." + field + " must be " +
              expected + ": projection " + projection + " version " + std::to_string(version) + " requires it"),
        index_(index),
        event_type_(std::move(event_type)),
        field_(std::move(field)),
        expected_(std::move(expected)),
        projection_(std::move(projection)),
        version_(version) {}
  std::size_t index() const { return index_; }
  const std::string& event_type() const { return event_type_; }
  const std::string& field() const { return field_; }
  const std::string& expected() const { return expected_; }
  const std::string& projection() const { return projection_; }
  int version() const { return version_; }

 private:
  std::size_t index_;
  std::string event_type_, field_, expected_, projection_;
  int version_;
};

/// A read asked for a position its projection is too far from to apply within one request (or
/// cannot reach: stopped at a poison event). Worth retrying once the catch-up worker moved on.
class ProjectionBehind : public Error {
 public:
  /// `readable_at`: the watermark from which a read could answer by applying the rest itself,
  /// when the catch-up worker is closing the gap; nullopt when waiting cannot help (a stop).
  ProjectionBehind(std::string projection, std::int64_t watermark, std::int64_t wanted, const std::string& why,
                   std::optional<std::int64_t> readable_at = std::nullopt)
      : Error("projection '" + projection + "' is at position " + std::to_string(watermark) + ", " +
              std::to_string(wanted - watermark) + " behind the position asked for (" + std::to_string(wanted) +
              "): " + why),
        projection_(std::move(projection)),
        watermark_(watermark),
        wanted_(wanted),
        readable_at_(readable_at) {}
  const std::string& projection() const { return projection_; }
  std::int64_t watermark() const { return watermark_; }
  std::int64_t wanted() const { return wanted_; }
  std::optional<std::int64_t> readable_at() const { return readable_at_; }

 private:
  std::string projection_;
  std::int64_t watermark_, wanted_;
  std::optional<std::int64_t> readable_at_;
};

/// A projection name or version that is not registered.
class UnknownProjection : public Error {
 public:
  using Error::Error;
};

/// A projection deployed new whose first build is not live yet: try again later (503).
class ProjectionBuilding : public Error {
 public:
  explicit ProjectionBuilding(const std::string& projection)
      : Error("projection '" + projection + "' is being built from the whole log; it serves once its first build is live") {}
};

/// Events that would make two rows of a projection share a unique value (TableSpec::unique).
/// From an append: refused whole, nothing written (409). From a rebuild: its report of the
/// history's duplicates (at most 20), and the rebuild fails.
class UniqueViolation : public Error {
 public:
  struct Clash {
    std::string table;
    std::vector<std::string> columns;
    std::string value_json;  // the shared value (an array for several columns), as JSON text
    std::string key;         // the row the event gave the value to
    std::int64_t position = 0;           // that event's
    std::string existing_key;            // the row holding the value already
    std::int64_t existing_position = 0;  // the event that gave it the value (0: before this fold)
  };
  UniqueViolation(std::string projection, std::vector<Clash> clashes)
      : Error(describe(projection, clashes)), projection_(std::move(projection)), clashes_(std::move(clashes)) {}
  const std::string& projection() const { return projection_; }
  const std::vector<Clash>& clashes() const { return clashes_; }  // never empty

 private:
  static std::string describe(const std::string& projection, const std::vector<Clash>& clashes) {
    const Clash& c = clashes.at(0);
    std::string columns;
    for (const auto& col : c.columns) columns += (columns.empty() ? "" : ", ") + col;
    std::string out = "unique rule (" + columns + ") of " + projection + "." + c.table + ": value " + c.value_json +
                      " is held by '" + c.existing_key + "'";
    if (clashes.size() > 1) out += " (and " + std::to_string(clashes.size() - 1) + " more duplicates)";
    return out;
  }
  std::string projection_;
  std::vector<Clash> clashes_;
};

/// An inline projection stopped at a poison event (stop policy): appends cannot commit with it
/// until its policy is skip or a rebuild replaces it (503).
class InlineProjectionStopped : public Error {
 public:
  InlineProjectionStopped(const std::string& projection, const std::string& error)
      : Error("inline projection '" + projection + "' stopped at a poison event, so appends cannot commit with it (" +
              error + "); set its poison policy to skip or rebuild it"),
        projection_(projection) {}
  const std::string& projection() const { return projection_; }

 private:
  std::string projection_;
};

/// A spec document that does not parse or check (422): every problem, each with its JSON pointer.
class InvalidSpec : public Error {
 public:
  struct Problem {
    std::string path;
    std::string message;
  };
  InvalidSpec(std::string message, std::vector<Problem> problems) : Error(std::move(message)), problems_(std::move(problems)) {}
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

/// A source document that does not parse or check (422 invalid_source): every problem, each with
/// its JSON pointer, as for specs.
class InvalidSource : public Error {
 public:
  using Problem = InvalidSpec::Problem;
  explicit InvalidSource(std::vector<Problem> problems)
      : Error(count(problems.size())), problems_(std::move(problems)) {}
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  static std::string count(std::size_t n) {
    return "the source document has " + std::to_string(n) + (n == 1 ? " problem" : " problems");
  }
  std::vector<Problem> problems_;
};

/// A strong read of a sync_reads source could not ingest what the source held at the request
/// within its bound (503 source_behind with Retry-After).
class SourceBehind : public Error {
 public:
  SourceBehind(std::string source, std::int64_t lag, const std::string& why)
      : Error("source '" + source + "' is " + std::to_string(lag) + " records behind: " + why),
        source_(std::move(source)),
        lag_(lag) {}
  const std::string& source() const { return source_; }
  std::int64_t lag() const { return lag_; }

 private:
  std::string source_;
  std::int64_t lag_;
};

/// Something asked for by id that does not exist (a rebuild id).
class NotFound : public Error {
 public:
  using Error::Error;
};

/// A history read (as_of, /history) of a projection whose live version keeps no history.
class HistoryNotKept : public Error {
 public:
  using Error::Error;
};

/// A history read before what the retention keeps (TableSpec::history): the oldest position
/// readable is `horizon`.
class HistoryPruned : public Error {
 public:
  HistoryPruned(const std::string& message, std::int64_t horizon) : Error(message), horizon_(horizon) {}
  std::int64_t horizon() const { return horizon_; }

 private:
  std::int64_t horizon_;
};

/// A lock could not be taken within its bounded wait.
class LockTimeout : public Error {
 public:
  using Error::Error;
};

/// PostgreSQL cancelled the statement (statement_timeout, pg_cancel_backend: SQLSTATE 57014).
/// Nothing of it was kept; worth retrying.
class Interrupted : public Error {
 public:
  using Error::Error;
};

/// The database could not be reached or the connection broke; worth retrying later.
class DatabaseUnavailable : public Error {
 public:
  using Error::Error;
};

/// The database is reached in a way reproj cannot run on (e.g. through a transaction pooler).
class UnsupportedDeployment : public Error {
 public:
  using Error::Error;
};

/// A request that conflicts with the current state (e.g. a rebuild already running).
class StateConflict : public Error {
 public:
  StateConflict(const std::string& what, std::optional<std::int64_t> holder = std::nullopt)
      : Error(what), holder_(holder) {}
  std::optional<std::int64_t> holder() const { return holder_; }

 private:
  std::optional<std::int64_t> holder_;
};

/// A swap would break objects of users that depend on a live projection table (a view using a
/// column the new version drops or retypes, a foreign key to it, ...). Nothing was changed.
class IncompatibleDependents : public Error {
 public:
  struct Dependent {
    std::string kind;    // view, materialized view, policy, trigger, foreign key, publication
    std::string object;  // e.g. public.sold_cars
    std::string detail;  // what breaks
  };
  explicit IncompatibleDependents(std::vector<Dependent> dependents, const std::string& hint = "")
      : Error(describe(dependents) + hint), dependents_(std::move(dependents)) {}
  const std::vector<Dependent>& dependents() const { return dependents_; }

 private:
  static std::string describe(const std::vector<Dependent>& dependents) {
    std::string out;
    for (const auto& d : dependents) {
      out += (out.empty() ? "" : "; ") + (d.object.empty() ? d.detail : d.kind + " " + d.object + " " + d.detail);
    }
    return out;
  }
  std::vector<Dependent> dependents_;
};

}  // namespace reproj::engine
