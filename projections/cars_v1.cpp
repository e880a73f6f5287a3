#include "projections/cars.hpp"
#include "projections/event_data.hpp"

namespace reproj::projections {

const std::vector<engine::TableSpec>& CarsV1::tables() const {
  static const auto kTables = detail::cars_tables(detail::CustomerIndex::kNone);
  return kTables;
}

std::vector<engine::FieldRequirement> CarsV1::requirements() const {
  auto out = detail::car_event_requirements();
  out.push_back({"customer.created", "name", engine::FieldType::kString});
  return out;
}

void CarsV1::apply(const engine::Event& event, engine::Sink& sink) const {
  if (detail::apply_car_event(event, sink)) return;
  if (event.type == "customer.created") {
    const EventData data{event};
    sink.put(kCustomerNamesTable, engine::Row{{event.stream_id, data.required_string("name")}});
  }
  // The bug v1 keeps on purpose: customer.renamed is not handled.
}

}  // namespace reproj::projections
