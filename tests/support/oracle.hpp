#pragma once
// An independent fold of the domain, written apart from projections/ so a bug there cannot hide
// in both. Used by the concurrency tests to check tables and every answer.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "projections/demo_events.hpp"
#include "engine/event.hpp"
#include "engine/projection.hpp"

namespace reproj::test {

struct OracleCar {
  std::optional<std::string> creator, color, customer_id, customer_name;
  bool sold = false;
  bool operator==(const OracleCar&) const = default;
};

class Oracle {
 public:
  explicit Oracle(int cars_version) : v2_(cars_version >= 2) {}
  void apply(const engine::Event& e) {
    auto d = nlohmann::json::parse(e.data);
    if (e.type == "car.created") {
      cars_[e.stream_id] = OracleCar{d["by"].get<std::string>(), d["color"].get<std::string>(), {}, {}, false};
    } else if (e.type == "car.repainted") {
      cars_[e.stream_id].color = d["color"].get<std::string>();
    } else if (e.type == "car.sold") {
      auto& c = cars_[e.stream_id];
      c.sold = true;
      c.customer_id = d["to"].get<std::string>();
      auto n = names_.find(*c.customer_id);
      c.customer_name = n == names_.end() ? std::nullopt : std::optional<std::string>{n->second};
    } else if (e.type == "customer.created" || e.type == "customer.renamed") {
      const auto name = d["name"].get<std::string>();
      customers_[e.stream_id] = name;
      if (e.type == "customer.created" || v2_) names_[e.stream_id] = name;
      if (v2_) {
        for (auto& [id, c] : cars_) {
          if (c.customer_id == e.stream_id) c.customer_name = name;
        }
      }
    }
  }
  /// The row the cars table should hold for `id`, as engine values, or nullopt.
  std::optional<engine::Row> car(const std::string& id) const {
    auto it = cars_.find(id);
    if (it == cars_.end()) return std::nullopt;
    auto v = [](const std::optional<std::string>& s) -> engine::Value {
      if (s) return *s;
      return std::monostate{};
    };
    const auto& c = it->second;
    return engine::Row{{id, v(c.creator), v(c.color), c.sold, v(c.customer_id), v(c.customer_name)}};
  }
  std::optional<engine::Row> customer(const std::string& id) const {
    auto it = customers_.find(id);
    if (it == customers_.end()) return std::nullopt;
    return engine::Row{{id, it->second}};
  }
  const std::map<std::string, OracleCar>& cars() const { return cars_; }
  const std::map<std::string, std::string>& customers() const { return customers_; }

 private:
  bool v2_;
  std::map<std::string, OracleCar> cars_;
  std::map<std::string, std::string> customers_;
  std::map<std::string, std::string> names_;  // what cars know of customer names
};

using EventGenerator = projections::EventGenerator;

}  // namespace reproj::test
