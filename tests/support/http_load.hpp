#pragma once
// Load over HTTP for the reliability tests: appenders that retry each event under its own event_id
// until acknowledged (so a retry after a crash or an outage is idempotent and every stream keeps its
// order), and strong readers of generated car ids. Counts every outcome.
#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/asio.hpp"
#include "api/http_client.hpp"
#include "tests/support/oracle.hpp"

namespace reproj::test {

/// A loopback port free at the moment of asking (for a server child to listen on).
inline int free_port() {
  namespace asio = api::asio;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  return acceptor.local_endpoint().port();
}

class HttpLoad {
 public:
  struct Counts {
    long appends_acked = 0, reads_ok = 0;
    long unavailable = 0;           // 503 with Retry-After: the documented answer to an outage
    long unavailable_no_retry = 0;  // 503 without Retry-After
    long transport_errors = 0;      // no HTTP answer at all (refused, reset, timed out)
    long other = 0;                 // any other status: a bug
    double max_request_seconds = 0;
  };

  /// `token`: sent with every request (appends need one unless the server runs --auth open).
  HttpLoad(std::string base, unsigned seed, std::string token, int appenders = 2, int readers = 2)
      : base_(std::move(base)), token_(std::move(token)) {
    for (int w = 0; w < appenders; ++w) {
      threads_.emplace_back([this, w, seed](std::stop_token s) { append_loop(s, w, seed); });
    }
    for (int r = 0; r < readers; ++r) {
      threads_.emplace_back([this, r, seed](std::stop_token s) { read_loop(s, r, seed); });
    }
  }
  ~HttpLoad() { stop(); }
  HttpLoad(const HttpLoad&) = delete;
  HttpLoad& operator=(const HttpLoad&) = delete;

  void stop() {
    for (auto& t : threads_) t.request_stop();
    threads_.clear();
  }
  /// Where the load goes from now on (a restarted server listens elsewhere).
  void retarget(std::string base) {
    std::scoped_lock lock{mutex_};
    base_ = std::move(base);
  }
  /// (event_id, position) of every acknowledged append.
  std::vector<std::pair<std::string, std::int64_t>> acked() {
    std::scoped_lock lock{mutex_};
    return acked_;
  }
  Counts counts() {
    std::scoped_lock lock{mutex_};
    return counts_;
  }
  /// The first few unexpected answers, for the failure message.
  std::vector<std::string> surprises() {
    std::scoped_lock lock{mutex_};
    return surprises_;
  }

 private:
  std::string base() {
    std::scoped_lock lock{mutex_};
    return base_;
  }

  // Sends one request; true if it got one of `ok` statuses. Everything else is counted.
  bool send(const std::string& method, const std::string& target, const std::string& body,
            std::initializer_list<unsigned> ok, api::ClientReply* reply) {
    const auto started = std::chrono::steady_clock::now();
    bool answered = true;
    try {
      *reply = api::http_call(base(), method, target, body, {{"Authorization", "Bearer " + token_}}, 30);
    } catch (const std::exception&) {
      answered = false;
    }
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::scoped_lock lock{mutex_};
    counts_.max_request_seconds = std::max(counts_.max_request_seconds, took);
    if (!answered) {
      ++counts_.transport_errors;
      return false;
    }
    if (std::find(ok.begin(), ok.end(), reply->status) != ok.end()) return true;
    if (reply->status == 503) {
      ++(reply->headers.contains("retry-after") ? counts_.unavailable : counts_.unavailable_no_retry);
    } else {
      ++counts_.other;
      if (surprises_.size() < 5)
        surprises_.push_back(fmt::format("{} {} -> {} {}", method, target, reply->status, reply->body));
    }
    return false;
  }

  void append_loop(std::stop_token stop, int writer, unsigned seed) {
    EventGenerator gen{300 + writer, seed + 1000 + static_cast<unsigned>(writer)};
    for (int n = 0; !stop.stop_requested(); ++n) {
      auto [stream, e] = gen.next();
      const std::string event_id = fmt::format("load-{}-{}", writer, n);
      const std::string body =
          nlohmann::json{{"expected_version", "any"},
                         {"events", {{{"event_id", event_id}, {"type", e.type}, {"data", e.data}}}}}
              .dump();
      while (!stop.stop_requested()) {
        api::ClientReply reply;
        if (send("POST", "/streams/" + stream + "/events", body, {200, 201}, &reply)) {
          const auto position = nlohmann::json::parse(reply.body).at("last_position").get<std::int64_t>();
          std::scoped_lock lock{mutex_};
          acked_.emplace_back(event_id, position);
          ++counts_.appends_acked;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{4});
    }
  }

  void read_loop(std::stop_token stop, int reader, unsigned seed) {
    std::mt19937 rng{seed + 2000 + static_cast<unsigned>(reader)};
    while (!stop.stop_requested()) {
      api::ClientReply reply;
      if (send("GET", fmt::format("/cars/car-{}-{}", 100 + rng() % 8, rng() % 2000), "", {200, 404}, &reply)) {
        std::scoped_lock lock{mutex_};
        ++counts_.reads_ok;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
      }
    }
  }

  std::mutex mutex_;
  std::string base_;
  const std::string token_;
  std::vector<std::pair<std::string, std::int64_t>> acked_;
  Counts counts_;
  std::vector<std::string> surprises_;
  std::vector<std::jthread> threads_;  // last: stopped and joined before the state above goes
};

}  // namespace reproj::test
