#pragma once
// A migrated database with the projections registered and set up at chosen versions.

#include <memory>

#include <pqxx/pqxx>

#include "engine/event_store.hpp"
#include "engine/inline_projections.hpp"
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
    live_ = std::make_unique<engine::LiveProjections>(*pool_, registry_, live_options_);
    inline_ = std::make_unique<engine::InlineProjections>(*live_);  // as the composition root does
    store_options_.observer = inline_.get();
    store_ = std::make_unique<engine::EventStore>(*pool_, store_options_);
    live_->ensure("customers", 1);
    live_->ensure("cars", cars_version);
  }
  void SetUp() override { SetUpLive(2); }
  /// A new LiveProjections with live_options_, and what holds a reference to it (the inline
  /// projections the store calls in every append) made anew with it.
  void restart_live() {
    store_.reset();
    inline_.reset();
    live_ = std::make_unique<engine::LiveProjections>(*pool_, registry_, live_options_);
    inline_ = std::make_unique<engine::InlineProjections>(*live_);
    store_options_.observer = inline_.get();
    store_ = std::make_unique<engine::EventStore>(*pool_, store_options_);
  }
  std::int64_t append(const std::string& stream, std::vector<engine::NewEvent> events) {
    return store_->append(stream, engine::ExpectedVersion::any(), events).last_position;
  }

  // Inserted as an operator's script would: straight into the table, no API (and no check) between.
  void insert_raw(const std::string& event_id, const std::string& stream, int version, const std::string& type,
                  const std::string& data) {
    pqxx::connection c{db_->url()};
    pqxx::work tx{c};
    tx.exec_params("INSERT INTO reproj.events (event_id, stream_id, stream_version, event_type, data) "
                   "VALUES ($1, $2, $3, $4, $5::jsonb)",
                   event_id, stream, version, type, data);
    tx.commit();
  }

  engine::LiveOptions live_options_;         // set before SetUpLive
  engine::EventStoreOptions store_options_;  // set before SetUpLive
  engine::ProjectionRegistry registry_;
  std::unique_ptr<engine::LiveProjections> live_;
  std::unique_ptr<engine::InlineProjections> inline_;
  std::unique_ptr<engine::EventStore> store_;
};

}  // namespace reproj::test
