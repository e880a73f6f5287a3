#include "api/server.hpp"

#include <array>
#include <optional>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "api/errors.hpp"
#include "api/on_pool.hpp"

namespace reproj::api {

namespace {

// An append body up to this size is parsed on the I/O thread (a single event is ~100 bytes).
constexpr std::size_t kParseHereBytes = 4096;

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::debug("session ended: {}", ex.what());
  }
}

}  // namespace

Server::Server(Services& services, ServerOptions options)
    : services_(services),
      options_(std::move(options)),
      io_(options_.io_threads),
      read_pool_(static_cast<std::size_t>(options_.read_threads)),
      append_pool_(static_cast<std::size_t>(options_.append_threads)),
      admin_pool_(static_cast<std::size_t>(options_.admin_threads)),
      point_reads_(services_.live, services_.sources, read_pool_, services_.metrics, options_.point_reads),
      read_waits_(services_.live.watermarks(), options_.read_waits),
      appends_(services_.store, append_pool_, services_.metrics, options_.appends),
      acceptor_(io_) {}

Server::~Server() { stop(); }

unsigned short Server::start() {
  const asio::ip::tcp::endpoint endpoint{asio::ip::make_address(options_.address), options_.port};
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  const auto port = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, listen(), log_exception);
  for (int i = 0; i < options_.io_threads; ++i) io_threads_.emplace_back([this] { io_.run(); });
  return port;
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  asio::post(io_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  // In-flight requests finish; idle keep-alive connections are not waited for.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  io_.stop();
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
  read_pool_.join();
  append_pool_.join();
  admin_pool_.join();
}

asio::awaitable<void> Server::listen() {
  auto backoff = std::chrono::milliseconds{10};
  asio::steady_timer pause{io_};
  while (!stopping_) {
    beast::error_code ec;
    // Each connection gets its own strand: its coroutine never runs on two threads at once.
    auto socket = co_await acceptor_.async_accept(asio::make_strand(io_), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      // Out of file descriptors (EMFILE, ENFILE) or memory: the pending connection stays queued and
      // accept fails again at once. Waiting lets closing connections free descriptors; retrying at
      // once would spin a core.
      if (backoff == std::chrono::milliseconds{10} || backoff >= std::chrono::milliseconds{1000}) {
        spdlog::warn("accept: {} (retrying in {} ms)", ec.message(), backoff.count());
      }
      pause.expires_after(backoff);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      backoff = std::min(backoff * 2, std::chrono::milliseconds{1000});
      continue;
    }
    backoff = std::chrono::milliseconds{10};
    auto executor = socket.get_executor();
    if (open_connections_ >= options_.max_connections) {
      auto res = json_error(http::status::service_unavailable, "too_many_connections",
                            "the server has " + std::to_string(options_.max_connections) + " connections open");
      asio::co_spawn(executor, refuse(beast::tcp_stream{std::move(socket)}, std::move(res)), log_exception);
      continue;
    }
    Peer peer;
    peer.address = socket.remote_endpoint(ec).address().to_string();
    if (!admit(peer.address)) {
      auto res = json_error(http::status::too_many_requests, "too_many_connections",
                            "this client address has " + std::to_string(options_.max_connections_per_client) +
                                " connections open");
      asio::co_spawn(executor, refuse(beast::tcp_stream{std::move(socket)}, std::move(res)), log_exception);
      continue;
    }
    ++open_connections_;
    const auto address = peer.address;
    asio::co_spawn(executor, serve(beast::tcp_stream{std::move(socket)}, std::move(peer)),
                   [this, address](std::exception_ptr e) {
                     --open_connections_;
                     release(address);
                     log_exception(e);
                   });
  }
}

bool Server::admit(const std::string& address) {
  std::lock_guard lock{clients_mutex_};
  auto& n = client_connections_[address];
  if (n >= options_.max_connections_per_client) return false;
  ++n;
  return true;
}

void Server::release(const std::string& address) {
  std::lock_guard lock{clients_mutex_};
  auto it = client_connections_.find(address);
  if (it != client_connections_.end() && --it->second == 0) client_connections_.erase(it);
}

asio::awaitable<void> Server::refuse(beast::tcp_stream stream, Response res) {
  res.set(http::field::retry_after, "1");
  res.keep_alive(false);
  stream.expires_after(std::chrono::seconds(2));
  beast::error_code ec;
  co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

asio::awaitable<Routed> Server::answer(const Request& req, const Peer& peer) {
  // (No co_await inside ?: here: GCC 12 miscompiles it.)
  Resolved resolved = resolve(req, services_, peer);
  const Lane lane = resolved.lane;
  std::optional<PointRead> point = lane == Lane::kRead ? point_read(resolved, services_) : std::nullopt;
  Routed routed;
  if (lane == Lane::kHealth) {
    routed = handle(std::move(resolved), services_);  // no database: answered here even when every pool is busy
  } else if (point) {
    routed = co_await point_reads_.read(std::move(*point));
  } else if (lane == Lane::kAppend) {
    // A large body (up to 1000 events) is parsed off the I/O thread; a small one here, where it
    // costs less than the two thread hops (BENCH.md: "Gathering a group"). Then a group commit.
    ParsedAppend parsed;
    if (req.body().size() <= kParseHereBytes) {
      parsed = parse_append(std::move(resolved), services_);
    } else {
      parsed = co_await on_pool(append_pool_, [this, &resolved] { return parse_append(std::move(resolved), services_); });
    }
    if (parsed.request) {
      routed = co_await appends_.append(std::move(*parsed.request));
    } else {
      routed = std::move(parsed.error);
    }
  } else {
    routed = co_await on_pool(lane == Lane::kRead ? read_pool_ : admin_pool_,
                              [this, &resolved] { return handle(std::move(resolved), services_); });
  }
  co_return routed;
}

asio::awaitable<void> Server::serve(beast::tcp_stream stream, Peer peer) {
  beast::flat_buffer buffer;
  if (!options_.tls) {
    co_await session(stream, buffer, peer);
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    co_return;
  }
  beast::error_code ec;
  stream.expires_after(options_.read_timeout);
  const bool tls = co_await beast::async_detect_ssl(stream, buffer, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  if (!tls) {
    // A plain HTTP client on the HTTPS port: tell it in words it can read, then close.
    auto res = json_error(http::status::bad_request, "tls_required",
                          "this port speaks HTTPS only: use https:// (the request was plain HTTP)");
    res.keep_alive(false);
    stream.expires_after(std::chrono::seconds(5));
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    co_return;
  }
  auto context = options_.tls->current();  // this connection keeps it across a reload
  beast::ssl_stream<beast::tcp_stream> secure{std::move(stream), *context};
  const auto used = co_await secure.async_handshake(asio::ssl::stream_base::server, buffer.data(),
                                                    asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    spdlog::debug("TLS handshake with {} failed: {}", peer.address, ec.message());
    co_return;
  }
  buffer.consume(used);
  if (options_.tls->mutual()) peer.client_subject = peer_common_name(secure.native_handle());
  co_await session(secure, buffer, peer);
  beast::get_lowest_layer(secure).expires_after(std::chrono::seconds(2));
  co_await secure.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
}

template <class Stream>
asio::awaitable<void> Server::session(Stream& stream, beast::flat_buffer& buffer, const Peer& peer) {
  auto& tcp = beast::get_lowest_layer(stream);
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options_.body_limit);
    tcp.expires_after(options_.read_timeout);
    beast::error_code ec;
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // A bad request gets an answer naming the problem before the connection closes.
      std::optional<Response> reply;
      if (ec == http::error::body_limit) {
        reply = json_error(http::status::payload_too_large, "payload_too_large",
                           "request body exceeds " + std::to_string(options_.body_limit) + " bytes");
      } else if (ec == http::error::header_limit) {
        reply = json_error(http::status::request_header_fields_too_large, "headers_too_large",
                           "request headers are too large");
      } else if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::eof &&
                 ec != asio::error::connection_reset && ec != asio::error::operation_aborted &&
                 ec != http::error::partial_message) {
        reply = json_error(http::status::bad_request, "bad_request", "malformed HTTP request: " + ec.message());
      }
      if (reply) {
        const bool unread_body = ec == http::error::body_limit;
        reply->keep_alive(false);
        tcp.expires_after(std::chrono::seconds(5));
        co_await http::async_write(stream, *reply, asio::redirect_error(asio::use_awaitable, ec));
        if (unread_body) {
          // Lingering close: closing with the client's body unread would reset the connection and
          // the client could lose the 413. Drain what it still sends, bounded in bytes and time.
          beast::error_code ignored;
          tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
          std::array<char, 16384> sink;
          std::size_t drained = 0;
          tcp.expires_after(std::chrono::seconds(2));
          while (drained < (16u << 20)) {
            drained += co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ignored));
            if (ignored) break;
          }
        }
      }
      break;
    }
    ++in_flight_;
    Request req = parser.release();
    const auto started = std::chrono::steady_clock::now();
    Routed routed = co_await answer(req, peer);
    // A read further behind than it may apply itself waits for the catch-up worker (holding no
    // connection), then asks again; past the deadline its 503 projection_behind stands.
    const auto wait_until = started + options_.read_wait;
    while (routed.wait) {
      const bool moved = co_await read_waits_.wait(routed.wait->projection, routed.wait->watermark, wait_until);
      if (!moved) break;
      routed = co_await answer(req, peer);
    }
    services_.metrics.observe(routed.route, routed.response.result_int(), std::chrono::steady_clock::now() - started);
    Response& res = routed.response;
    res.version(req.version());
    res.keep_alive(req.keep_alive() && !stopping_);
    res.set(http::field::server, "reproj");
    tcp.expires_after(options_.read_timeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    --in_flight_;
    if (ec || !res.keep_alive()) break;
  }
}

}  // namespace reproj::api
