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
  std::int64_t id = 0;     // set by begin() and when read back
  std::string at;          // RFC 3339, UTC; set when read back
  std::string token;       // who: the token's name
  std::string action;      // what, e.g. "rebuild.promote"
  std::string object;      // on which object, e.g. "cars" or "rebuild 12"
  nlohmann::json request = nlohmann::json::object();  // the request's essentials, never a secret
  std::string outcome;     // "ok", "error: <code>", or "pending" (begun, not finished: the process died)
  int status = 0;          // the HTTP status answered
};

/// Records `entry` in `tx`: the row commits (or not) with the change it describes. With an id (from
/// AuditLog::begin) it finishes that row (outcome and status) instead of adding one.
void record_audit(pqxx::transaction_base& tx, const AuditEntry& entry);

class AuditLog {
 public:
  explicit AuditLog(ConnectionPool& pool) : pool_(pool) {}
  /// Records `entry` in a transaction of its own.
  void record(const AuditEntry& entry);
  /// Records `entry` as "pending" before the action runs, so no action goes unrecorded: a process
  /// that dies before finish() leaves the row pending. Returns its id.
  std::int64_t begin(const AuditEntry& entry);
  /// The outcome of the action begun as `id`.
  void finish(std::int64_t id, const std::string& outcome, int status);
  /// Entries with id > after, oldest first, at most `limit`.
  std::vector<AuditEntry> list(std::int64_t after, std::size_t limit);

 private:
  ConnectionPool& pool_;
};

}  // namespace reproj::engine
