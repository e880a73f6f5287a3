#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/asio.hpp"
#include "api/append_batcher.hpp"
#include "api/read_batcher.hpp"
#include "api/read_waits.hpp"
#include "api/router.hpp"
#include "api/tls_context.hpp"

namespace reproj::api {

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8080;  // 0: any free port (start() returns it)
  // I/O threads only parse and write; handlers run on the database threads. On 2 cores one I/O
  // thread keeps up with the database.
  int io_threads = 1;
  // Blocking libpqxx work runs on one thread pool per lane (router.hpp: Lane), so a stuck appender
  // holds up neither reads nor operators. 4 read threads measured best for strong reads on 2 cores
  // (BENCH.md: "Tuning choices"). The connection pool needs one connection per thread.
  int read_threads = 4;
  int append_threads = 4;
  int admin_threads = 2;
  int db_threads() const { return read_threads + append_threads + admin_threads; }
  // Connections open at once; one more is answered 503 and closed. Accept errors (out of file
  // descriptors) back off instead of spinning.
  std::size_t max_connections = 1024;
  // Of those, open at once from one client address; one more is answered 429 and closed, so one
  // client cannot take every connection (REPROJ_MAX_CONNECTIONS_PER_CLIENT).
  std::size_t max_connections_per_client = 512;
  // Set: the port speaks HTTPS only (a plain HTTP request is answered 400 naming the problem).
  std::shared_ptr<TlsContext> tls;
  // Per request: a client that is slow or silent for this long while sending headers or a body
  // (or idle between keep-alive requests) is disconnected.
  std::chrono::milliseconds read_timeout{30'000};
  std::size_t body_limit = 1 << 20;
  ReadBatcher::Options point_reads;
  // A strong read further behind than it may apply itself (engine::LiveOptions::max_read_apply)
  // waits this long, from its arrival, for the catch-up worker before answering 503
  // projection_behind (REPROJ_READ_WAIT_MS). Zero answers at once.
  std::chrono::milliseconds read_wait{5000};
  ReadWaits::Options read_waits;
  AppendBatcher::Options appends;  // group commit
};

/// The HTTP server: Boost.Beast on Asio, one strand and one coroutine per connection.
/// start() binds and serves on background threads; stop() stops accepting, lets in-flight
/// requests finish (bounded) and joins every thread. Not copyable; `services` must outlive it.
class Server {
 public:
  Server(Services& services, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Throws std::system_error when the address cannot be bound. Returns the bound port.
  unsigned short start();
  void stop();
  /// The I/O context the server runs (reactors deliver on it); running between start() and stop().
  asio::io_context& io() { return io_; }

 private:
  asio::awaitable<void> listen();
  asio::awaitable<void> serve(beast::tcp_stream stream, Peer peer);  // TLS or not, then session()
  template <class Stream>
  asio::awaitable<void> session(Stream& stream, beast::flat_buffer& buffer, const Peer& peer);
  asio::awaitable<Routed> answer(const Request& req, const Peer& peer);  // one attempt at an answer, in its lane
  // Past max_connections (or the client's share): `res` and close.
  asio::awaitable<void> refuse(beast::tcp_stream stream, Response res);
  bool admit(const std::string& address);  // counts a connection from `address` if it is within its share
  void release(const std::string& address);

  Services& services_;
  const ServerOptions options_;
  asio::io_context io_;
  asio::thread_pool read_pool_;
  asio::thread_pool append_pool_;
  asio::thread_pool admin_pool_;
  ReadBatcher point_reads_;
  ReadWaits read_waits_;
  AppendBatcher appends_;
  asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> io_threads_;
  std::atomic<int> in_flight_{0};
  std::atomic<std::size_t> open_connections_{0};
  std::mutex clients_mutex_;
  std::map<std::string, std::size_t> client_connections_;  // open connections by address; guarded
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
};

}  // namespace reproj::api
