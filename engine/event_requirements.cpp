#include "engine/event_requirements.hpp"

#include "engine/errors.hpp"

namespace reproj::engine {

std::string_view to_string(FieldType type) {
  switch (type) {
    case FieldType::kString: return "a string";
    case FieldType::kBoolean: return "a boolean";
    case FieldType::kInteger: return "an integer";
    case FieldType::kNumber: return "a number";
    case FieldType::kObject: return "an object";
    case FieldType::kArray: return "an array";
    case FieldType::kPresent: return "present (not null)";
  }
  return "?";
}

namespace {
bool has_type(const nlohmann::json& v, FieldType type) {
  switch (type) {
    case FieldType::kString: return v.is_string();
    case FieldType::kBoolean: return v.is_boolean();
    case FieldType::kInteger: return v.is_number_integer();
    case FieldType::kNumber: return v.is_number();
    case FieldType::kObject: return v.is_object();
    case FieldType::kArray: return v.is_array();
    case FieldType::kPresent: return !v.is_null();
  }
  return false;
}
}  // namespace

EventRequirements::EventRequirements(const ProjectionRegistry& registry) : registry_(registry) {}

std::shared_ptr<const EventRequirements::ByType> EventRequirements::current() const {
  std::scoped_lock lock{mutex_};
  const auto generation = registry_.generation();
  if (by_type_ && generation == generation_) return by_type_;
  auto by_type = std::make_shared<ByType>();
  for (const auto& name : registry_.names()) {
    for (int version : registry_.versions(name)) {
      for (const auto& r : registry_.get(name, version).requirements()) {
        (*by_type)[r.event_type].push_back({r.field, r.type, name, version});
      }
    }
  }
  generation_ = generation;
  by_type_ = std::move(by_type);
  return by_type_;
}

void EventRequirements::check(const std::vector<NewEvent>& events) const {
  const auto by_type = current();
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto it = by_type->find(events[i].type);
    if (it == by_type->end()) continue;
    const auto& data = events[i].data;
    for (const auto& need : it->second) {
      const auto field = data.is_object() ? data.find(need.field) : data.end();
      if (field == data.end() || !has_type(*field, need.type)) {
        throw InvalidEvent(i, events[i].type, need.field, std::string{to_string(need.type)}, need.projection,
                           need.version);
      }
    }
  }
}

}  // namespace reproj::engine
