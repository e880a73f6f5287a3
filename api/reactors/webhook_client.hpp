#pragma once
// The outgoing HTTP client of one reactor: Beast on the server's io_context (no thread per
// delivery), one keep-alive connection reused across deliveries. Not thread-safe: one coroutine
// (on one strand) uses it.

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/asio.hpp"
#include "api/reactors/delivery_policy.hpp"
#include "api/reactors/webhook_url.hpp"

namespace reproj::api {

class WebhookClient {
 public:
  explicit WebhookClient(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  /// POSTs `body` (application/json) with `headers` to `url`; the whole exchange (connect, send,
  /// answer) is bounded by `timeout`. Never throws: a failure comes back as a reply with status 0.
  /// A reused connection the receiver had closed while idle is retried once on a new one.
  asio::awaitable<DeliveryReply> post(const WebhookUrl& url, const std::string& body,
                                      const std::vector<std::pair<std::string, std::string>>& headers,
                                      std::chrono::milliseconds timeout);
  void close();

 private:
  asio::awaitable<DeliveryReply> exchange(const WebhookUrl& url, const std::string& body,
                                          const std::vector<std::pair<std::string, std::string>>& headers,
                                          Clock::time_point deadline, bool& stale);

  asio::any_io_executor executor_;
  std::optional<beast::tcp_stream> stream_;
  std::string connected_to_;  // host:port of stream_
};

}  // namespace reproj::api
