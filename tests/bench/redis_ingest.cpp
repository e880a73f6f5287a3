// Sources, redis_stream (issue 39): ingesting N entries of a Redis stream into the log against
// reading the same entries with XRANGE in batches through the same client library (hiredis), in one
// run, on the cluster DATABASE_URL names (scripts/bench: the durable one) and a throwaway
// redis-server (scripts/redis). Prints figures; asserts only that everything was ingested.
//   reproj_redis_ingest [ENTRIES (default 200000)]   (env BATCH: records per transaction, else the default)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <hiredis/hiredis.h>

#include "projections/demo_events.hpp"
#include "tests/support/source_bench.hpp"
#include "tests/support/redis_server.hpp"

using namespace reproj;
using Clock = std::chrono::steady_clock;
using test::seconds_since;

int main(int argc, char** argv) {
  const long entries = argc > 1 ? std::atol(argv[1]) : 200'000;
  test::RedisServer redis;
  redisContext* c = redisConnect("127.0.0.1", redis.port());
  if (!c || c->err) {
    std::fprintf(stderr, "cannot connect to Redis\n");
    return 1;
  }
  // The entries, pipelined 1000 at a time: the demo's events as an application would XADD them.
  auto gen = test::bench_events();
  for (long i = 0; i < entries;) {
    long n = 0;
    for (; n < 1000 && i < entries; ++n, ++i) {
      const auto [stream, e] = gen.next();
      const auto data = e.data.dump();
      redisAppendCommand(c, "XADD app * stream_id %s type %s data %s", stream.c_str(), e.type.c_str(), data.c_str());
    }
    for (long k = 0; k < n; ++k) {
      void* r = nullptr;
      if (redisGetReply(c, &r) != REDIS_OK) return 1;
      freeReplyObject(r);
    }
  }

  // (a) The source's own read limit: every entry by XRANGE, 5000 at a time, as reproj's batches.
  const auto t0 = Clock::now();
  std::string after = "-";
  long read = 0;
  while (true) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "XRANGE app %s + COUNT 5000", after.c_str()));
    if (!r || r->type != REDIS_REPLY_ARRAY) return 1;
    const auto n = r->elements;
    if (n > 0) after = "(" + std::string{r->element[n - 1]->element[0]->str};
    read += static_cast<long>(n);
    freeReplyObject(r);
    if (n < 5000) break;
  }
  const double t_xrange = seconds_since(t0);
  redisFree(c);

  // (c, for where the time goes) `reproj import` of the same events: the write into PostgreSQL alone.
  const double t_import = test::time_import_of_bench_events(entries);

  // (b) reproj ingesting them.
  const double t_ingest = test::time_ingest(nlohmann::json{{"kind", "redis_stream"},
                                                    {"url", redis.url()},
                                                    {"streams", {"app"}},
                                                    {"mapping", {{"stream_id", "$field.stream_id"}, {"type", "$field.type"}, {"data", "$json.data"}}}}, entries);
  std::printf("redis ingest %ld entries, s %.3f\n", entries, t_ingest);
  std::printf("xrange of the same %ld entries, s %.3f\n", read, t_xrange);
  std::printf("ratio redis_ingest/xrange %.2f (xrange time / ingest time: higher is faster)\n", t_xrange / t_ingest);
  std::printf("ratio redis_ingest/import %.2f (reproj import of the same events, %.3f s: the write alone)\n",
              t_import / t_ingest, t_import);
  return 0;
}
