#include "projections/all.hpp"

#include "projections/cars.hpp"
#include "projections/customers_v1.hpp"

namespace reproj::projections {

void register_all(engine::ProjectionRegistry& registry) {
  registry.add(std::make_unique<CustomersV1>());
  registry.add(std::make_unique<CarsV1>());
  registry.add(std::make_unique<CarsV2>());
}

}  // namespace reproj::projections
