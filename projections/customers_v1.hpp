#pragma once

#include "engine/projection.hpp"

namespace reproj::projections {

/// customers: customer_id, name. Follows customer.created and customer.renamed.
class CustomersV1 final : public engine::Projection {
 public:
  std::string_view name() const override { return "customers"; }
  int version() const override { return 1; }
  const std::vector<engine::TableSpec>& tables() const override;
  void apply(const engine::Event& event, engine::Sink& sink) const override;
  std::vector<engine::FieldRequirement> requirements() const override {
    return {{"customer.created", "name", engine::FieldType::kString},
            {"customer.renamed", "name", engine::FieldType::kString}};
  }
  engine::EventExtras extras() const override {
    return {.stream_version = false, .metadata = false, .recorded_at = false};
  }
};

}  // namespace reproj::projections
