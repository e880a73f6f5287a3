// The import's memory of each stream's next version (engine/detail/stream_versions): what it holds
// within its bound, and that its estimate of its own size is not below the real table's.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/detail/stream_versions.hpp"
#include "engine/event_store.hpp"

using reproj::engine::EventStoreOptions;
using reproj::engine::detail::StreamVersions;

namespace {

std::string generated_stream(std::size_t i) {  // like `reproj generate`'s ids: car-3-41235
  return (i % 3 == 0 ? "cust-" : "car-") + std::to_string(i % 8) + "-" + std::to_string(i / 8);
}

}  // namespace

// A generated 10M-event log has 3.2M streams. The bound used to be checked against a wrong model of
// the table (capacities grown from 16, not absl's 2^k - 1): past ~1.95M streams it put the next
// growth at 274 MB against the 268 MB bound, so the memory emptied and every later chunk of such an
// import looked its new streams up in the log's index.
TEST(StreamVersions, HoldsTheStreamsOfATenMillionEventImportWithinTheDefaultBound) {
  const std::size_t bound = EventStoreOptions{}.import_version_cache_bytes;
  StreamVersions versions{bound, /*log_was_empty=*/true};
  constexpr std::size_t kStreams = 3'300'000, kChunk = 65'536;
  std::vector<std::string> chunk;
  for (std::size_t first = 0; first < kStreams; first += kChunk) {
    chunk.clear();
    std::size_t bytes = 0;
    for (std::size_t i = first; i < std::min(kStreams, first + kChunk); ++i) {
      chunk.push_back(generated_stream(i));
      bytes += chunk.back().size();
    }
    versions.make_room(chunk.size(), bytes);
    for (const auto& id : chunk) {
      ASSERT_FALSE(versions.add(id)) << "asked the log for " << id;
      ++versions.of(id);
    }
    ASSERT_FALSE(versions.emptied()) << "emptied at " << first << " streams";
  }
  EXPECT_LE(versions.held_bytes(), bound);
  EXPECT_EQ(versions.of(generated_stream(0)), 2);
  EXPECT_EQ(versions.of(generated_stream(kStreams - 1)), 2);
}

TEST(StreamVersions, ItsEstimateIsNotBelowWhatTheTableReallyHolds) {
  for (const std::size_t streams : {1UL, 6UL, 7UL, 8UL, 1'000UL, 57'344UL, 57'345UL, 100'000UL, 1'000'000UL}) {
    StreamVersions versions{~std::size_t{0}, true};
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < streams; ++i) {
      // Now and then an id too long to share a block.
      const auto id = i % 10'000 == 5 ? std::string(20'000, 'x') + std::to_string(i) : generated_stream(i);
      bytes += id.size();
      versions.add(id);
    }
    EXPECT_LE(versions.held_bytes(), StreamVersions::peak_bytes(streams, bytes)) << streams << " streams";
    EXPECT_GE(versions.held_bytes() * 2, StreamVersions::peak_bytes(streams, bytes)) << streams << " streams";
  }
}

TEST(StreamVersions, PastItsBoundItForgetsAndAsksTheLog) {
  StreamVersions versions{1, /*log_was_empty=*/true};
  versions.make_room(1, 5);
  EXPECT_TRUE(versions.emptied());
  EXPECT_TRUE(versions.add("car-1")) << "forgotten streams may have events: the log decides";
  versions.of("car-1") = 7;
  EXPECT_FALSE(versions.add("car-1")) << "within a chunk it is remembered";
  EXPECT_EQ(versions.of("car-1")++, 7);
  EXPECT_EQ(versions.of("car-1"), 8);
}

TEST(StreamVersions, AStreamInALogThatHadEventsIsAskedForOnce) {
  StreamVersions versions{std::size_t{64} << 20, /*log_was_empty=*/false};
  versions.make_room(2, 10);
  EXPECT_TRUE(versions.add("car-1"));
  EXPECT_FALSE(versions.add("car-1"));
  EXPECT_EQ(versions.of("car-1"), 1);
  EXPECT_FALSE(versions.emptied());
}
