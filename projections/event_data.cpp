#include "projections/event_data.hpp"

namespace reproj::projections {

namespace {
engine::PoisonEvent poison(const engine::Event& e, const std::string& reason) {
  return engine::PoisonEvent(e.global_position, e.event_id, e.type, reason);
}
}  // namespace

nlohmann::json data_of(const engine::Event& event) {
  nlohmann::json data = nlohmann::json::parse(event.data, nullptr, false);
  if (data.is_discarded()) throw poison(event, "data is not valid JSON");
  if (!data.is_object()) throw poison(event, "data is not a JSON object");
  return data;
}

std::string required_string(const engine::Event& event, const nlohmann::json& data, const char* field) {
  auto it = data.find(field);
  if (it == data.end()) throw poison(event, std::string{"\""} + field + "\" is missing");
  if (!it->is_string()) throw poison(event, std::string{"\""} + field + "\" is not a string");
  return it->get<std::string>();
}

}  // namespace reproj::projections
