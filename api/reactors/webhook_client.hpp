#pragma once
// The outgoing HTTP(S) client of one reactor's delivery slot: Beast on the server's io_context (no
// thread per delivery), one keep-alive connection reused across deliveries, TLS when the URL is
// https:// (webhook_tls.hpp). Not thread-safe: one coroutine at a time (on the reactor's strand)
// uses it; a reactor with N requests in flight has N clients.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include "api/asio.hpp"
#include "api/reactors/delivery_policy.hpp"
#include "api/reactors/webhook_url.hpp"

namespace reproj::api {

class WebhookClient {
 public:
  explicit WebhookClient(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  /// The TLS context for https:// URLs from the next connection on (null: none; an https:// post
  /// then fails).
  void set_tls(std::shared_ptr<asio::ssl::context> tls);

  /// POSTs `body` (application/json) with `headers` to `url`; the whole exchange (connect, TLS
  /// handshake, send, answer) is bounded by `timeout`. Never throws: a failure comes back as a reply
  /// with status 0. A reused connection the receiver had closed while idle is retried once on a
  /// new one.
  asio::awaitable<DeliveryReply> post(const WebhookUrl& url, const std::string& body,
                                      const std::vector<std::pair<std::string, std::string>>& headers,
                                      std::chrono::milliseconds timeout);
  /// Closes the connection. Not while a post() is in progress (use cancel()).
  void close();
  /// Makes a post() in progress end at once with an error.
  void cancel();

 private:
  asio::awaitable<DeliveryReply> exchange(const WebhookUrl& url, const std::string& body,
                                          const std::vector<std::pair<std::string, std::string>>& headers,
                                          Clock::time_point deadline, bool& stale);
  asio::awaitable<std::string> connect(const WebhookUrl& url, Clock::time_point deadline);
  beast::tcp_stream& tcp() { return secure_ ? beast::get_lowest_layer(*secure_) : *plain_; }

  asio::any_io_executor executor_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure_;
  std::string connected_to_;  // scheme://host:port of the open connection; empty: none
};

}  // namespace reproj::api
