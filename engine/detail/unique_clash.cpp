#include "engine/detail/unique_clash.hpp"

#include <nlohmann/json.hpp>

#include "engine/column_value.hpp"

namespace reproj::engine::detail {

UniqueViolation::Clash describe(const Projection& projection, const UniqueClash& clash) {
  const TableSpec& spec = projection.tables().at(clash.table);
  const auto& columns = spec.unique.at(clash.rule);
  UniqueViolation::Clash out;
  out.table = spec.name;
  auto values = nlohmann::json::array();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    out.columns.push_back(spec.columns[columns[i]].name);
    values.push_back(value_to_json(spec.columns[columns[i]].type, clash.values.at(i)));
  }
  out.value_json = (columns.size() == 1 ? values[0] : values).dump();
  out.key = clash.key;
  out.position = clash.position;
  out.existing_key = clash.existing_key;
  out.existing_position = clash.existing_position;
  return out;
}

std::string clashes_json(const UniqueViolation& violation) {
  auto out = nlohmann::json::array();
  for (const auto& c : violation.clashes()) {
    out.push_back({{"table", c.table},
                   {"columns", c.columns},
                   {"value", nlohmann::json::parse(c.value_json)},
                   {"key", c.key},
                   {"position", c.position},
                   {"existing_key", c.existing_key},
                   {"existing_position", c.existing_position > 0 ? nlohmann::json(c.existing_position) : nlohmann::json()}});
  }
  return out.dump();
}

}  // namespace reproj::engine::detail
