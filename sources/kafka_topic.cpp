#include "sources/kafka_topic.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>

#include <librdkafka/rdkafkacpp.h>

#include "engine/errors.hpp"

namespace reproj::sources {

namespace {

using Offsets = std::map<std::int32_t, std::int64_t>;  // partition -> the next offset to ingest

constexpr int kTimeoutMs = 5000;      // a metadata or watermark request
constexpr int kQuietMs = 100;         // no record for this long: what was readable is read
constexpr int kQuietRounds = 3;

Offsets offsets_of(const nlohmann::json& checkpoint) {
  Offsets out;
  if (!checkpoint.is_object() || !checkpoint.contains("partitions")) return out;
  for (const auto& [p, o] : checkpoint["partitions"].items()) out[std::stoi(p)] = o.get<std::int64_t>();
  return out;
}

nlohmann::json checkpoint_of(const Offsets& offsets) {
  nlohmann::json partitions = nlohmann::json::object();
  for (const auto& [p, o] : offsets) partitions[std::to_string(p)] = o;
  return {{"partitions", partitions}};
}

class KafkaTopicReader final : public SourceReader {
 public:
  explicit KafkaTopicReader(KafkaTopicConfig config) : config_(std::move(config)) {}
  ~KafkaTopicReader() override { close(); }

  void connect() override {
    if (consumer_) return;
    std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
    std::vector<Problem> problems;
    std::string err;
    auto set = [&](const std::string& name, const std::string& value, const std::string& path) {
      if (conf->set(name, value, err) != RdKafka::Conf::CONF_OK) problems.push_back({path, name + ": " + err});
    };
    set("bootstrap.servers", config_.bootstrap_servers, "/bootstrap_servers");
    set("group.id", "reproj-source", "");  // required by the consumer; never joined, never committed to
    set("enable.auto.commit", "false", "");
    set("enable.auto.offset.store", "false", "");
    set("isolation.level", "read_committed", "");
    set("auto.offset.reset", "error", "");  // an offset gone is a gap, not a silent jump
    set("enable.partition.eof", "true", "");
    set("client.id", "reproj", "");
    // A fetch the broker holds for new records: a sync read waits for it, so briefly (a property
    // of the document may say otherwise).
    set("fetch.wait.max.ms", "10", "");
    for (const auto& [k, v] : config_.properties) set(k, v, "/properties/" + k);
    for (const auto& [k, var] : config_.properties_env) {
      const char* v = std::getenv(var.c_str());
      if (!v) {
        problems.push_back({"/properties_env/" + k, "the environment variable " + var + " is not set"});
        continue;
      }
      set(k, v, "/properties_env/" + k);
    }
    for (const auto& [k, file] : config_.properties_file) {
      std::ifstream in{file};
      std::string line;
      if (!in || !std::getline(in, line)) {
        problems.push_back({"/properties_file/" + k, "cannot read " + file});
        continue;
      }
      set(k, line, "/properties_file/" + k);
    }
    if (!problems.empty()) throw engine::InvalidSource(problems);
    std::unique_ptr<RdKafka::KafkaConsumer> consumer{RdKafka::KafkaConsumer::create(conf.get(), err)};
    if (!consumer) throw engine::InvalidSource(std::vector<Problem>{{"/properties", "the Kafka client refused its configuration: " + err}});
    // The topic's partitions: the document's, each checked to exist, or all.
    std::unique_ptr<RdKafka::Topic> topic{RdKafka::Topic::create(consumer.get(), config_.topic, nullptr, err)};
    RdKafka::Metadata* raw = nullptr;
    const auto code = consumer->metadata(false, topic.get(), &raw, kTimeoutMs);
    std::unique_ptr<RdKafka::Metadata> metadata{raw};
    if (code != RdKafka::ERR_NO_ERROR) {
      consumer->close();
      throw engine::DatabaseUnavailable("cannot reach Kafka at " + config_.bootstrap_servers + ": " + RdKafka::err2str(code));
    }
    std::set<std::int32_t> present;
    for (const auto* t : *metadata->topics()) {
      if (t->topic() != config_.topic || t->err() != RdKafka::ERR_NO_ERROR) continue;
      for (const auto* p : *t->partitions()) present.insert(p->id());
    }
    if (present.empty()) {
      consumer->close();
      throw engine::InvalidSource(std::vector<Problem>{{"/topic", "Kafka has no topic " + config_.topic}});
    }
    partitions_.clear();
    if (config_.partitions.empty()) {
      partitions_.assign(present.begin(), present.end());
    } else {
      for (std::size_t i = 0; i < config_.partitions.size(); ++i) {
        if (!present.count(config_.partitions[i])) {
          problems.push_back({"/partitions/" + std::to_string(i), "topic " + config_.topic + " has no partition " +
                                                                      std::to_string(config_.partitions[i])});
        }
      }
      if (!problems.empty()) {
        consumer->close();
        throw engine::InvalidSource(problems);
      }
      partitions_ = config_.partitions;
    }
    consumer_ = std::move(consumer);
    assigned_.reset();
  }

  std::int64_t tail() override {
    std::int64_t sum = 0;
    for (const auto& [p, hi] : watermarks().second) sum += hi;
    return sum;
  }

  nlohmann::json end_checkpoint() override { return checkpoint_of(watermarks().second); }

  std::vector<SourceRecord> read(const nlohmann::json& checkpoint, std::size_t limit) override {
    std::vector<SourceRecord> out;
    connect();
    auto next = offsets_of(checkpoint);
    // The high watermarks first: a read ingests up to them (a sync read, what the topic held at
    // the request) and no further than the batch.
    const auto [low, high] = watermarks();
    for (auto p : partitions_) {
      if (!next.count(p)) next[p] = low.at(p);  // new to the checkpoint: from the earliest record kept
    }
    // A checkpoint outside what the partition holds: records deleted by retention before they
    // were ingested, or a partition that ends before it (the topic recreated). Either is a gap.
    for (auto p : partitions_) {
      const auto from = next[p], lo = low.at(p), hi = high.at(p);
      if (from >= lo && from <= hi) continue;
      out.push_back(gap_record(p, from, lo, from > hi ? "the partition ends at offset " + std::to_string(hi) +
                                                            ", before the checkpoint (was the topic recreated?)"
                                                      : "deleted (retention) before they were ingested: " +
                                                            std::to_string(lo - from) + " records"));
      next[p] = lo;
      out.back().checkpoint = checkpoint_of(next);
      assigned_.reset();
      return out;
    }
    auto behind = [&] {
      for (auto p : partitions_) {
        if (next[p] < high.at(p)) return true;
      }
      return false;
    };
    if (!behind()) return out;
    if (!assigned_ || *assigned_ != next) assign(next);
    int quiet = 0;
    while (out.size() < limit && behind() && quiet < kQuietRounds) {
      std::unique_ptr<RdKafka::Message> m{consumer_->consume(kQuietMs)};
      const auto p = m->partition();
      switch (m->err()) {
        case RdKafka::ERR_NO_ERROR:
          break;
        case RdKafka::ERR__TIMED_OUT:
          ++quiet;
          continue;
        case RdKafka::ERR__PARTITION_EOF:
          // The end of what is readable: past control records and aborted transactions too. Short
          // of the watermark, the records past it are not there yet (or held by an open transaction).
          if (next.count(p)) next[p] = std::max(next[p], m->offset());
          if (next.count(p) && next[p] < high.at(p)) ++quiet;
          continue;
        case RdKafka::ERR__AUTO_OFFSET_RESET:
        case RdKafka::ERR_OFFSET_OUT_OF_RANGE: {
          if (!next.count(p)) continue;
          // Retention deleted records past the checkpoint since the watermarks were read.
          const auto [lo, hi] = watermark(p);
          const auto to = std::max(lo, next[p]);
          out.push_back(gap_record(p, next[p], to, "deleted (retention) before they were ingested"));
          next[p] = to;
          out.back().checkpoint = checkpoint_of(next);
          assigned_.reset();  // the consumer stopped at the error: assign afresh next time
          return out;
        }
        case RdKafka::ERR__ALL_BROKERS_DOWN:
          close();
          throw engine::DatabaseUnavailable("Kafka at " + config_.bootstrap_servers + ": " + m->errstr());
        default:
          ++quiet;  // transient (a leader moving, a broker reconnecting): librdkafka retries
          continue;
      }
      if (!next.count(p) || m->offset() < next[p]) continue;  // a partition not ours, or one already ingested
      quiet = 0;
      next[p] = m->offset() + 1;
      SourceRecord rec;
      rec.position = m->offset();
      rec.coordinate = config_.topic + ":" + std::to_string(p) + ":" + std::to_string(m->offset());
      nlohmann::json headers = nlohmann::json::object();
      if (const auto* hs = m->headers()) {
        for (const auto& h : hs->get_all()) {
          headers[h.key()] = h.value() ? std::string{static_cast<const char*>(h.value()), h.value_size()} : std::string{};
        }
      }
      const std::string value{static_cast<const char*>(m->payload()), m->len()};
      rec.record = {{"topic", config_.topic},
                    {"partition", p},
                    {"offset", m->offset()},
                    {"timestamp", m->timestamp().timestamp},
                    {"key", m->key() ? nlohmann::json(*m->key()) : nlohmann::json(nullptr)},
                    {"value", value},
                    {"headers", std::move(headers)}};
      try {
        rec.derived["value"] = nlohmann::json::parse(value);
      } catch (const nlohmann::json::parse_error& e) {
        rec.derived["invalid"] = std::string{"the value is not JSON: "} + e.what();
      }
      rec.checkpoint = checkpoint_of(next);
      out.push_back(std::move(rec));
    }
    assigned_ = next;  // where the consumer stands now
    return out;
  }

  // A read consumes up to the high watermarks it captured: nothing is held back past it.
  bool committed_after(const nlohmann::json&) override { return false; }

  const nlohmann::json* resolve(const SourceRecord& record, std::string_view root, std::string_view name) const override {
    if (root == "record") return &record.record;
    if (root == "value") {
      if (auto bad = record.derived.find("invalid"); bad != record.derived.end()) throw BadRecord(bad->get<std::string>());
      auto v = record.derived.find("value");
      if (v == record.derived.end()) return nullptr;
      const nlohmann::json* at = &*v;
      // $value.a.b: members inside the value.
      for (std::size_t from = 0; from < name.size() && at;) {
        const auto dot = std::min(name.find('.', from), name.size());
        const std::string member{name.substr(from, dot - from)};
        auto it = at->is_object() ? at->find(member) : at->end();
        at = at->is_object() && it != at->end() ? &*it : nullptr;
        from = dot + 1;
      }
      return at && !at->is_null() ? at : nullptr;
    }
    if (root == "headers") {
      const auto& h = record.record["headers"];
      auto it = h.find(std::string{name});
      return it == h.end() ? nullptr : &*it;
    }
    auto it = record.record.find(std::string{root});  // key, partition, offset, timestamp
    return it == record.record.end() || it->is_null() ? nullptr : &*it;
  }

  std::int64_t position_of(const nlohmann::json& checkpoint) const override {
    std::int64_t sum = 0;
    for (const auto& [p, o] : offsets_of(checkpoint)) sum += o;
    return sum;
  }

 private:
  void close() {
    if (consumer_) consumer_->close();
    consumer_.reset();
    assigned_.reset();
  }

  void assign(const Offsets& next) {
    std::vector<RdKafka::TopicPartition*> parts;
    for (auto p : partitions_) parts.push_back(RdKafka::TopicPartition::create(config_.topic, p, next.at(p)));
    const auto code = consumer_->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    if (code != RdKafka::ERR_NO_ERROR) throw engine::DatabaseUnavailable("Kafka: cannot assign partitions: " + RdKafka::err2str(code));
    assigned_ = next;
  }

  // Every partition's low and high watermark, asked of the brokers now: two requests a broker
  // (ListOffsets for the earliest and the latest of every partition it leads), not two a partition.
  std::pair<Offsets, Offsets> watermarks() {
    connect();
    auto ask = [&](std::int64_t which) {
      std::vector<RdKafka::TopicPartition*> parts;
      for (auto p : partitions_) parts.push_back(RdKafka::TopicPartition::create(config_.topic, p, which));
      const auto code = consumer_->offsetsForTimes(parts, kTimeoutMs);
      Offsets out;
      std::string why = code == RdKafka::ERR_NO_ERROR ? "" : RdKafka::err2str(code);
      for (const auto* tp : parts) {
        if (why.empty() && tp->err() != RdKafka::ERR_NO_ERROR) why = RdKafka::err2str(tp->err());
        out[tp->partition()] = tp->offset();
      }
      RdKafka::TopicPartition::destroy(parts);
      if (!why.empty()) {
        close();
        throw engine::DatabaseUnavailable("Kafka: the watermarks of " + config_.topic + ": " + why);
      }
      return out;
    };
    auto low = ask(RdKafka::Topic::OFFSET_BEGINNING);
    auto high = ask(RdKafka::Topic::OFFSET_END);
    return {std::move(low), std::move(high)};
  }
  std::pair<std::int64_t, std::int64_t> watermark(std::int32_t p) {
    std::int64_t lo = 0, hi = 0;
    const auto code = consumer_->query_watermark_offsets(config_.topic, p, &lo, &hi, kTimeoutMs);
    if (code != RdKafka::ERR_NO_ERROR) {
      close();
      throw engine::DatabaseUnavailable("Kafka: the watermarks of " + config_.topic + " partition " + std::to_string(p) + ": " +
                                        RdKafka::err2str(code));
    }
    return {lo, hi};
  }

  // A gap: the records of partition `p` from offset `from` (the checkpoint) are not there; reading
  // goes on at `to`. Its checkpoint is the caller's.
  SourceRecord gap_record(std::int32_t p, std::int64_t from, std::int64_t to, const std::string& why) const {
    SourceRecord gap;
    gap.gap = "records of " + config_.topic + " partition " + std::to_string(p) + " from offset " + std::to_string(from) +
              " (the checkpoint) on: " + why + "; reading goes on at offset " + std::to_string(to);
    gap.coordinate = config_.topic + ":" + std::to_string(p) + ":" + std::to_string(from) + ".." + std::to_string(to);
    gap.position = to;
    gap.record = {{"topic", config_.topic}, {"partition", p}, {"from", from}, {"to", to}};
    return gap;
  }

  const KafkaTopicConfig config_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::vector<std::int32_t> partitions_;  // set by connect()
  std::optional<Offsets> assigned_;       // where the consumer stands, if known
};

}  // namespace

std::unique_ptr<SourceReader> kafka_reader(KafkaTopicConfig config) { return std::make_unique<KafkaTopicReader>(std::move(config)); }

}  // namespace reproj::sources
