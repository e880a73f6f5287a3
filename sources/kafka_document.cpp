// The kafka kind's members of a source document (the reader is sources/kafka_topic.cpp).
#include <algorithm>
#include <set>

#include "sources/kafka_topic.hpp"

namespace reproj::sources {

namespace {

// Set by reproj, never by a document: they are what exactly once rests on.
const std::set<std::string> kOwnProperties{"bootstrap.servers", "group.id",           "enable.auto.commit",
                                           "isolation.level",   "auto.offset.reset",  "enable.partition.eof",
                                           "enable.auto.offset.store"};

}  // namespace

std::vector<ReferenceRoot> kafka_references() {
  using Form = ReferenceRoot::Form;
  return {{"key", Form::kWhole},       {"value", Form::kEither},     {"headers", Form::kNamed}, {"partition", Form::kWhole},
          {"offset", Form::kWhole},    {"timestamp", Form::kWhole},  {"record", Form::kWhole}};
}

std::optional<KafkaTopicConfig> parse_kafka(const nlohmann::json& doc, std::vector<Problem>& problems) {
  const auto before = problems.size();
  KafkaTopicConfig c;
  auto text = [&](const char* key, std::string& out, const char* what) {
    auto it = doc.find(key);
    if (it == doc.end()) {
      problems.push_back({std::string{"/"} + key, std::string{"missing: "} + what});
    } else if (!it->is_string() || it->get<std::string>().empty()) {
      problems.push_back({std::string{"/"} + key, "must be a non-empty string"});
    } else {
      out = it->get<std::string>();
    }
  };
  text("bootstrap_servers", c.bootstrap_servers, "the brokers, HOST:PORT[,HOST:PORT…]");
  text("topic", c.topic, "the topic to read");
  for (const char* key : {"url", "url_env", "url_file"}) {
    if (doc.contains(key)) problems.push_back({std::string{"/"} + key, "a kafka source names its brokers in bootstrap_servers"});
  }
  if (auto it = doc.find("partitions"); it != doc.end()) {
    if (!it->is_array() || it->empty()) {
      problems.push_back({"/partitions", "a non-empty array of partition numbers (or leave it out for all)"});
    } else {
      for (std::size_t i = 0; i < it->size(); ++i) {
        const auto& p = (*it)[i];
        if (!p.is_number_integer() || p.get<std::int64_t>() < 0 || p.get<std::int64_t>() > 1'000'000) {
          problems.push_back({"/partitions/" + std::to_string(i), "a partition number"});
        } else if (std::find(c.partitions.begin(), c.partitions.end(), p.get<std::int32_t>()) != c.partitions.end()) {
          problems.push_back({"/partitions/" + std::to_string(i), "named twice"});
        } else {
          c.partitions.push_back(p.get<std::int32_t>());
        }
      }
    }
  }
  auto strings = [&](const char* key, std::map<std::string, std::string>& out) {
    auto it = doc.find(key);
    if (it == doc.end()) return;
    if (!it->is_object()) {
      problems.push_back({std::string{"/"} + key, "an object of client property -> string"});
      return;
    }
    for (const auto& [k, v] : it->items()) {
      const auto path = std::string{"/"} + key + "/" + k;
      if (!v.is_string()) {
        problems.push_back({path, "must be a string"});
      } else if (kOwnProperties.count(k)) {
        problems.push_back({path, k + " is set by reproj (exactly once rests on it)"});
      } else {
        out[k] = v.get<std::string>();
      }
    }
  };
  strings("properties", c.properties);
  strings("properties_env", c.properties_env);
  strings("properties_file", c.properties_file);
  if (problems.size() != before) return std::nullopt;
  return c;
}

}  // namespace reproj::sources
