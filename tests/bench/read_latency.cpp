// Strong-read latency of the engine's read path (no HTTP, no worker): caught up, and with N
// events pending that the read must apply itself. Run by scripts/bench; prints, asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "engine/migrations.hpp"
#include "projections/all.hpp"
#include "tests/support/pg_fixture.hpp"
#include "tests/support/seed.hpp"

using namespace reproj;
using Clock = std::chrono::steady_clock;

int main() {
  test::TestDatabase db;
  engine::migrate(db.url());
  engine::ProjectionRegistry registry;
  projections::register_all(registry);
  engine::ConnectionPool pool{db.url(), 4};
  engine::EventStore store{pool};
  // The pending-events figures below apply up to 20,000 events in one read: above the server's
  // default bound (LiveOptions::max_read_apply), which exists for requests, not for this measurement.
  engine::LiveOptions options;
  options.max_read_apply = 1'000'000;
  engine::LiveProjections live{pool, registry, options};
  live.ensure("customers", 1);
  live.ensure("cars", 2);
  test::seed_events(store, 20'000);
  live.get("cars", "car-100-1", {});
  live.get("customers", "x", {});

  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::vector<double> caught_up;
  for (int i = 0; i < 2000; ++i) {
    const auto t0 = Clock::now();
    live.get("cars", "car-100-" + std::to_string(i % 500), {});
    caught_up.push_back(ms(Clock::now() - t0));
  }
  std::sort(caught_up.begin(), caught_up.end());
  std::printf("strong read caught up: p50 %.3f ms, p99 %.3f ms (2000 reads)\n", caught_up[1000], caught_up[1980]);

  unsigned seed = 100;
  for (int behind : {1, 100, 10'000}) {
    std::vector<double> samples;
    for (int rep = 0; rep < 5; ++rep) {
      test::seed_events(store, behind, 8, ++seed);
      const auto t0 = Clock::now();
      auto r = live.get("cars", "car-100-1", {});
      samples.push_back(ms(Clock::now() - t0));
      live.get("customers", "x", {});  // keep the other projection caught up too
      if (r.watermark != store.safe_tail()) std::printf("  (unexpected position %lld)\n", static_cast<long long>(r.watermark));
    }
    std::sort(samples.begin(), samples.end());
    std::printf("strong read %5d events behind: median %.2f ms (min %.2f, max %.2f, 5 runs)\n", behind, samples[2],
                samples[0], samples[4]);
  }
  return 0;
}
