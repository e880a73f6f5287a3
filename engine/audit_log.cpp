#include "engine/audit_log.hpp"

#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"

namespace reproj::engine {

void record_audit(pqxx::transaction_base& tx, const AuditEntry& e) {
  if (e.id > 0) {
    // The object may be known only now (a token's name comes from the body).
    tx.exec_params("UPDATE reproj.audit SET outcome = $2, status = $3, object = CASE WHEN $4 = '' THEN object ELSE $4 END "
                   "WHERE id = $1",
                   e.id, e.outcome, e.status, e.object);
    return;
  }
  tx.exec_params(
      "INSERT INTO reproj.audit (token, action, object, request, outcome, status) VALUES ($1, $2, $3, $4::jsonb, $5, $6)",
      e.token, e.action, e.object, e.request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), e.outcome,
      e.status);
}

void AuditLog::record(const AuditEntry& entry) {
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx{c};
    record_audit(tx, entry);
    tx.commit();
  });
}

std::int64_t AuditLog::begin(const AuditEntry& e) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::work tx{c};
    const auto id = tx.exec_params1(
                          "INSERT INTO reproj.audit (token, action, object, request, outcome, status) "
                          "VALUES ($1, $2, $3, $4::jsonb, 'pending', 0) RETURNING id",
                          e.token, e.action, e.object,
                          e.request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))[0]
                        .as<std::int64_t>();
    tx.commit();
    return id;
  });
}

void AuditLog::finish(std::int64_t id, const std::string& outcome, int status) {
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec_params("UPDATE reproj.audit SET outcome = $2, status = $3 WHERE id = $1", id, outcome, status);
    tx.commit();
  });
}

std::vector<AuditEntry> AuditLog::list(std::int64_t after, std::size_t limit) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    const auto rows = tx.exec_params(
        "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), token, action, object, "
        "request::text, outcome, status FROM reproj.audit WHERE id > $1 ORDER BY id LIMIT $2",
        after, static_cast<std::int64_t>(limit));
    std::vector<AuditEntry> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
      AuditEntry e;
      e.id = r[0].as<std::int64_t>();
      e.at = r[1].as<std::string>();
      e.token = r[2].as<std::string>();
      e.action = r[3].as<std::string>();
      e.object = r[4].as<std::string>();
      e.request = nlohmann::json::parse(r[5].as<std::string>());
      e.outcome = r[6].as<std::string>();
      e.status = r[7].as<int>();
      out.push_back(std::move(e));
    }
    return out;
  });
}

}  // namespace reproj::engine
