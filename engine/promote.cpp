#include "engine/detail/promote.hpp"

#include <chrono>
#include <limits>

#include <spdlog/spdlog.h>

#include "engine/detail/apply_range.hpp"
#include "engine/detail/projection_record.hpp"
#include "engine/detail/quarantine.hpp"
#include "engine/detail/rebuild_record.hpp"
#include "engine/detail/swap.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/event_store.hpp"

namespace reproj::engine::detail {

Promotion promote(pqxx::connection& conn, LiveProjections& live, const RebuildOptions& options, const RebuildInfo& info,
                  const Projection& version, const std::vector<std::string>& shadow, std::int64_t position) {
  using Clock = std::chrono::steady_clock;
  using Ms = std::chrono::duration<double, std::milli>;
  Promotion outcome = Promotion::kPromoted;
  retry_on_lock_timeout(options.swap_budget, "the swap of rebuild " + std::to_string(info.id), [&](std::int64_t attempt) {
    const auto t_swap = Clock::now();
    pqxx::work tx{conn};
    set_lock_timeout(tx, options.lock_timeout);
    if (!mark_promoting(tx, info.id)) {
      outcome = Promotion::kCancelled;
      return;
    }
    // Checked before the metadata row lock (readers queue behind it); checked again under it
    // only if a rollback changed the live version meanwhile.
    const int expected_version =
        tx.exec_params1("SELECT active_version FROM reproj.projections WHERE name = $1", info.projection)[0].as<int>();
    prepare_swap(tx, live.registry().get(info.projection, expected_version), version, info.dependent_views);
    const auto meta = live.lock_metadata(tx, info.projection);
    const auto t_locked = Clock::now();
    // The last catch-up happens here, holding the metadata row lock that every live applier
    // and sync read takes: nothing can commit to P between "caught up" and the swap, so no
    // event falls between the two versions.
    const std::int64_t tail = log::safe_tail(tx);
    auto applied = apply_range(tx, version, shadow, position, tail, std::numeric_limits<std::size_t>::max(),
                               live.options().chunk_events, meta.poison_policy, OnClash::kThrow);
    record_quarantine(tx, info.projection, info.version, applied.skipped, info.id);
    if (options.fault) options.fault("promote", attempt);
    const Projection& old = live.registry().get(info.projection, meta.active_version);
    if (meta.active_version != expected_version) check_dependents(tx, old, version, info.dependent_views);
    swap_tables(tx, old, table_names(old, TableKind::kRetired, info.id), version, shadow, info.dependent_views);
    make_live(tx, info.projection, info.version, tail);
    mark_done(tx, info.id,
              {.position = tail,
               .events = applied.events,
               .retired_version = meta.active_version,
               .retired_position = meta.watermark,
               .skipped = static_cast<std::int64_t>(applied.skipped.size())});
    tx.commit();
    spdlog::info("rebuild {} promoted {} version {} at position {} (attempt {}, {} events under the lock, {:.1f} ms; "
                 "{:.1f} ms in all)",
                 info.id, info.projection, info.version, tail, attempt, applied.events, Ms(Clock::now() - t_locked).count(),
                 Ms(Clock::now() - t_swap).count());
  });
  return outcome;
}

}  // namespace reproj::engine::detail
