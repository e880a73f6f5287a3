#include "api/http_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include "api/asio.hpp"

namespace reproj::api {

namespace {

// One exchange on `stream` (plain or TLS): the request written, the answer read.
template <class Stream>
ClientReply exchange(Stream& stream, const std::string& base, const std::string& host, const std::string& method,
                     const std::string& target, const std::string& body, const std::map<std::string, std::string>& headers) {
  beast::error_code ec;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::write(stream, req, ec);
  // A server may answer (e.g. 413) and stop reading before the body is sent: read its answer anyway.
  const auto write_error = ec;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(stream, buffer, parser, ec);
  if (ec && write_error) throw std::runtime_error("cannot send to " + base + ": " + write_error.message());
  if (ec) throw std::runtime_error("no answer from " + base + ": " + ec.message());
  ClientReply out;
  const auto& res = parser.get();
  out.status = res.result_int();
  out.body = res.body();
  for (const auto& f : res) {
    std::string name{f.name_string()};
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers[name] = std::string{f.value()};
  }
  return out;
}

}  // namespace

ClientReply http_call(const std::string& base, const std::string& method, const std::string& target,
                      const std::string& body, const std::map<std::string, std::string>& headers,
                      int timeout_seconds, const std::string& cacert) {
  std::string rest = base;
  const bool tls = rest.rfind("https://", 0) == 0;
  if (tls) {
    rest = rest.substr(8);
  } else if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("server must be http(s)://host:port, got " + base);
  const std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);

  asio::io_context io;
  asio::ip::tcp::resolver resolver{io};
  beast::tcp_stream stream{io};
  beast::error_code ec;
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) throw std::runtime_error("cannot resolve " + host + ": " + ec.message());
  stream.connect(endpoints, ec);
  if (ec) throw std::runtime_error("cannot reach " + base + ": " + ec.message());
  // Synchronous Beast calls ignore tcp_stream's expiry: a socket timeout makes a hung server an error.
  const timeval tv{timeout_seconds, 0};
  ::setsockopt(stream.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(stream.socket().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (!tls) {
    auto out = exchange(stream, base, host, method, target, body, headers);
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return out;
  }
  namespace ssl = asio::ssl;
  ssl::context ctx{ssl::context::tls_client};
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_verify_mode(ssl::verify_peer);
  std::string ca = cacert;
  if (ca.empty()) {
    if (const char* env = std::getenv("REPROJ_CACERT"); env && *env) ca = env;
  }
  if (ca.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(ca, ec);
    if (ec) throw std::runtime_error("cannot use CA file " + ca + ": " + ec.message());
  }
  beast::ssl_stream<beast::tcp_stream> secure{std::move(stream), ctx};
  // SNI (SSL_set_tlsext_host_name is a macro with a C cast, refused by -Werror=old-style-cast).
  SSL_ctrl(secure.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str()));
  secure.set_verify_callback(ssl::host_name_verification(host));
  secure.handshake(ssl::stream_base::client, ec);
  if (ec) {
    std::string why = ec.message();
    const long verify = SSL_get_verify_result(secure.native_handle());
    if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
    throw std::runtime_error("TLS with " + base + " failed: " + why);
  }
  auto out = exchange(secure, base, host, method, target, body, headers);
  secure.shutdown(ec);  // a peer that closes without close_notify is no error here
  return out;
}

}  // namespace reproj::api
