#include "sources/source_store.hpp"

#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "engine/errors.hpp"

namespace reproj::sources {

namespace {

constexpr const char* kStatusColumns =
    "name, kind, document::text, sha256, paused, state, checkpoint::text, position, coalesce(tail, 0), ingested, "
    "quarantined, records_per_second, coalesce(last_error, '')";

nlohmann::json masked(nlohmann::json doc) {
  if (auto it = doc.find("url"); it != doc.end() && it->is_string()) {
    // postgresql://user:password@host/db -> postgresql://user:***@host/db
    auto url = it->get<std::string>();
    const auto scheme = url.find("://");
    const auto at = url.find('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
      const auto colon = url.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) url = url.substr(0, colon + 1) + "***" + url.substr(at);
    }
    if (auto p = url.find("password="); p != std::string::npos) {
      auto end = url.find_first_of("& ", p);
      url = url.substr(0, p + 9) + "***" + (end == std::string::npos ? "" : url.substr(end));
    }
    *it = url;
  }
  return doc;
}

SourceStatus status_of(const pqxx::row& r) {
  SourceStatus s;
  s.name = r[0].as<std::string>();
  s.kind = r[1].as<std::string>();
  s.document = masked(nlohmann::json::parse(r[2].c_str()));
  s.sha256 = r[3].as<std::string>();
  s.paused = r[4].as<bool>();
  s.state = s.paused ? "paused" : r[5].as<std::string>();
  s.checkpoint_detail = r[6].is_null() ? nlohmann::json(nullptr) : nlohmann::json::parse(r[6].c_str());
  if (!r[7].is_null()) s.checkpoint = r[7].as<std::int64_t>();
  s.tail = r[8].as<std::int64_t>();
  s.ingested = r[9].as<std::int64_t>();
  s.quarantined = r[10].as<std::int64_t>();
  s.records_per_second = r[11].as<double>();
  s.last_error = r[12].as<std::string>();
  s.lag = std::max<std::int64_t>(0, s.tail - s.checkpoint.value_or(0));
  if (s.records_per_second > 0 && s.lag > 0) s.eta_seconds = static_cast<double>(s.lag) / s.records_per_second;
  if (s.lag == 0) s.eta_seconds = 0;
  s.sync_reads = s.document.value("sync_reads", false);
  s.required_for_ready = s.document.value("required_for_ready", false);
  return s;
}

}  // namespace

SourceStore::Put SourceStore::put(const SourceDocument& d) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    auto inserted = tx.exec_params(
        "INSERT INTO reproj.sources (name, kind, document, sha256) "
        "VALUES ($1, $2, $3::text::jsonb, encode(sha256(convert_to($3::text, 'UTF8')), 'hex')) "
        "ON CONFLICT (name) DO NOTHING RETURNING 1",
        d.name, d.kind, d.text);
    if (!inserted.empty()) {
      tx.commit();
      return Put::kCreated;
    }
    auto row = tx.exec_params1(
        "SELECT sha256 = encode(sha256(convert_to($2::text, 'UTF8')), 'hex'), paused, sha256 FROM reproj.sources "
        "WHERE name = $1 FOR UPDATE",
        d.name, d.text);
    if (row[0].as<bool>()) return Put::kSame;
    if (!row[1].as<bool>()) {
      throw engine::StateConflict("source '" + d.name + "' is running with another document (sha256 " +
                                  row[2].as<std::string>() + "); pause it first to change it");
    }
    tx.exec_params(
        "UPDATE reproj.sources SET kind = $2, document = $3::text::jsonb, "
        "sha256 = encode(sha256(convert_to($3::text, 'UTF8')), 'hex'), updated_at = now() WHERE name = $1",
        d.name, d.kind, d.text);
    tx.commit();
    return Put::kReplaced;
  });
}

std::vector<StoredSource> SourceStore::documents() {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<StoredSource> out;
    for (const auto& r : tx.exec("SELECT name, document::text, sha256 FROM reproj.sources ORDER BY name")) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
    }
    return out;
  });
}

std::vector<SourceStatus> SourceStore::statuses() {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<SourceStatus> out;
    for (const auto& r : tx.exec(std::string{"SELECT "} + kStatusColumns + " FROM reproj.sources ORDER BY name")) {
      out.push_back(status_of(r));
    }
    return out;
  });
}

std::optional<SourceStatus> SourceStore::status(const std::string& name) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<SourceStatus> {
    pqxx::read_transaction tx{conn};
    auto r = tx.exec_params(std::string{"SELECT "} + kStatusColumns + " FROM reproj.sources WHERE name = $1", name);
    if (r.empty()) return std::nullopt;
    return status_of(r[0]);
  });
}

SourceStatus SourceStore::set_paused(const std::string& name, bool paused) {
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    // A resume restarts a source stopped at a bad record or a gap: it reads from its checkpoint again.
    auto r = tx.exec_params(
        "UPDATE reproj.sources SET paused = $2, updated_at = now(), "
        "state = CASE WHEN $2 THEN state WHEN state IN ('stopped', 'gap') THEN 'catching_up' ELSE state END, "
        "last_error = CASE WHEN $2 THEN last_error ELSE NULL END WHERE name = $1",
        name, paused);
    if (r.affected_rows() == 0) throw engine::NotFound("no source named '" + name + "'");
    tx.commit();
  });
  return *status(name);
}

bool SourceStore::remove(const std::string& name) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    auto r = tx.exec_params("DELETE FROM reproj.sources WHERE name = $1", name);
    tx.commit();
    return r.affected_rows() > 0;
  });
}

std::vector<QuarantinedRecord> SourceStore::quarantine(const std::string& name, std::size_t limit) {
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    if (tx.exec_params("SELECT 1 FROM reproj.sources WHERE name = $1", name).empty()) {
      throw engine::NotFound("no source named '" + name + "'");
    }
    std::vector<QuarantinedRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT position, reason, coalesce(record::text, 'null'), "
             "to_char(quarantined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
             "FROM reproj.source_quarantine WHERE source = $1 ORDER BY quarantined_at, position LIMIT $2",
             name, static_cast<std::int64_t>(limit))) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), nlohmann::json::parse(r[2].c_str()),
                     r[3].as<std::string>()});
    }
    return out;
  });
}

void SourceStore::report(const std::string& name, const std::string& state, std::int64_t tail,
                         double records_per_second, const std::string& last_error) {
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    tx.exec_params(
        "UPDATE reproj.sources SET state = $2, tail = $3, records_per_second = $4, last_error = nullif($5, ''), "
        "updated_at = now() WHERE name = $1 AND NOT paused AND state NOT IN ('stopped', 'gap')",
        name, state, tail, records_per_second, last_error);
    tx.commit();
  });
}

}  // namespace reproj::sources
