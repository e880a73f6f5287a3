#pragma once
// A webhook receiver for reactor tests and the bench: a real HTTP or HTTPS server on 127.0.0.1
// (Beast, blocking, a thread per connection) that records every request it gets and answers as the
// test decides — 2xx, an error status, a hang past the client's timeout, or a closed connection.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include "api/asio.hpp"

namespace reproj::test {

namespace asio = api::asio;
namespace beast = api::beast;
namespace http = api::http;

class Receiver {
 public:
  using Clock = std::chrono::steady_clock;
  struct Hit {
    std::string key;        // Idempotency-Key
    int attempt = 0;        // X-Reproj-Attempt
    std::string signature;  // X-Reproj-Signature
    std::string instance;   // X-Reproj-Instance
    std::string event_id;   // from the body
    std::int64_t position = 0;
    std::string type;
    std::string body;
    Clock::time_point at;
    unsigned answered = 0;  // status sent; 0: hung or closed
  };
  // What to do with a request: a status to answer (200, 500, 400, 429, ...), kHang (answer nothing
  // for hang_for, then close) or kClose (close at once).
  static constexpr unsigned kHang = 1, kClose = 2;
  using Decide = std::function<unsigned(const Hit&)>;

  Receiver() : acceptor_(io_) { listen(0); }
  /// HTTPS with this certificate chain and key (PEM files); with `client_ca`, a client certificate
  /// signed by it is required.
  Receiver(const std::string& cert_file, const std::string& key_file, const std::string& client_ca = "")
      : acceptor_(io_), tls_(std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server)) {
    tls_->use_certificate_chain_file(cert_file);
    tls_->use_private_key_file(key_file, asio::ssl::context::pem);
    if (!client_ca.empty()) {
      tls_->load_verify_file(client_ca);
      tls_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
    listen(0);
  }
  ~Receiver() { shut(); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::string url(const std::string& path = "/hook", const std::string& host = "127.0.0.1") const {
    return (tls_ ? "https://" : "http://") + host + ":" + std::to_string(port_) + path;
  }
  /// TLS handshakes that failed (the client refused the certificate, or spoke plain HTTP).
  std::size_t failed_handshakes() const { return failed_handshakes_; }
  /// The SNI names TLS clients sent ("" for none).
  std::set<std::string> server_names() const {
    std::lock_guard lock{mutex_};
    return server_names_;
  }
  /// Connections accepted.
  std::size_t connections() const { return connections_; }
  void decide(Decide d) {
    std::lock_guard lock{mutex_};
    decide_ = std::move(d);
  }
  void retry_after(std::string seconds) {
    std::lock_guard lock{mutex_};
    retry_after_ = std::move(seconds);
  }
  std::chrono::milliseconds hang_for{1000};
  /// Every answer waits this long first (outside the receiver's lock: requests overlap).
  std::atomic<int> answer_after_ms{0};
  /// The most requests this receiver had open at once (read, not yet answered).
  int most_concurrent() const { return most_concurrent_; }
  std::vector<Hit> hits() const {
    std::lock_guard lock{mutex_};
    return hits_;
  }
  /// Event ids answered 2xx, in order of their first 2xx.
  std::vector<std::string> acknowledged_in_order() const {
    std::lock_guard lock{mutex_};
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& h : hits_) {
      if (h.answered >= 200 && h.answered < 300 && seen.insert(h.event_id).second) out.push_back(h.event_id);
    }
    return out;
  }
  std::size_t acknowledged_count() const {
    std::lock_guard lock{mutex_};
    return acknowledged_;
  }

 private:
  void listen(unsigned short port) {
    const asio::ip::tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), port};
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  void shut() {
    stopping_ = true;
    beast::error_code ec;
    {  // a blocking accept() does not return when another thread closes the socket: wake it
      asio::ip::tcp::socket wake{io_};
      wake.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    acceptor_.close(ec);
    std::unique_lock lock{mutex_};
    for (auto& weak : sockets_) {
      if (auto s = weak.lock()) s->shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    }
    done_.wait(lock, [this] { return serving_ == 0; });
  }

  void accept_loop() {
    while (!stopping_) {
      auto socket = std::make_shared<asio::ip::tcp::socket>(io_);
      beast::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec) {
        if (stopping_) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      std::lock_guard lock{mutex_};
      std::erase_if(sockets_, [](const auto& w) { return w.expired(); });
      sockets_.push_back(socket);
      ++serving_;
      ++connections_;
      std::thread([this, socket] {
        serve(*socket);
        std::lock_guard done{mutex_};
        --serving_;
        done_.notify_all();
      }).detach();
    }
  }

  void serve(asio::ip::tcp::socket& socket) {
    if (!tls_) {
      serve_on(socket);
    } else {
      asio::ssl::stream<asio::ip::tcp::socket&> secure{socket, *tls_};
      beast::error_code ec;
      secure.handshake(asio::ssl::stream_base::server, ec);
      if (ec) {
        ++failed_handshakes_;
      } else {
        const char* sni = SSL_get_servername(secure.native_handle(), TLSEXT_NAMETYPE_host_name);
        {
          std::lock_guard lock{mutex_};
          server_names_.insert(sni ? sni : "");
        }
        serve_on(secure);
      }
    }
    beast::error_code ignored;
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  template <class Stream>
  void serve_on(Stream& socket) {
    beast::flat_buffer buffer;
    while (!stopping_) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) break;
      Hit hit;
      hit.at = Clock::now();
      hit.key = std::string{req["Idempotency-Key"]};
      hit.attempt = std::atoi(std::string{req["X-Reproj-Attempt"]}.c_str());
      hit.signature = std::string{req["X-Reproj-Signature"]};
      hit.instance = std::string{req["X-Reproj-Instance"]};
      hit.body = req.body();
      const auto j = nlohmann::json::parse(hit.body, nullptr, false);
      if (j.is_object()) {
        hit.event_id = j.value("event_id", "");
        hit.position = j.value("global_position", std::int64_t{0});
        hit.type = j.value("type", "");
      }
      unsigned what = 200;
      std::string retry_after;
      {
        std::lock_guard lock{mutex_};
        if (decide_) what = decide_(hit);
        retry_after = retry_after_;
      }
      // Recorded on arrival (a hung request's retry arrives before the hang ends); a 2xx is marked
      // before the answer leaves, so a sender that saw it finds it here.
      const std::size_t index = record(hit);
      const int open = ++open_requests_;
      for (int seen = most_concurrent_; open > seen && !most_concurrent_.compare_exchange_weak(seen, open);) {
      }
      struct Closing {
        std::atomic<int>& n;
        ~Closing() { --n; }
      } closing{open_requests_};
      if (const int ms = answer_after_ms; ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      if (what == kHang) {
        const auto until = Clock::now() + hang_for;
        while (!stopping_ && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        break;
      }
      if (what == kClose) break;
      http::response<http::string_body> res{static_cast<http::status>(what), req.version()};
      res.keep_alive(req.keep_alive());
      if ((what == 429 || what == 503) && !retry_after.empty()) res.set(http::field::retry_after, retry_after);
      res.body() = "{}";
      res.prepare_payload();
      answered(index, what);
      http::write(socket, res, ec);
      if (ec || !res.keep_alive()) break;
    }
  }

  std::size_t record(const Hit& hit) {
    std::lock_guard lock{mutex_};
    hits_.push_back(hit);
    return hits_.size() - 1;
  }
  void answered(std::size_t index, unsigned status) {
    std::lock_guard lock{mutex_};
    hits_[index].answered = status;
    if (status >= 200 && status < 300) ++acknowledged_;
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::atomic<std::size_t> failed_handshakes_{0};
  std::atomic<std::size_t> connections_{0};
  std::atomic<int> open_requests_{0};
  std::atomic<int> most_concurrent_{0};
  unsigned short port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  Decide decide_;
  std::string retry_after_;
  std::vector<Hit> hits_;
  std::set<std::string> server_names_;
  std::size_t acknowledged_ = 0;
  std::vector<std::weak_ptr<asio::ip::tcp::socket>> sockets_;
  int serving_ = 0;  // connection threads still running
  std::condition_variable done_;
};

}  // namespace reproj::test
