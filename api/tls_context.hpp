#pragma once
// The server's TLS settings (--tls-cert, --tls-key, --tls-client-ca): TLS 1.2 and later, forward-
// secret AEAD ciphers only. reload() (on SIGHUP) reads the files again into a new context: new
// connections get it, connections already open keep theirs, so a certificate rotation drops none.
// Thread-safe.

#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl.hpp>

namespace reproj::api {

class TlsContext {
 public:
  struct Files {
    std::string cert;       // PEM chain, the server's certificate first
    std::string key;        // PEM private key
    std::string client_ca;  // PEM CA(s) for client certificates; empty: none asked for
  };
  /// Throws std::runtime_error naming the file that cannot be used.
  explicit TlsContext(Files files);
  /// Reads the files again; on failure throws and keeps the context it had.
  void reload();
  std::shared_ptr<boost::asio::ssl::context> current() const;
  bool mutual() const { return !files_.client_ca.empty(); }

 private:
  std::shared_ptr<boost::asio::ssl::context> load() const;
  const Files files_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> current_;  // guarded by mutex_
};

/// The common name of the peer's verified certificate on `ssl`, or empty.
std::string peer_common_name(SSL* ssl);

}  // namespace reproj::api
