#include "projections/cars.hpp"
#include "projections/event_data.hpp"

namespace reproj::projections::detail {

using engine::ColumnType;
using engine::Row;

std::vector<engine::TableSpec> cars_tables(CustomerIndex customer_index) {
  engine::TableSpec cars{"cars",
                         {{"car_id", ColumnType::kText},
                          {"creator", ColumnType::kText},
                          {"color", ColumnType::kText},
                          {"sold", ColumnType::kBool},
                          {"customer_id", ColumnType::kText},
                          {"customer_name", ColumnType::kText}},
                         {},
                         {}};
  if (customer_index == CustomerIndex::kIndexed) cars.indexed = {kCustomerId};
  engine::TableSpec names{"customer_names", {{"customer_id", ColumnType::kText}, {"name", ColumnType::kText}}, {}, {}};
  return {cars, names};
}

namespace {
// A car event may arrive for a car whose car.created is missing; start from an empty row then.
void change_car(engine::Sink& sink, const std::string& car_id, const std::function<void(Row&)>& change) {
  sink.update(
      kCarsTable, car_id,
      [&] { return Row{{car_id, std::monostate{}, std::monostate{}, false, std::monostate{}, std::monostate{}}}; },
      change);
}
}  // namespace

bool apply_car_event(const engine::Event& event, engine::Sink& sink) {
  if (event.type == "car.created") {
    const EventData data{event};
    sink.put(kCarsTable, Row{{event.stream_id, data.required_string("by"),
                              data.required_string("color"), false, std::monostate{}, std::monostate{}}});
  } else if (event.type == "car.repainted") {
    const EventData data{event};
    auto color = data.required_string("color");
    change_car(sink, event.stream_id, [&](Row& car) { car.values[kColor] = std::move(color); });
  } else if (event.type == "car.sold") {
    const EventData data{event};
    auto buyer = data.required_string("to");
    engine::Value buyer_name = std::monostate{};
    if (const Row* customer = sink.find(kCustomerNamesTable, buyer)) buyer_name = customer->values[kNamesName];
    change_car(sink, event.stream_id, [&](Row& car) {
      car.values[kSold] = true;
      car.values[kCustomerId] = buyer;
      car.values[kCustomerName] = std::move(buyer_name);
    });
  } else {
    return false;
  }
  return true;
}

std::vector<engine::FieldRequirement> car_event_requirements() {
  using engine::FieldType;
  return {{"car.created", "by", FieldType::kString},
          {"car.created", "color", FieldType::kString},
          {"car.repainted", "color", FieldType::kString},
          {"car.sold", "to", FieldType::kString}};
}

}  // namespace reproj::projections::detail
