// The rebuild's fold alone: events of an import file (`reproj generate`) folded into an in-memory
// RowSet by a registered projection, no PostgreSQL. For profiling the fold (perf record) and
// comparing row layouts; prints, asserts nothing.
//   reproj_fold_throughput FILE [PROJECTION VERSION]
// REPROJ_FOLD_COLD=1 folds without RowSet::warm_ahead, as an A/B of it.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/registry.hpp"
#include "engine/row_set.hpp"
#include "projections/all.hpp"

using namespace reproj;
using Clock = std::chrono::steady_clock;

namespace {
// User CPU only: steadier than wall time on a shared machine (no preemption, no page zeroing).
double user_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec) + static_cast<double>(usage.ru_utime.tv_usec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [PROJECTION VERSION]\n", argv[0]);
    return 2;
  }
  engine::ProjectionRegistry registry;
  projections::register_all(registry);
  const auto& projection = registry.get(argc > 2 ? argv[2] : "cars", argc > 3 ? std::stoi(argv[3]) : 2);
  std::vector<engine::Event> events;
  std::ifstream in{argv[1]};
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    engine::Event e;
    e.global_position = static_cast<std::int64_t>(events.size()) + 1;
    e.event_id = "00000000-0000-0000-0000-" + std::to_string(100000000000 + e.global_position);
    e.stream_id = j.at("stream_id").get<std::string>();
    e.type = j.at("type").get<std::string>();
    e.data = j.at("data").dump();
    events.push_back(std::move(e));
  }
  engine::RowSet rows{projection.tables(), nullptr};
  const auto t0 = Clock::now();
  const double cpu0 = user_seconds();
  const bool warm = std::getenv("REPROJ_FOLD_COLD") == nullptr;  // A/B: the fold without warm_ahead
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (warm) rows.warm_ahead(events, i);
    projection.apply(events[i], rows);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = user_seconds() - cpu0;
  std::printf("fold %zu events in %.3f s (%.3f s user CPU): %.0f ns/event; rows", events.size(), seconds, cpu,
              seconds * 1e9 / static_cast<double>(events.size()));
  for (std::size_t t = 0; t < projection.tables().size(); ++t) std::printf(" %zu", rows.size(t));
  std::printf("\n");
  std::fflush(stdout);
  std::_Exit(0);  // the rows are not freed: that is not the fold
}
