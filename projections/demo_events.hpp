#pragma once
// A deterministic generator of the domain's five event types, for the demo, the benchmark and the
// tests. Realistic mix: ~10% new customers, cars repainted several times, about a third of cars
// sold (a few to customers created only later), renames after sales.

#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/event.hpp"

namespace reproj::projections {

class EventGenerator {
 public:
  /// `writer` namespaces the ids (car-W-N, cust-W-N), so generators never collide.
  EventGenerator(int writer, unsigned seed) : writer_(writer), rng_(seed) {}

  /// The next (stream_id, event) to append.
  std::pair<std::string, engine::NewEvent> next() {
    const auto roll = rng_() % 100;
    if (cars_ == 0 || roll < 22) {
      return {car_id(cars_++), ev("car.created", {{"by", pick({"Alice", "Bob", "Eve", "Mallory"})},
                                                  {"color", pick({"blue", "red", "green", "silver"})}})};
    }
    if (customers_ == 0 || roll < 32) {
      return {customer_id(customers_++), ev("customer.created", {{"name", pick({"Bob", "Dan", "Fay", "Gil"})}})};
    }
    if (roll < 40) {
      return {customer_id(below(customers_)),
              ev("customer.renamed", {{"name", pick({"Charlie", "Gus", "Hal", "Ivy"}) + std::to_string(rng_() % 100)}})};
    }
    if (roll < 48) {
      // One sale in twenty names a customer whose customer.created comes later.
      const int buyer = rng_() % 20 == 0 ? customers_ : below(customers_);
      return {car_id(below(cars_)), ev("car.sold", {{"to", customer_id(buyer)}})};
    }
    return {car_id(below(cars_)), ev("car.repainted", {{"color", pick({"orange", "black", "white", "teal", "red"})}})};
  }

 private:
  std::string car_id(int n) const { return "car-" + std::to_string(writer_) + "-" + std::to_string(n); }
  std::string customer_id(int n) const { return "cust-" + std::to_string(writer_) + "-" + std::to_string(n); }
  int below(int n) { return static_cast<int>(rng_() % static_cast<unsigned>(n)); }
  static engine::NewEvent ev(std::string type, nlohmann::json data) {
    return engine::NewEvent{std::nullopt, std::move(type), std::move(data), nlohmann::json::object()};
  }
  std::string pick(std::initializer_list<const char*> options) {
    return *(options.begin() + static_cast<std::ptrdiff_t>(rng_() % options.size()));
  }

  int writer_;
  std::mt19937 rng_;
  int cars_ = 0;
  int customers_ = 0;
};

/// Writes `count` events as import lines ({"stream_id", "type", "data"}), taking one from each of
/// `writers` in turn, so streams interleave in the log as they do in production.
inline void write_ndjson(std::ostream& out, std::vector<EventGenerator>& writers, long count) {
  std::string line;
  for (long i = 0; i < count; ++i) {
    auto [stream, e] = writers[static_cast<std::size_t>(i) % writers.size()].next();
    line = nlohmann::json{{"stream_id", stream}, {"type", e.type}, {"data", e.data}}.dump();
    line += '\n';
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
  }
}

}  // namespace reproj::projections
