#pragma once
// An independent fold of the domain, written apart from projections/ so a bug there cannot hide
// in both. Used by the concurrency tests to check tables and every answer.

#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
    position_ = e.global_position;
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
  std::int64_t position_ = 0;
};

/// Generates a realistic mix of the five event types for one writer. Car ids are the writer's own;
/// customers are shared, and sales may name a customer created only later.
class EventGenerator {
 public:
  EventGenerator(int writer, unsigned seed) : writer_(writer), rng_(seed) {}
  /// The next (stream_id, event) to append.
  std::pair<std::string, engine::NewEvent> next() {
    const auto roll = rng_() % 100;
    auto customer = [&] { return "cust-" + std::to_string(rng_() % 40); };
    if (cars_ == 0 || roll < 25) {
      auto id = "car-" + std::to_string(writer_) + "-" + std::to_string(cars_++);
      return {id, ev("car.created", {{"by", pick({"Alice", "Bob", "Eve"})}, {"color", pick({"blue", "red", "green"})}})};
    }
    const auto car = "car-" + std::to_string(writer_) + "-" + std::to_string(rng_() % static_cast<unsigned>(cars_));
    if (roll < 55) return {car, ev("car.repainted", {{"color", pick({"orange", "black", "white", "teal"})}})};
    if (roll < 75) return {car, ev("car.sold", {{"to", customer()}})};
    if (roll < 85) return {customer(), ev("customer.created", {{"name", pick({"Bob", "Dan", "Fay"})}})};
    return {customer(), ev("customer.renamed", {{"name", pick({"Charlie", "Gus", "Hal", "Ivy"}) + std::to_string(rng_() % 9)}})};
  }

 private:
  engine::NewEvent ev(std::string type, nlohmann::json data) {
    return engine::NewEvent{std::nullopt, std::move(type), std::move(data), nlohmann::json::object()};
  }
  std::string pick(std::initializer_list<const char*> options) {
    return *(options.begin() + static_cast<std::ptrdiff_t>(rng_() % options.size()));
  }
  int writer_;
  std::mt19937 rng_;
  int cars_ = 0;
};

}  // namespace reproj::test
