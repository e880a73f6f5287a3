#pragma once
// A migrated database with the projections registered and set up at chosen versions.

#include <memory>

#include "engine/event_store.hpp"
#include "engine/live_projections.hpp"
#include "engine/registry.hpp"
#include "projections/all.hpp"
#include "tests/support/pg_fixture.hpp"

namespace reproj::test {

/// Builds an event the way the tests write them.
inline engine::NewEvent event(std::string id, std::string type, nlohmann::json data) {
  return engine::NewEvent{std::move(id), std::move(type), std::move(data), nlohmann::json::object()};
}

class LiveTest : public PgTest {
 protected:
  void SetUpLive(int cars_version) {
    PgTest::SetUp();
    projections::register_all(registry_);
    store_ = std::make_unique<engine::EventStore>(*pool_);
    live_ = std::make_unique<engine::LiveProjections>(*pool_, registry_);
    live_->ensure("customers", 1);
    live_->ensure("cars", cars_version);
  }
  void SetUp() override { SetUpLive(2); }
  std::int64_t append(const std::string& stream, std::vector<engine::NewEvent> events) {
    return store_->append(stream, engine::ExpectedVersion::any(), events).last_position;
  }

  engine::ProjectionRegistry registry_;
  std::unique_ptr<engine::EventStore> store_;
  std::unique_ptr<engine::LiveProjections> live_;
};

}  // namespace reproj::test
