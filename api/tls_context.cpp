#include "api/tls_context.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <stdexcept>

namespace reproj::api {

namespace ssl = boost::asio::ssl;

namespace {
// TLS 1.2: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only. TLS 1.3's suites are all AEAD.
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
}  // namespace

TlsContext::TlsContext(Files files) : files_(std::move(files)), current_(load()) {}

std::shared_ptr<ssl::context> TlsContext::load() const {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(ctx->native_handle(), kCiphers) != 1) throw std::runtime_error("TLS: no usable cipher");
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files_.cert, ec);
  if (ec) throw std::runtime_error("TLS: cannot use certificate file " + files_.cert + ": " + ec.message());
  ctx->use_private_key_file(files_.key, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("TLS: cannot use key file " + files_.key + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    throw std::runtime_error("TLS: the key in " + files_.key + " does not match the certificate in " + files_.cert);
  }
  if (!files_.client_ca.empty()) {
    ctx->load_verify_file(files_.client_ca, ec);
    if (ec) throw std::runtime_error("TLS: cannot use client CA file " + files_.client_ca + ": " + ec.message());
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

void TlsContext::reload() {
  auto next = load();
  std::lock_guard lock{mutex_};
  current_ = std::move(next);
}

std::shared_ptr<ssl::context> TlsContext::current() const {
  std::lock_guard lock{mutex_};
  return current_;
}

std::string peer_common_name(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  std::array<char, 256> cn{};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn.data(), static_cast<int>(cn.size()));
  X509_free(cert);
  return n > 0 && SSL_get_verify_result(ssl) == X509_V_OK ? std::string{cn.data(), static_cast<std::size_t>(n)} : std::string{};
}

}  // namespace reproj::api
