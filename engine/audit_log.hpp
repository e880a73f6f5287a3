#pragma once
// The audit trail (reproj.audit): one row per admin action, kept in PostgreSQL so every instance
// writes to and reads the same trail. Thread-safe (each call leases its own connection).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pqxx {
class transaction_base;
}

namespace reproj::engine {

class ConnectionPool;

struct AuditEntry {
  std::int64_t id = 0;     // set when read back
  std::string at;          // RFC 3339, UTC; set when read back
  std::string token;       // who: the token's name
  std::string action;      // what, e.g. "rebuild.promote"
  std::string object;      // on which object, e.g. "cars" or "rebuild 12"
  nlohmann::json request = nlohmann::json::object();  // the request's essentials, never a secret
  std::string outcome;     // "ok" or "error: <code>"
  int status = 0;          // the HTTP status answered
};

/// Records `entry` in `tx`: the row commits (or not) with the change it describes.
void record_audit(pqxx::transaction_base& tx, const AuditEntry& entry);

class AuditLog {
 public:
  explicit AuditLog(ConnectionPool& pool) : pool_(pool) {}
  /// Records `entry` in a transaction of its own (for actions whose change committed elsewhere).
  void record(const AuditEntry& entry);
  /// Entries with id > after, oldest first, at most `limit`.
  std::vector<AuditEntry> list(std::int64_t after, std::size_t limit);

 private:
  ConnectionPool& pool_;
};

}  // namespace reproj::engine
