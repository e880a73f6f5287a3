#include "api/reactors/webhook_client.hpp"

namespace reproj::api {

void WebhookClient::close() {
  if (stream_) {
    beast::error_code ignored;
    stream_->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_->socket().close(ignored);
  }
  stream_.reset();
  connected_to_.clear();
}

asio::awaitable<DeliveryReply> WebhookClient::post(const WebhookUrl& url, const std::string& body,
                                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  bool stale = false;
  auto reply = co_await exchange(url, body, headers, deadline, stale);
  if (stale && Clock::now() < deadline) reply = co_await exchange(url, body, headers, deadline, stale);
  co_return reply;
}

asio::awaitable<DeliveryReply> WebhookClient::exchange(const WebhookUrl& url, const std::string& body,
                                                       const std::vector<std::pair<std::string, std::string>>& headers,
                                                       Clock::time_point deadline, bool& stale) {
  DeliveryReply out;
  beast::error_code ec;
  const std::string endpoint = url.host + ":" + url.port;
  const bool reused = stream_ && connected_to_ == endpoint;
  stale = false;
  if (!reused) {
    close();
    asio::ip::tcp::resolver resolver{executor_};
    auto found = co_await resolver.async_resolve(url.host, url.port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      out.error = "cannot resolve " + url.host + ": " + ec.message();
      co_return out;
    }
    stream_.emplace(executor_);
    stream_->expires_at(deadline);
    co_await stream_->async_connect(found, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      out.error = ec == beast::error::timeout ? "timeout" : "cannot connect: " + ec.message();
      close();
      co_return out;
    }
    connected_to_ = endpoint;
  }
  stream_->expires_at(deadline);
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.port == "80" ? url.host : endpoint);
  req.set(http::field::user_agent, "reproj");
  req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  co_await http::async_write(*stream_, req, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) {
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);  // the answer's body is not used; a huge one is a broken receiver
    co_await http::async_read(*stream_, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      const auto& res = parser.get();
      out.status = res.result_int();
      if (auto it = res.find(http::field::retry_after); it != res.end()) {
        out.retry_after = parse_retry_after(std::string{it->value()});
      }
      if (!res.keep_alive()) close();
      co_return out;
    }
  }
  // Nothing came back: a connection the receiver closed while it sat idle fails this way at once.
  stale = reused && ec != beast::error::timeout &&
          (ec == http::error::end_of_stream || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::eof);
  out.error = ec == beast::error::timeout ? "timeout" : "connection failed: " + ec.message();
  close();
  co_return out;
}

}  // namespace reproj::api
