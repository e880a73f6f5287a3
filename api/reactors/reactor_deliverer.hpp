#pragma once
// One reactor's deliveries while this instance holds its lock (reactor_runner.hpp): reads its
// events, sends up to its in-flight limit at once in the order its "ordering" allows
// (delivery_window.hpp), retries each failed stream on its own schedule, opens the reactor's circuit
// after a run of failures across streams (delivery_policy.hpp), and checkpoints what was done
// (engine::ReactorStore::checkpoint). Runs on one strand: every member is touched only there.
//
// At least once: an event acknowledged but not yet checkpointed when the process dies is sent again,
// under the same Idempotency-Key; one acknowledged above the checkpoint and checkpointed is not.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "api/asio.hpp"
#include "api/reactors/delivery_policy.hpp"
#include "api/reactors/delivery_window.hpp"
#include "api/reactors/webhook_client.hpp"
#include "api/reactors/webhook_url.hpp"
#include "engine/reactor_store.hpp"

namespace reproj::api {

class ReactorMetrics;

/// What a deliverer borrows from its runner.
struct DelivererContext {
  engine::ReactorStore& store;
  asio::thread_pool& db;        // blocking database calls go here, never on the I/O threads
  std::function<int()> lock_pid;
  std::function<bool()> current;  // false once the runner stops or lost this reactor's lock
  ReactorMetrics* metrics = nullptr;
  std::chrono::milliseconds poll{200};
  std::size_t batch = 100;
  std::string instance;
};

class ReactorDeliverer {
 public:
  ReactorDeliverer(DelivererContext context, std::string name, asio::any_io_executor executor);
  ~ReactorDeliverer();
  ReactorDeliverer(const ReactorDeliverer&) = delete;
  ReactorDeliverer& operator=(const ReactorDeliverer&) = delete;

  /// One pass: read from the checkpoint, deliver until what was read is done (reading more as the
  /// window allows), checkpoint. Returns with nothing in flight. False when the loop should end
  /// (the reactor was deleted, or !current()).
  asio::awaitable<bool> pass();

 private:
  void dispatch();
  asio::awaitable<void> attempt(std::int64_t position, bool probe);
  void judge(std::int64_t position, const DeliveryReply& reply, Clock::time_point sent, bool probe);
  asio::awaitable<void> read_more();
  asio::awaitable<bool> flush();
  asio::awaitable<void> record_health();
  asio::awaitable<bool> running();
  bool apply(const std::optional<engine::ReactorStore::Control>& control);
  std::string adopt(const engine::ReactorConfig& config);
  asio::awaitable<void> sleep(std::chrono::milliseconds total);
  asio::awaitable<void> wait_for_news(Clock::time_point until);
  WebhookClient* lease_client();
  void publish_window();

  DelivererContext c_;
  const std::string name_;
  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  asio::steady_timer news_;  // the pass waits on it; an answer or a read cancels it
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> jitter_{0.0, 1.0};
  CircuitBreaker breaker_;
  engine::ReactorConfig config_;
  WebhookUrl url_;
  std::shared_ptr<asio::ssl::context> tls_;
  DeliveryWindow window_;
  std::vector<std::unique_ptr<WebhookClient>> clients_;
  std::vector<WebhookClient*> idle_;
  std::set<WebhookClient*> busy_;
  int running_attempts_ = 0;  // attempt coroutines alive (they touch this object)

  // This pass.
  std::int64_t committed_ = 0;  // the stored checkpoint as this pass last moved it
  bool more_ = false;           // events past what was read may match
  bool reading_ = false;
  bool ending_ = false;         // send nothing more; return once nothing is in flight
  bool failed_checkpoint_ = false;
  bool cancelled_ = false;      // stopping: the requests in flight were cancelled
  bool news_pending_ = false;   // an answer came while the pass was not waiting for one
  std::int64_t delivered_ = 0;  // acknowledged since the last checkpoint
  std::int64_t uncommitted_ = 0;  // done (acknowledged, dead-lettered) above the committed checkpoint
  std::vector<engine::ReactorStore::Progress::Dead> dead_;
  std::optional<std::string> stop_error_;  // on_failure "stop": why the reactor stops
  std::string last_error_;
  bool health_dirty_ = false;
  bool recorded_failing_ = false;  // the stored state shows failures: a success must clear it
  struct Retried {
    std::string event_id;
    bool delivered = false;
    int attempts = 0;
    std::string error;
  };
  std::vector<Retried> retried_;
  int stored_in_flight_ = 0, stored_backing_off_ = 0;
};

}  // namespace reproj::api
