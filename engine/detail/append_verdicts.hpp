#pragma once
// The verdicts of a group of appends (EventStore::append_group), decided in arrival order so that
// each request gets the answer it would have got alone (docs/DESIGN.md, invariant 11): its version check and
// its idempotency see the log as the requests before it in the group left it. Pure C++: the caller
// reads what the log held before the group (under the append lock) and writes what is planned here.

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/event.hpp"

namespace reproj::engine::detail {

/// An event of the log whose id a request of the group gives.
struct StoredEvent {
  std::int64_t position = 0;
  std::string stream_id;
  std::string type;
  nlohmann::json data;
};

/// A request of the group, checked, every event with its id (given or generated).
struct CheckedRequest {
  std::size_t index = 0;  // into the group's requests
  const AppendRequest* request = nullptr;
  std::vector<std::string> ids;
  bool client_ids = false;  // some id was given by the client (only those can exist already)
};

/// One event the group writes, in the order the group writes them.
struct PlannedEvent {
  std::size_t request = 0;  // CheckedRequest::index
  const NewEvent* event = nullptr;
  const std::string* event_id = nullptr;
  const std::string* stream_id = nullptr;
  std::int64_t stream_version = 0;
};

/// What decide() made of one request.
struct Verdict {
  bool duplicate = false;  // an idempotent re-append: nothing to write, result below
  AppendResult result;     // next_expected_version always; positions of a duplicate (see resolve())
  std::int64_t version_before = 0;  // a write: the stream's version it continues
  // The first and last event of the answer: > 0 a position in the log, < 0 -(n + 1) for the n-th
  // event this group writes (its position known once written).
  std::int64_t first_ref = 0, last_ref = 0;
};

class GroupVerdicts {
 public:
  /// `versions`: each stream's version before the group (streams absent are at 0). `stored`: events
  /// of the log by id, for the ids the requests give.
  GroupVerdicts(std::unordered_map<std::string, std::int64_t> versions,
                std::unordered_map<std::string, StoredEvent> stored)
      : versions_(std::move(versions)), stored_(std::move(stored)) {}

  /// The verdict on `r` after every request accepted before it. Throws VersionConflict or
  /// EventIdConflict as a lone append would. Changes nothing: accept() a write to make it count.
  Verdict decide(const CheckedRequest& r) const;
  /// `r`, decided a write by `v`, is written: its events take the next places of planned() (`v`
  /// refers to them), and the requests decided after it see them.
  void accept(const CheckedRequest& r, Verdict& v);

  /// Takes back the last accept(r, v): its write was refused, the requests after it do not see it.
  void undo(const CheckedRequest& r, const Verdict& v);

  /// Every accepted event, in order.
  const std::vector<PlannedEvent>& planned() const { return planned_; }
  /// The n-th planned event was written at `position`.
  void set_position(std::size_t n, std::int64_t position);
  /// `v`'s answer with its positions filled in (every event it refers to written and set).
  AppendResult resolve(const Verdict& v) const;

 private:
  struct Known {  // an id the group wrote
    std::size_t planned = 0;
    const std::string* stream_id = nullptr;
    const NewEvent* event = nullptr;
  };
  std::int64_t version(const std::string& stream_id) const;

  std::unordered_map<std::string, std::int64_t> versions_;
  const std::unordered_map<std::string, StoredEvent> stored_;
  std::unordered_map<std::string, Known> written_;  // by id
  std::vector<PlannedEvent> planned_;
  std::vector<std::int64_t> positions_;  // of planned_, 0 until set
};

}  // namespace reproj::engine::detail
