#pragma once
// librdkafka's own mock cluster, in this process (no Kafka broker is installable on these
// machines): brokers speaking the Kafka protocol on 127.0.0.1, which reproj -- in process or a
// child `reproj serve` -- reaches through bootstraps(), and a producer to write to it.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <librdkafka/rdkafkacpp.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace reproj::test {

class KafkaMock {
 public:
  /// `brokers` brokers and `topic` with `partitions` partitions, each replicated on every broker.
  KafkaMock(const std::string& topic, int partitions, int brokers = 3) : topic_(topic) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!handle_) throw std::runtime_error(std::string{"rd_kafka_new: "} + err);
    cluster_ = rd_kafka_mock_cluster_new(handle_, brokers);
    if (!cluster_) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    if (rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, brokers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("cannot create the mock topic");
    }
    std::string e;
    std::unique_ptr<RdKafka::Conf> pc{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
    pc->set("bootstrap.servers", bootstraps_, e);
    pc->set("enable.idempotence", "true", e);
    pc->set("linger.ms", "1", e);
    producer_.reset(RdKafka::Producer::create(pc.get(), e));
    if (!producer_) throw std::runtime_error("producer: " + e);
  }
  ~KafkaMock() {
    producer_.reset();
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }
  KafkaMock(const KafkaMock&) = delete;
  KafkaMock& operator=(const KafkaMock&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }

  /// Produces one record to `partition` (-1: by the key's hash), with headers.
  void produce(int partition, const std::string& key, const std::string& value,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    RdKafka::Headers* hs = RdKafka::Headers::create();
    for (const auto& [k, v] : headers) hs->add(k, v);
    RdKafka::ErrorCode code;
    while ((code = producer_->produce(topic_, partition < 0 ? RdKafka::Topic::PARTITION_UA : partition,
                                      RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()), value.size(),
                                      key.data(), key.size(), 0, hs, nullptr)) == RdKafka::ERR__QUEUE_FULL) {
      producer_->poll(10);  // the local queue is full: let deliveries drain it
    }
    if (code != RdKafka::ERR_NO_ERROR) {
      delete hs;
      throw std::runtime_error("produce: " + RdKafka::err2str(code));
    }
    producer_->poll(0);
  }
  /// Waits until every record produced is acknowledged.
  void flush() {
    if (producer_->flush(10000) != RdKafka::ERR_NO_ERROR) throw std::runtime_error("flush timed out");
  }
  /// Moves the partition's leadership to `broker` (1-based).
  void set_leader(int partition, int broker) { rd_kafka_mock_partition_set_leader(cluster_, topic_.c_str(), partition, broker); }

 private:
  std::string topic_;
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

}  // namespace reproj::test
