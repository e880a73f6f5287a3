#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "engine/errors.hpp"
#include "engine/event.hpp"

namespace reproj::engine::detail {

/// An event an applier skipped under the skip policy, not yet recorded.
struct SkippedEvent {
  std::int64_t position = 0;
  std::string event_id;
  std::string type;
  std::string error;
  SkippedEvent(const Event& e, const PoisonEvent& why)
      : position(e.global_position), event_id(e.event_id), type(e.type), error(why.what()) {}
};

/// Records `skipped` for (projection, version) inside `tx`, in one statement, with the applier's
/// rows and watermark. Re-recording an event (a resumed rebuild) keeps the first record.
void record_quarantine(pqxx::transaction_base& tx, const std::string& projection, int version,
                       const std::vector<SkippedEvent>& skipped, std::optional<std::int64_t> rebuild_id);

}  // namespace reproj::engine::detail
