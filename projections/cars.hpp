#pragma once
// The cars projection. Both versions keep two tables: `cars` (served) and a private
// `customer_names` lookup, since a projection reads only its own tables, never another's.

#include "engine/projection.hpp"

namespace reproj::projections {

/// Column positions of the cars table.
enum CarColumn : std::size_t { kCarId, kCreator, kColor, kSold, kCustomerId, kCustomerName };
/// Column positions of the private customer_names table.
enum CustomerNameColumn : std::size_t { kNamesCustomerId, kNamesName };
inline constexpr std::size_t kCarsTable = 0;
inline constexpr std::size_t kCustomerNamesTable = 1;

/// v1 reproduces the real-world bug: the buyer's name is copied at car.sold and
/// customer.renamed is never listened to, so a sold car keeps the old name.
class CarsV1 final : public engine::Projection {
 public:
  std::string_view name() const override { return "cars"; }
  int version() const override { return 1; }
  const std::vector<engine::TableSpec>& tables() const override;
  void apply(const engine::Event& event, engine::Sink& sink) const override;
  std::vector<engine::FieldRequirement> requirements() const override;
  engine::EventExtras extras() const override {
    return {.stream_version = false, .metadata = false, .recorded_at = false};
  }
};

/// v2, the fix: customer_name follows every rename of the buyer, also after the sale, and a sale
/// to a customer created later gets the name when the customer appears.
class CarsV2 final : public engine::Projection {
 public:
  std::string_view name() const override { return "cars"; }
  int version() const override { return 2; }
  const std::vector<engine::TableSpec>& tables() const override;
  void apply(const engine::Event& event, engine::Sink& sink) const override;
  std::vector<engine::FieldRequirement> requirements() const override;
  engine::EventExtras extras() const override {
    return {.stream_version = false, .metadata = false, .recorded_at = false};
  }
};

namespace detail {
/// The car events (created, repainted, sold), common to both versions. Returns false if the event
/// is not a car event.
bool apply_car_event(const engine::Event& event, engine::Sink& sink);
/// What apply_car_event requires: car.created {by, color}, car.repainted {color}, car.sold {to}.
std::vector<engine::FieldRequirement> car_event_requirements();
enum class CustomerIndex { kNone, kIndexed };  // v2 lists a customer's cars by customer_id
std::vector<engine::TableSpec> cars_tables(CustomerIndex customer_index);
}  // namespace detail

}  // namespace reproj::projections
