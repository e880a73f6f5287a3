#include "engine/token_store.hpp"

#include <regex>

#include <nlohmann/json.hpp>

#include <pqxx/pqxx>

#include "engine/access_scopes.hpp"
#include "engine/connection_pool_run.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

namespace {

constexpr const char* kTime = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";

// Scopes travel as JSON (array_to_json / jsonb_array_elements_text): libpqxx 6 has no array parameters.
std::vector<std::string> text_array(const pqxx::field& f) {
  return nlohmann::json::parse(f.as<std::string>()).get<std::vector<std::string>>();
}

}  // namespace

std::string token_name_problem(const std::string& name) {
  static const std::regex kName{"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$"};
  if (!std::regex_match(name, kName)) {
    return "token name must be 1 to 63 letters, digits, '_', '.', '@' or '-', starting with a letter or digit";
  }
  return {};
}

TokenInfo TokenStore::create(const std::string& name, const std::vector<std::string>& scopes,
                             const std::string& secret_sha256, const std::optional<std::string>& expires_at,
                             const AuditEntry& audit) {
  if (auto p = token_name_problem(name); !p.empty()) throw InvalidInput(p);
  if (scopes.empty()) throw InvalidInput("a token needs at least one scope");
  for (const auto& s : scopes) {
    if (auto p = scope_problem(s); !p.empty()) throw InvalidInput(p);
  }
  return pool_.run([&](pqxx::connection& c) {
    pqxx::work tx{c};
    if (expires_at) {
      bool future = false;
      try {
        pqxx::subtransaction check{tx, "expiry"};
        future = check.exec_params1("SELECT $1::timestamptz > now()", *expires_at)[0].as<bool>();
        check.commit();
      } catch (const pqxx::data_exception&) {
        throw InvalidInput("expires_at must be an RFC 3339 time, got '" + expires_at->substr(0, 60) + "'");
      }
      if (!future) throw InvalidInput("expires_at must be in the future");
    }
    const auto inserted = tx.exec_params(
        std::string{"INSERT INTO reproj.tokens (name, secret_sha256, scopes, created_by, expires_at) "
                    "VALUES ($1, decode($2, 'hex'), ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4, "
                    "NULLIF($5, '')::timestamptz) ON CONFLICT (name) DO NOTHING "
                    "RETURNING to_char(created_at AT TIME ZONE 'UTC', "} +
            kTime + "), coalesce(to_char(expires_at AT TIME ZONE 'UTC', " + kTime + "), '')",
        name, secret_sha256, nlohmann::json(scopes).dump(), audit.token, expires_at.value_or(""));
    if (inserted.empty()) throw StateConflict("a token named '" + name + "' exists");
    record_audit(tx, audit);
    tx.commit();
    return TokenInfo{name, scopes, inserted[0][0].as<std::string>(), audit.token, inserted[0][1].as<std::string>()};
  });
}

std::vector<TokenInfo> TokenStore::list() {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    const auto rows = tx.exec(std::string{"SELECT name, array_to_json(scopes)::text, to_char(created_at AT TIME ZONE 'UTC', "} + kTime +
                              "), created_by, coalesce(to_char(expires_at AT TIME ZONE 'UTC', " + kTime +
                              "), '') FROM reproj.tokens ORDER BY name");
    std::vector<TokenInfo> out;
    for (const auto& r : rows) {
      out.push_back({r[0].as<std::string>(), text_array(r[1]), r[2].as<std::string>(), r[3].as<std::string>(),
                     r[4].as<std::string>()});
    }
    return out;
  });
}

void TokenStore::revoke(const std::string& name, const AuditEntry& audit) {
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx{c};
    if (tx.exec_params("DELETE FROM reproj.tokens WHERE name = $1", name).affected_rows() == 0) {
      throw NotFound("no token named '" + name + "'");
    }
    record_audit(tx, audit);
    tx.commit();
  });
}

std::vector<ActiveToken> TokenStore::active() {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    const auto rows = tx.exec(
        "SELECT encode(secret_sha256, 'hex'), name, array_to_json(scopes)::text FROM reproj.tokens WHERE expires_at IS NULL OR expires_at > now()");
    std::vector<ActiveToken> out;
    for (const auto& r : rows) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), text_array(r[2])});
    }
    return out;
  });
}

}  // namespace reproj::engine
