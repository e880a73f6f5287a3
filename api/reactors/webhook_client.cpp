#include "api/reactors/webhook_client.hpp"

#include "api/reactors/webhook_tls.hpp"

namespace reproj::api {

namespace {

template <class Stream>
asio::awaitable<void> send_and_read(Stream& stream, const http::request<http::string_body>& req, DeliveryReply& out,
                                    bool& keep_alive, beast::error_code& ec) {
  co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);  // the answer's body is not used; a huge one is a broken receiver
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  const auto& res = parser.get();
  out.status = res.result_int();
  if (auto it = res.find(http::field::retry_after); it != res.end()) {
    out.retry_after = parse_retry_after(std::string{it->value()});
  }
  keep_alive = res.keep_alive();
}

}  // namespace

void WebhookClient::set_tls(std::shared_ptr<asio::ssl::context> tls) {
  if (tls == tls_) return;
  close();  // a connection made under the old context (another CA, another client certificate) goes
  tls_ = std::move(tls);
}

void WebhookClient::close() {
  if (plain_ || secure_) {
    beast::error_code ignored;
    tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    tcp().socket().close(ignored);
  }
  plain_.reset();
  secure_.reset();
  connected_to_.clear();
}

void WebhookClient::cancel() {
  if (!plain_ && !secure_) return;
  beast::error_code ignored;
  tcp().socket().close(ignored);  // the stream objects stay: the exchange in progress still uses them
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

// Opens a connection to `url` (TLS handshake included); returns why it could not, or "".
asio::awaitable<std::string> WebhookClient::connect(const WebhookUrl& url, Clock::time_point deadline) {
  close();
  beast::error_code ec;
  asio::ip::tcp::resolver resolver{executor_};
  auto found = co_await resolver.async_resolve(url.host, url.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return "cannot resolve " + url.host + ": " + ec.message();
  if (url.tls) {
    if (!tls_) co_return "no TLS context for an https:// receiver";
    secure_.emplace(executor_, *tls_);
  } else {
    plain_.emplace(executor_);
  }
  tcp().expires_at(deadline);
  co_await tcp().async_connect(found, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    close();
    co_return ec == beast::error::timeout ? "timeout" : "cannot connect: " + ec.message();
  }
  if (url.tls) {
    expect_peer(secure_->native_handle(), url.host);
    co_await secure_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      const auto why = ec == beast::error::timeout
                           ? std::string{"timeout"}
                           : "TLS handshake failed: " + handshake_failure(secure_->native_handle(), ec.message());
      close();
      co_return why;
    }
  }
  co_return "";
}

asio::awaitable<DeliveryReply> WebhookClient::exchange(const WebhookUrl& url, const std::string& body,
                                                       const std::vector<std::pair<std::string, std::string>>& headers,
                                                       Clock::time_point deadline, bool& stale) {
  DeliveryReply out;
  const std::string endpoint = url.host + ":" + url.port;
  const std::string target = (url.tls ? "https://" : "http://") + endpoint;
  const bool reused = (plain_ || secure_) && connected_to_ == target;
  stale = false;
  if (!reused) {
    out.error = co_await connect(url, deadline);
    if (!out.error.empty()) co_return out;
    connected_to_ = target;
  }
  tcp().expires_at(deadline);
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.port == (url.tls ? "443" : "80") ? url.host : endpoint);
  req.set(http::field::user_agent, "reproj");
  req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  beast::error_code ec;
  bool keep_alive = true;
  if (secure_) {
    co_await send_and_read(*secure_, req, out, keep_alive, ec);
  } else {
    co_await send_and_read(*plain_, req, out, keep_alive, ec);
  }
  if (!ec) {
    if (!keep_alive) close();
    co_return out;
  }
  // Nothing came back: a connection the receiver closed while it sat idle fails this way at once.
  stale = reused && ec != beast::error::timeout &&
          (ec == http::error::end_of_stream || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::eof || ec == asio::ssl::error::stream_truncated);
  out.status = 0;
  out.error = ec == beast::error::timeout ? "timeout" : "connection failed: " + ec.message();
  close();
  co_return out;
}

}  // namespace reproj::api
