#include "projections/cars.hpp"
#include "projections/event_data.hpp"

namespace reproj::projections {

const std::vector<engine::TableSpec>& CarsV2::tables() const {
  static const auto kTables = detail::cars_tables(detail::CustomerIndex::kIndexed);
  return kTables;
}

std::vector<engine::FieldRequirement> CarsV2::requirements() const {
  auto out = detail::car_event_requirements();
  out.push_back({"customer.created", "name", engine::FieldType::kString});
  out.push_back({"customer.renamed", "name", engine::FieldType::kString});
  return out;
}

void CarsV2::apply(const engine::Event& event, engine::Sink& sink) const {
  if (detail::apply_car_event(event, sink)) return;
  if (event.type != "customer.created" && event.type != "customer.renamed") return;
  const EventData data{event};
  std::string name = data.required_string("name");
  sink.put(kCustomerNamesTable, engine::Row{{event.stream_id, name}});
  // Every car this customer bought, including ones sold before the customer was created.
  sink.update_where(kCarsTable, kCustomerId, event.stream_id,
                    [&](engine::Row& car) { car.values[kCustomerName] = name; });
}

}  // namespace reproj::projections
