#include "balances.hpp"

#include <nlohmann/json.hpp>

#include "engine/errors.hpp"

namespace balances {

namespace {
enum Column : std::size_t { kAccountId, kOwner, kBalance };
}

const std::vector<reproj::engine::TableSpec>& BalancesV1::tables() const {
  using reproj::engine::ColumnType;
  static const std::vector<reproj::engine::TableSpec> kTables{
      {"balances", {{"account_id"}, {"owner"}, {"balance", ColumnType::kBigint}}, {}, {}}};
  return kTables;
}

void BalancesV1::apply(const reproj::engine::Event& event, reproj::engine::Sink& sink) const {
  using reproj::engine::Row;
  if (event.type != "account.opened" && event.type != "account.credited" && event.type != "account.debited") return;
  const auto data = nlohmann::json::parse(event.data, nullptr, false);
  auto make = [&] { return Row{{event.stream_id, std::monostate{}, std::int64_t{0}}}; };
  if (event.type == "account.opened") {
    if (!data.is_object() || !data.contains("owner") || !data["owner"].is_string()) {
      throw reproj::engine::PoisonEvent(event.global_position, event.event_id, event.type, "owner must be a string");
    }
    sink.update(0, event.stream_id, make, [&](Row& r) { r.values[kOwner] = data["owner"].get<std::string>(); });
    return;
  }
  if (!data.is_object() || !data.contains("amount") || !data["amount"].is_number_integer()) {
    throw reproj::engine::PoisonEvent(event.global_position, event.event_id, event.type, "amount must be an integer");
  }
  const auto amount = data["amount"].get<std::int64_t>() * (event.type == "account.debited" ? -1 : 1);
  sink.update(0, event.stream_id, make, [&](Row& r) { r.values[kBalance] = std::get<std::int64_t>(r.values[kBalance]) + amount; });
}

}  // namespace balances
