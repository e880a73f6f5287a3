// Event ids the engine draws: RFC 9562 version 7 UUIDs in their canonical text, time-ordered.
#include <chrono>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "engine/event_store.hpp"

TEST(NewEventId, IsAVersion7UuidInCanonicalTextAndNeverRepeats) {
  static const std::regex kUuid{"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  std::set<std::string> seen;
  for (int i = 0; i < 10'000; ++i) {
    const auto id = reproj::engine::new_event_id();
    ASSERT_TRUE(std::regex_match(id, kUuid)) << id;
    ASSERT_TRUE(seen.insert(id).second) << id;
  }
}

TEST(NewEventId, StartsWithTheMillisecondItWasDrawnAndSortsByIt) {
  using namespace std::chrono;
  const auto now_ms = [] {
    return static_cast<unsigned long long>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  };
  const auto ms_of = [](const std::string& id) { return std::stoull(id.substr(0, 8) + id.substr(9, 4), nullptr, 16); };
  const auto before = now_ms();
  const auto first = reproj::engine::new_event_id();
  std::this_thread::sleep_for(milliseconds{2});
  const auto second = reproj::engine::new_event_id();
  const auto after = now_ms();
  EXPECT_GE(ms_of(first), before);
  EXPECT_LE(ms_of(second), after);
  EXPECT_LT(ms_of(first), ms_of(second));
  EXPECT_LT(first, second);  // as text too: the unique index's order
}
