// Every registered projection declares exactly what its handlers require (issue 14): an event
// with the declared fields folds, and one lacking any of them throws PoisonEvent before the
// handler wrote anything -- what the skip policy relies on to leave the event out whole.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/errors.hpp"
#include "engine/registry.hpp"
#include "projections/all.hpp"

using namespace reproj;

namespace {

// Answers "absent" to every lookup and counts writes.
class CountingSink final : public engine::Sink {
 public:
  const engine::Row* find(std::size_t, const std::string&) override { return nullptr; }
  void put(std::size_t, engine::Row) override { ++writes; }
  void update(std::size_t, const std::string&, const std::function<engine::Row()>&,
              const std::function<void(engine::Row&)>&) override {
    ++writes;
  }
  void update_where(std::size_t, std::size_t, const std::string&, const std::function<void(engine::Row&)>&) override {
    ++writes;
  }
  void erase(std::size_t, const std::string&) override { ++writes; }
  int writes = 0;
};

nlohmann::json sample(engine::FieldType type) {
  switch (type) {
    case engine::FieldType::kString: return "x";
    case engine::FieldType::kBoolean: return true;
    case engine::FieldType::kInteger: return 7;
    case engine::FieldType::kNumber: return 1.5;
    case engine::FieldType::kObject: return nlohmann::json::object();
    case engine::FieldType::kArray: return nlohmann::json::array();
    case engine::FieldType::kPresent: return "present";
  }
  return nullptr;
}

engine::Event event(const std::string& type, const nlohmann::json& data) {
  engine::Event e;
  e.global_position = 9;
  e.event_id = "e9";
  e.stream_id = "s9";
  e.type = type;
  e.data = data.dump();
  return e;
}

}  // namespace

TEST(Requirements, DeclaredFieldsAreExactlyWhatTheHandlersNeed) {
  engine::ProjectionRegistry registry;
  projections::register_all(registry);
  const std::vector<std::string> types{"car.created", "car.repainted", "car.sold", "customer.created",
                                       "customer.renamed", "something.else"};
  for (const auto& name : registry.names()) {
    for (int version : registry.versions(name)) {
      const auto& p = registry.get(name, version);
      const auto needs = p.requirements();
      for (const auto& type : types) {
        const std::string where = name + " v" + std::to_string(version) + " " + type;
        nlohmann::json full = nlohmann::json::object();
        std::vector<std::string> fields;
        for (const auto& r : needs) {
          if (r.event_type != type) continue;
          full[r.field] = sample(r.type);
          fields.push_back(r.field);
        }
        CountingSink ok;
        EXPECT_NO_THROW(p.apply(event(type, full), ok)) << where << ": needs more than it declares";
        for (const auto& f : fields) {
          auto lacking = full;
          lacking.erase(f);
          CountingSink sink;
          EXPECT_THROW(p.apply(event(type, lacking), sink), engine::PoisonEvent) << where << " without " << f;
          EXPECT_EQ(sink.writes, 0) << where << ": wrote before throwing for missing " << f;
          lacking[f] = nlohmann::json::array({1});  // present, of the wrong type
          EXPECT_THROW(p.apply(event(type, lacking), sink), engine::PoisonEvent) << where << " with " << f << " mistyped";
        }
      }
    }
  }
}
