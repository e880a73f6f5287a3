#pragma once
// Inline projections (ProjectionMode::kInline): folded inside every append's transaction, so their
// rows, their watermark and their unique rules' verdict commit with the events or not at all
// (docs/DESIGN.md, invariant 9). Async projections are untouched by this path.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"

namespace reproj::engine {

/// The AppendObserver the composition root gives the EventStore. Thread-safe.
///
/// For each projection whose live version is inline, in name order (two appends lock them in the
/// same order): takes the metadata row lock -- the one door every applier, read and swap goes
/// through -- so a concurrent promote is seen entirely or not at all; applies the events that
/// bypassed appends (raw SQL) under the projection's poison policy; then the append's own events,
/// where a unique clash throws UniqueViolation and an event the projection cannot fold throws
/// InvalidInput (both refuse the append); and moves the watermark to the append's last event.
/// A projection stopped at a poison event refuses appends (InlineProjectionStopped).
class InlineProjections final : public AppendObserver {
 public:
  explicit InlineProjections(LiveProjections& live) : live_(live) {}

  bool active() const override { return !candidates()->empty(); }
  void appended(pqxx::transaction_base& tx, std::int64_t first, std::int64_t last,
                const std::vector<Event>* events) override;

 private:
  struct Candidate {
    std::string name;
    std::string versions;  // its inline versions, as an SQL array literal: "{1,3}"
  };
  // Projections with an inline version registered, by name; collected anew when the registry grew.
  std::shared_ptr<const std::vector<Candidate>> candidates() const;

  LiveProjections& live_;
  mutable std::mutex mutex_;
  mutable std::uint64_t generation_ = 0;
  mutable std::shared_ptr<const std::vector<Candidate>> names_;
};

}  // namespace reproj::engine
