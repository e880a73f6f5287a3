// Sources, kafka (issue 39): ingesting N records of a topic (3 partitions, more past 75,000 records) on librdkafka's mock
// cluster (in process) into the log, against a plain librdkafka consumer reading the same records,
// and `reproj import` of the same events, in one run on the cluster DATABASE_URL names
// (scripts/bench: the durable one). Prints figures; asserts only that everything was ingested.
//   reproj_kafka_ingest [RECORDS (default 200000)]   (env BATCH: records per transaction, else the default)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "projections/demo_events.hpp"
#include "tests/support/kafka_mock.hpp"
#include "tests/support/source_bench.hpp"

using namespace reproj;
using Clock = std::chrono::steady_clock;
using test::seconds_since;

int main(int argc, char** argv) {
  const long records = argc > 1 ? std::atol(argv[1]) : 200'000;
  // The mock keeps ~5 MB a partition and deletes older records (a retention of its own): enough
  // partitions that every record stays.
  const int partitions = std::max(3, static_cast<int>(records / 25'000));
  test::KafkaMock kafka{"events", partitions};
  auto gen = test::bench_events();
  for (long i = 0; i < records; ++i) {
    const auto [stream, e] = gen.next();
    kafka.produce(-1, stream, e.data.dump(), {{"type", e.type}});
  }
  kafka.flush();

  // (a) The source's own read limit: a plain consumer, the three partitions assigned from 0.
  double t_consume = 0;
  {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
    conf->set("bootstrap.servers", kafka.bootstraps(), err);
    conf->set("group.id", "bench", err);
    conf->set("enable.auto.commit", "false", err);
    conf->set("enable.partition.eof", "true", err);
    std::unique_ptr<RdKafka::KafkaConsumer> consumer{RdKafka::KafkaConsumer::create(conf.get(), err)};
    std::vector<RdKafka::TopicPartition*> parts;
    for (int p = 0; p < partitions; ++p) parts.push_back(RdKafka::TopicPartition::create("events", p, 0));
    const auto t0 = Clock::now();
    consumer->assign(parts);
    long read = 0;
    int quiet = 0;
    while (read < records && quiet < 10) {
      std::unique_ptr<RdKafka::Message> m{consumer->consume(1000)};
      if (m->err() == RdKafka::ERR_NO_ERROR) {
        ++read;
        quiet = 0;
      } else if (m->err() == RdKafka::ERR__TIMED_OUT) {
        ++quiet;
      }
    }
    t_consume = seconds_since(t0);
    if (read < records) {
      std::fprintf(stderr, "the consumer read %ld of %ld records\n", read, records);
      return 1;
    }
    RdKafka::TopicPartition::destroy(parts);
    consumer->close();
  }

  // (c) `reproj import` of the same events: the write into PostgreSQL alone.
  const double t_import = test::time_import_of_bench_events(records);

  // (b) reproj ingesting them.
  const double t_ingest = test::time_ingest(nlohmann::json{{"kind", "kafka"},
                                                    {"bootstrap_servers", kafka.bootstraps()},
                                                    {"topic", "events"},
                                                    {"mapping", {{"stream_id", "$key"}, {"type", "$headers.type"}, {"data", "$value"}}}}, records);
  std::printf("kafka ingest %ld records (%d partitions), s %.3f\n", records, partitions, t_ingest);
  std::printf("consume of the same records, s %.3f\n", t_consume);
  std::printf("ratio kafka_ingest/consume %.2f (consume time / ingest time: higher is faster)\n", t_consume / t_ingest);
  std::printf("ratio kafka_ingest/import %.2f (reproj import of the same events, %.3f s: the write alone)\n",
              t_import / t_ingest, t_import);
  return 0;
}
