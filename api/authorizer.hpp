#pragma once
// Who a request comes from and whether it may do what it asks (docs/DESIGN.md, invariant 17):
// bearer tokens (reproj.tokens, refreshed from PostgreSQL so a revocation reaches every instance
// within a second), the admin token from REPROJ_ADMIN_TOKEN, an mTLS client certificate naming a
// token, the --auth mode, and per-client rate limits. Runs on the I/O thread: no database call on
// the request path. Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/asio.hpp"
#include "api/rate_limiter.hpp"
#include "engine/access_scopes.hpp"

namespace reproj::engine {
class TokenStore;
}

namespace reproj::api {

class RequestMetrics;

/// --auth: required (every route but the public ones needs a token), open-reads (reads need none;
/// appends and admin do), open (only admin needs one; a warning at start).
enum class AuthMode { kRequired, kOpenReads, kOpen };
std::optional<AuthMode> parse_auth_mode(std::string_view text);
std::string_view auth_mode_name(AuthMode mode);

/// What the transport knows of a client.
struct Peer {
  std::string address;         // the remote IP
  std::string client_subject;  // the CN of a verified client certificate (mTLS), else empty
};

/// Who is asking: a token's name and its scopes, or an anonymous client (name "anonymous").
struct Principal {
  std::string name = "anonymous";
  std::vector<std::string> scopes;
  bool anonymous = true;
};

class Authorizer {
 public:
  struct Options {
    AuthMode mode = AuthMode::kOpenReads;
    std::string admin_token;             // empty: none; else a token with every scope
    std::string admin_name = "admin";    // its name in the audit trail
    RateLimiter::Options limits;
    std::chrono::milliseconds refresh{250};  // how often tokens are re-read from PostgreSQL
  };
  /// `tokens` null: only the admin token is known. `metrics` may be null. With `tokens`, reads them
  /// once now (throws when the database cannot be read) and then every `refresh` on a thread.
  Authorizer(Options options, engine::TokenStore* tokens, RequestMetrics* metrics);
  ~Authorizer();
  Authorizer(const Authorizer&) = delete;
  Authorizer& operator=(const Authorizer&) = delete;

  /// The principal of `req` if it may have `access` to `object` (the projection or stream id).
  /// Throws HttpError: 401 unauthorized (no token where one is needed; an unknown, revoked or
  /// expired one: the same answer for all three), 403 forbidden (naming the missing scope), 429
  /// rate_limited (with the wait in the error's retry_after).
  Principal authorize(const Request& req, const Peer& peer, engine::Access access, std::string_view object) const;

  /// Re-reads the tokens now (after this instance changed them; the thread does it every `refresh`).
  void refresh() const;
  AuthMode mode() const { return options_.mode; }

 private:
  struct Known {
    std::string name;
    std::vector<std::string> scopes;
  };
  using Table = std::unordered_map<std::string, Known>;  // SHA-256 hex of the secret -> token
  std::shared_ptr<const Table> table() const;
  std::optional<Principal> from_secret(std::string_view secret) const;
  std::optional<Principal> from_subject(const std::string& subject) const;
  [[noreturn]] void refuse(http::status status, const std::string& code, const std::string& message,
                           const std::string& reason, const Peer& peer) const;

  const Options options_;
  const std::string admin_sha256_;
  engine::TokenStore* tokens_;
  RequestMetrics* metrics_;
  mutable RateLimiter limiter_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const Table> table_;  // guarded by mutex_
  mutable std::chrono::steady_clock::time_point last_log_{};  // guarded by mutex_
  mutable std::size_t unlogged_ = 0;                          // guarded by mutex_
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread refresher_;
};

/// A 429 with Retry-After (seconds, rounded up).
class RateLimited : public std::runtime_error {
 public:
  RateLimited(std::chrono::milliseconds wait, const std::string& message) : std::runtime_error(message), wait_(wait) {}
  std::chrono::milliseconds wait() const { return wait_; }

 private:
  std::chrono::milliseconds wait_;
};

}  // namespace reproj::api
