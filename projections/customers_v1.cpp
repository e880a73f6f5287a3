#include "projections/customers_v1.hpp"

#include "projections/event_data.hpp"

namespace reproj::projections {

using engine::ColumnType;

const std::vector<engine::TableSpec>& CustomersV1::tables() const {
  static const std::vector<engine::TableSpec> kTables{
      {"customers", {{"customer_id", ColumnType::kText}, {"name", ColumnType::kText}}, {}, {}}};
  return kTables;
}

void CustomersV1::apply(const engine::Event& event, engine::Sink& sink) const {
  if (event.type != "customer.created" && event.type != "customer.renamed") return;
  const EventData data{event};
  sink.put(0, engine::Row{{event.stream_id, data.required_string("name")}});
}

}  // namespace reproj::projections
