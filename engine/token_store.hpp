#pragma once
// Named access tokens (reproj.tokens): what operators create and revoke, and what every instance
// reads to authorise requests (docs/DESIGN.md, invariant 17). Only a secret's SHA-256 (hex) is passed and stored; the
// caller makes the secret and shows it once. Each change commits with its audit row. Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "engine/audit_log.hpp"

namespace reproj::engine {

class ConnectionPool;

struct TokenInfo {
  std::string name;
  std::vector<std::string> scopes;
  std::string created_at;  // RFC 3339, UTC
  std::string created_by;  // the token that created it
  std::string expires_at;  // RFC 3339, UTC; empty: never
};

/// What authorisation needs of a live (unexpired) token.
struct ActiveToken {
  std::string secret_sha256;  // hex, lower case
  std::string name;
  std::vector<std::string> scopes;
};

class TokenStore {
 public:
  explicit TokenStore(ConnectionPool& pool) : pool_(pool) {}

  /// Stores a token and `audit` (record_audit: an id finishes a begun row) in one transaction. Throws InvalidInput for a bad name, scope or
  /// expiry (RFC 3339, in the future), StateConflict when the name is taken.
  TokenInfo create(const std::string& name, const std::vector<std::string>& scopes, const std::string& secret_sha256,
                   const std::optional<std::string>& expires_at, const AuditEntry& audit);
  /// Every token, by name; never a secret or its hash.
  std::vector<TokenInfo> list();
  /// Deletes the token and records `audit`, in one transaction. Throws NotFound.
  void revoke(const std::string& name, const AuditEntry& audit);
  /// The tokens that may be used now.
  std::vector<ActiveToken> active();

 private:
  ConnectionPool& pool_;
};

/// Whether `name` may name a token; the problem otherwise (empty when valid).
std::string token_name_problem(const std::string& name);

}  // namespace reproj::engine
