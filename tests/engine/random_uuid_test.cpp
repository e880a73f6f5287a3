// Event ids the engine draws: RFC 4122 version 4 UUIDs in their canonical text.
#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "engine/event_store.hpp"

TEST(RandomUuid, IsAVersion4UuidInCanonicalTextAndNeverRepeats) {
  static const std::regex kUuid{"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  std::set<std::string> seen;
  for (int i = 0; i < 10'000; ++i) {
    const auto id = reproj::engine::random_uuid();
    ASSERT_TRUE(std::regex_match(id, kUuid)) << id;
    ASSERT_TRUE(seen.insert(id).second) << id;
  }
}
