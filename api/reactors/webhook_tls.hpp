#pragma once
// TLS towards a reactor's https:// receiver: the client context its configuration asks for (the
// system's CA store or its ca_file, its client certificate) and, per connection, SNI and the check
// that the certificate names the URL's host. A certificate the receiver presents that does not
// verify is a failed delivery with the reason (never skipped, never accepted).

#include <memory>
#include <string>

#include <boost/asio/ssl.hpp>

#include "engine/reactor.hpp"

namespace reproj::api {

/// TLS 1.2 or later, peer verification on. Throws engine::InvalidInput naming a file that cannot be
/// used (unreadable, not PEM, a key that does not match its certificate).
std::shared_ptr<boost::asio::ssl::context> make_webhook_tls(const engine::ReactorConfig& config);

/// Before the handshake on `ssl`: SNI for a DNS name, and the name or IP address the receiver's
/// certificate must carry.
void expect_peer(SSL* ssl, const std::string& host);

/// Why a handshake failed: OpenSSL's verification result when the certificate was refused
/// ("certificate has expired", "hostname mismatch", ...), else `fallback`.
std::string handshake_failure(SSL* ssl, const std::string& fallback);

}  // namespace reproj::api
