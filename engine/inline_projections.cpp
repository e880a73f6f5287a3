#include "engine/inline_projections.hpp"

#include <limits>

#include <pqxx/pqxx>

#include "engine/detail/apply_range.hpp"
#include "engine/detail/connect.hpp"
#include "engine/detail/projection_record.hpp"
#include "engine/detail/quarantine.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

std::shared_ptr<const std::vector<InlineProjections::Candidate>> InlineProjections::candidates() const {
  const auto& registry = live_.registry();
  std::scoped_lock lock{mutex_};
  const auto generation = registry.generation();
  if (!names_ || generation != generation_) {
    auto names = std::make_shared<std::vector<Candidate>>();
    for (const auto& name : registry.names()) {  // sorted
      std::string versions;
      for (int v : registry.versions(name)) {
        if (registry.get(name, v).mode() == ProjectionMode::kInline) {
          versions += (versions.empty() ? "" : ",") + std::to_string(v);
        }
      }
      if (!versions.empty()) names->push_back({name, "{" + versions + "}"});
    }
    names_ = std::move(names);
    generation_ = generation;
  }
  return names_;
}

void InlineProjections::appended(pqxx::transaction_base& tx, std::int64_t first, std::int64_t last,
                                 const std::vector<Event>* events) {
  constexpr auto kAll = std::numeric_limits<std::size_t>::max();
  const auto chunk = live_.options().chunk_events;
  for (const auto& [name, versions] : *candidates()) {
    // The door and the watermark in one statement for the common case, a live, healthy inline
    // version; the watermark commits only with the rows written next. Otherwise (building,
    // stopped, another version live) look with the lock held.
    ProjectionStatus meta;
    if (auto advanced = detail::lock_and_advance(tx, name, last, versions)) {
      meta = std::move(*advanced);
    } else {
      meta = live_.lock_metadata(tx, name);  // held already: why did it not advance?
      if (meta.building) continue;  // its first build folds the whole log, these events included
      if (live_.registry().get(name, meta.active_version).mode() != ProjectionMode::kInline) continue;
      if (meta.failed) throw InlineProjectionStopped(name, meta.error);
      // A version registered after `versions` was collected: the same, in two statements.
      detail::advance_watermark(tx, name, last);
    }
    const Projection& p = live_.registry().get(name, meta.active_version);
    const auto physical = detail::table_names(p);
    std::vector<detail::SkippedEvent> skipped;
    if (meta.watermark < first - 1) {
      // Events that came in around the appends (raw SQL, an EventStore without this observer):
      // no check stopped them, so the projection's poison policy decides, as in a catch-up.
      try {
        auto before = detail::apply_range(tx, p, physical, meta.watermark, first - 1, kAll, chunk,
                                          meta.poison_policy, detail::OnClash::kPoison);
        skipped = std::move(before.skipped);
      } catch (const PoisonEvent& poison) {  // stop: the catch-up worker marks it failed there
        throw InlineProjectionStopped(name, poison.what());
      }
    }
    try {
      // The append's own events: a clash or an event the projection cannot use refuses the append.
      if (events) {
        detail::apply_events(tx, p, physical, *events, PoisonPolicy::kStop, detail::OnClash::kThrow);
      } else {
        detail::apply_range(tx, p, physical, first - 1, last, kAll, chunk, PoisonPolicy::kStop,
                            detail::OnClash::kThrow);
      }
    } catch (const PoisonEvent& poison) {
      throw InvalidInput("inline projection '" + name + "' cannot fold this append (" + poison.what() +
                         "); nothing was written");
    }
    detail::record_quarantine(tx, name, meta.active_version, skipped, std::nullopt);
  }
}

}  // namespace reproj::engine
