#pragma once
// account.opened {owner} and account.credited / account.debited {amount} fold into one row per
// account: its owner and its balance.

#include "engine/projection.hpp"

namespace balances {

class BalancesV1 final : public reproj::engine::Projection {
 public:
  std::string_view name() const override { return "balances"; }
  int version() const override { return 1; }
  const std::vector<reproj::engine::TableSpec>& tables() const override;
  reproj::engine::EventExtras extras() const override {
    return {.stream_version = false, .metadata = false, .recorded_at = false};
  }
  void apply(const reproj::engine::Event& event, reproj::engine::Sink& sink) const override;
};

}  // namespace balances
