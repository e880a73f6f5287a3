#include "api/reactors/webhook_tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "engine/errors.hpp"

namespace reproj::api {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_webhook_tls(const engine::ReactorConfig& config) {
  using engine::InvalidInput;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (config.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) throw InvalidInput("the system's CA store cannot be read: " + ec.message());
  } else {
    ctx->load_verify_file(config.ca_file, ec);
    if (ec) throw InvalidInput("ca_file: cannot use " + config.ca_file + ": " + ec.message());
  }
  if (!config.client_cert_file.empty()) {
    ctx->use_certificate_chain_file(config.client_cert_file, ec);
    if (ec) throw InvalidInput("client_cert_file: cannot use " + config.client_cert_file + ": " + ec.message());
    ctx->use_private_key_file(config.client_key_file, ssl::context::pem, ec);
    if (ec) throw InvalidInput("client_key_file: cannot use " + config.client_key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      throw InvalidInput("client_key_file: the key does not match the certificate in " + config.client_cert_file);
    }
  }
  return ctx;
}

void expect_peer(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (!ec) {  // an IP address: no SNI (RFC 6066), checked against the certificate's IP entries
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    return;
  }
  // SSL_set_tlsext_host_name is a macro with a C cast, refused by -Werror=old-style-cast.
  SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str()));
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
}

std::string handshake_failure(SSL* ssl, const std::string& fallback) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify == X509_V_OK) return fallback;
  return std::string{"certificate refused: "} + X509_verify_cert_error_string(verify);
}

}  // namespace reproj::api
