#pragma once
// Kind 3: a Kafka topic ("kind": "kafka"), read with librdkafka's consumer from the offsets the
// checkpoint holds. Partitions are assigned, never joined as a consumer group: the offsets live in
// PostgreSQL, in the events' transaction, and the group id librdkafka insists on is never used to
// commit. isolation.level=read_committed: records of aborted Kafka transactions are not returned.
//
// Order: within a partition, offset order; across partitions, the order the consumer returns them
// (a producer that keys by stream id keeps each stream in one partition, hence in order).
//
// Caught up as the history consumer does it: a read captures every partition's high watermark
// first and consumes until each is reached (or nothing more comes for a moment: a transaction still
// open holds the last stable offset below it). Records deleted by retention past the checkpoint
// (the offset out of range) are a gap, answered by the document's "on_gap".

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sources/mapping.hpp"
#include "sources/source_reader.hpp"

namespace reproj::sources {

struct KafkaTopicConfig {
  std::string bootstrap_servers;
  std::string topic;
  std::vector<std::int32_t> partitions;  // empty: all
  // Client properties: given, and taken from the environment or a file when read (secrets).
  std::map<std::string, std::string> properties, properties_env, properties_file;
};

/// The references of this kind: $key, $value (parsed as JSON) and $value.NAME (a member inside it,
/// NAME may be a.b), $headers.NAME, $partition, $offset, $timestamp, $record.
std::vector<ReferenceRoot> kafka_references();

/// Checks the kind's members of `doc` (bootstrap_servers, topic, partitions, properties,
/// properties_env, properties_file), adding problems; nullopt if any.
std::optional<KafkaTopicConfig> parse_kafka(const nlohmann::json& doc, std::vector<Problem>& problems);

std::unique_ptr<SourceReader> kafka_reader(KafkaTopicConfig config);

}  // namespace reproj::sources
