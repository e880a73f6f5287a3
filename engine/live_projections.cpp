#include "engine/live_projections.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/column_value.hpp"
#include "engine/connection_pool_run.hpp"
#include "engine/detail/apply_range.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/event_store.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine {

namespace {

const TableSpec& served_table(const Projection& p) {
  for (const auto& t : p.tables()) {
    if (t.name == p.name()) return t;
  }
  throw std::logic_error("projection " + std::string{p.name()} + " has no table named like itself");
}

Row row_from_json(const nlohmann::json& obj, const TableSpec& spec) {
  Row row;
  for (const auto& c : spec.columns) {
    auto it = obj.find(c.name);
    row.values.push_back(it == obj.end() ? Value{std::monostate{}} : value_from_json(c.type, *it));
  }
  return row;
}

// The columns kLockMetadata and every read statement start with, then a read's tail and rows.
enum MetaColumn : pqxx::row::size_type { kMetaVersion, kMetaWatermark, kMetaFailed, kMetaError, kReadTail, kReadRows };

constexpr const char* kLockMetadata =
    "SELECT active_version, last_replayed, state = 'failed', coalesce(error, ''), poison_policy = 'stop' "
    "FROM reproj.projections WHERE name = $1 FOR UPDATE";
constexpr pqxx::row::size_type kLockStops = 4;

}  // namespace

LiveProjections::LiveProjections(ConnectionPool& pool, const ProjectionRegistry& registry, LiveOptions options)
    : pool_(pool), registry_(registry), options_(std::move(options)), requirements_(registry) {
  if (registry_.names().empty()) throw std::logic_error("LiveProjections needs a filled registry");
  for (const auto& name : registry_.names()) {
    counters_.emplace(name, std::make_unique<Counters>());
    // Metadata, tail and rows in one statement. The key column keeps its name across versions and
    // the served table keeps the projection's name, so one text serves every version.
    const auto key = detail::quote_ident(served_table(registry_.latest(name)).columns[0].name);
    const auto table = std::string{detail::kDataSchema} + "." + detail::quote_ident(name);
    const std::string head =
        "SELECT p.active_version, p.last_replayed, p.state = 'failed', coalesce(p.error, ''), "
        "(SELECT coalesce(max(global_position), 0) FROM reproj.events), ";
    const std::string tail = " FROM reproj.projections p WHERE p.name = $1";
    const std::size_t n = reads_.size();
    const std::string rows_of = "(SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t." + key + "), '[]'::jsonb)::text FROM ";
    reads_.emplace(
        name,
        ReadStatements{
            ReadStatement{"reproj_get_" + std::to_string(n),
                          head + "(SELECT to_jsonb(t)::text FROM " + table + " t WHERE t." + key + " = $2)" + tail},
            ReadStatement{"reproj_list_" + std::to_string(n), head + rows_of + "(SELECT * FROM " + table + " WHERE " +
                                                                   key + " > $2 ORDER BY " + key + " LIMIT $3::int) t)" +
                                                                   tail},
            ReadStatement{"reproj_get_many_" + std::to_string(n),
                          head + rows_of + table + " t WHERE t." + key +
                              " = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb))))" + tail}});  // ANY: see detail::select_rows
  }
}

void LiveProjections::ensure(const std::string& name, int version) {
  const Projection& p = registry_.get(name, version);
  pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    // Two instances starting together must not both create the tables.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('reproj.ensure:' || $1))", name);
    if (!tx.exec_params("SELECT 1 FROM reproj.projections WHERE name = $1", name).empty()) return;
    for (const auto& t : p.tables()) {
      const auto physical = detail::table_name(p, t);
      detail::create_table(tx, t, physical, detail::Durability::kLogged);
      detail::create_indexes(tx, t, physical);
    }
    tx.exec_params("INSERT INTO reproj.projections (name, active_version) VALUES ($1, $2)", name, version);
    tx.commit();
  });
}

ProjectionStatus LiveProjections::lock_metadata(pqxx::transaction_base& tx, const std::string& name) {
  auto meta = detail::exec_prepared_once(tx, kLockMetadata, "", name);
  if (meta.empty()) throw UnknownProjection("projection '" + name + "' is not set up");
  // Appliers (catch-up worker, sync reads, the swap, rollback) serialize on this row lock, and the
  // watermark read here, after the lock was granted, is the only one they trust: so no event is
  // applied twice or skipped however many of them race.
  return {.name = name,
          .active_version = meta[0][kMetaVersion].as<int>(),
          .watermark = meta[0][kMetaWatermark].as<std::int64_t>(),
          .failed = meta[0][kMetaFailed].as<bool>(),
          .error = meta[0][kMetaError].as<std::string>(),
          .poison_policy = meta[0][kLockStops].as<bool>() ? PoisonPolicy::kStop : PoisonPolicy::kSkip};
}

Applied LiveProjections::apply_locked(pqxx::transaction_base& tx, const std::string& name, std::int64_t up_to,
                                      std::size_t max_events) {
  const auto meta = lock_metadata(tx, name);
  Applied a{.version = meta.active_version, .watermark = meta.watermark, .events = 0, .failed = meta.failed,
            .error = meta.error};
  if (a.failed || a.watermark >= up_to || max_events == 0) return a;

  const Projection& p = registry_.get(name, a.version);
  auto applied = detail::apply_range(tx, p, detail::table_names(p), a.watermark, up_to, max_events,
                                     options_.chunk_events, meta.poison_policy);
  a.events = applied.events;
  a.skipped = static_cast<std::int64_t>(applied.skipped.size());
  detail::record_quarantine(tx, name, a.version, applied.skipped, std::nullopt);
  const std::int64_t pos = applied.position;
  // Rows and watermark commit in the caller's transaction, together.
  detail::exec_prepared_once(tx, "UPDATE reproj.projections SET last_replayed = $2, updated_at = now() WHERE name = $1",
                             "", name, pos);
  a.watermark = pos;
  return a;
}

Applied LiveProjections::catch_up(const std::string& name, std::int64_t up_to, ApplyMode mode, std::size_t max_events,
                                  const std::function<void(pqxx::transaction_base&, const Applied&)>& then) {
  auto count = [&](std::int64_t n) {
    auto& c = *counters_.at(name);
    (mode == ApplyMode::kWorker ? c.worker : c.read) += n;
  };
  if (!counters_.count(name)) throw UnknownProjection("unknown projection '" + name + "'");
  int rollbacks = 0;
  while (true) {
    ProjectionStatus seen;  // under the lock, in the attempt that met a poison event
    try {
      return pool_.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        seen = lock_metadata(tx, name);
        Applied a = apply_locked(tx, name, up_to, max_events);
        if (then) then(tx, a);
        tx.commit();
        count(a.events);
        if (a.skipped > 0) spdlog::warn("projection {} quarantined {} poison event(s)", name, a.skipped);
        return a;
      });
    } catch (const PoisonEvent& poison) {
      // Only under the stop policy. Nothing of the batch holding the poison event was kept. Apply
      // what precedes it and stop the projection there -- if it is still the version and watermark
      // that met the event: a promote or rollback may have committed meanwhile, and a healthy new
      // version must not be marked failed for its predecessor's event. Then the loop reads anew.
      if (options_.fault) options_.fault("poison_met");
      pool_.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        const auto now = lock_metadata(tx, name);
        if (now.active_version != seen.active_version || now.watermark != seen.watermark || now.failed) return;
        Applied before = apply_locked(tx, name, poison.global_position() - 1);
        tx.exec_params("UPDATE reproj.projections SET state = 'failed', error = $2, updated_at = now() WHERE name = $1",
                       name, std::string{poison.what()});
        tx.commit();
        spdlog::error("projection {} stopped: {}", name, poison.what());
        count(before.events);
      });
    } catch (const pqxx::transaction_rollback&) {  // serialization failure or deadlock: retry
      if (++rollbacks == 3) {
        throw LockTimeout("could not apply events to projection '" + name + "' after 3 attempts");
      }
    }
  }
}

ReadResult LiveProjections::read(const std::string& name, const ReadStatement& statement,
                                 const std::vector<std::string>& args, const ReadOptions& options) {
  // One snapshot for metadata, tail and rows, taken after the statement's table locks: a
  // concurrent swap is seen entirely or not at all. Caught up, this is the only round trip.
  // Prepared once per connection (planning dominated the cost); its result type never changes,
  // and PostgreSQL re-plans it against the new table after a swap's rename.
  auto run = [&](pqxx::transaction_base& tx) {
    tx.conn().prepare(statement.name, statement.sql);  // no-op when this connection has it already
    auto r = args.size() == 1 ? tx.exec_prepared(statement.name, name, args[0])
                              : tx.exec_prepared(statement.name, name, args[0], args[1]);
    if (r.empty()) throw UnknownProjection("projection '" + name + "' is not set up");
    return r;
  };
  auto answer = [&](const pqxx::result& r) {
    ReadResult out;
    out.version = r[0][kMetaVersion].as<int>();
    out.watermark = r[0][kMetaWatermark].as<std::int64_t>();
    out.failed = r[0][kMetaFailed].as<bool>();
    out.error = r[0][kMetaError].as<std::string>();
    out.table = &served_table(registry_.get(name, out.version));
    if (!r[0][kReadRows].is_null()) {
      auto doc = nlohmann::json::parse(r[0][kReadRows].c_str());
      if (doc.is_array()) {
        for (const auto& obj : doc) out.rows.push_back(row_from_json(obj, *out.table));
      } else {
        out.rows.push_back(row_from_json(doc, *out.table));
      }
    }
    return out;
  };

  auto first = pool_.run([&](pqxx::connection& conn) {
    pqxx::nontransaction tx{conn};
    return run(tx);
  });
  const std::int64_t watermark = first[0][kMetaWatermark].as<std::int64_t>();
  const std::int64_t tail = first[0][kReadTail].as<std::int64_t>();
  const bool failed = first[0][kMetaFailed].as<bool>();
  if (options.min_position > tail) {
    throw InvalidInput("min_position " + std::to_string(options.min_position) + " is beyond the end of the log (" +
                       std::to_string(tail) + ")");
  }
  // What the answer must reflect: the tail for a strong read, min_position for any read.
  const std::int64_t wanted = std::max(options.strong ? tail : 0, options.min_position);
  if (watermark >= wanted) return answer(first);
  if (failed) {
    if (options.min_position <= watermark) return answer(first);  // strong: serves what it has, marked failed
    throw ProjectionBehind(name, watermark, wanted, "it stopped at a poison event");
  }
  auto behind = [&](std::int64_t at) {
    return ProjectionBehind(name, at, wanted,
                            "more than " + std::to_string(options_.max_read_apply) +
                                " events for one read to apply; the catch-up worker is on it");
  };
  if (wanted - watermark > options_.max_read_apply) throw behind(watermark);

  // Behind: apply (watermark, wanted] ourselves, then read inside the same transaction.
  ReadResult out;
  catch_up(name, wanted, ApplyMode::kRead, static_cast<std::size_t>(options_.max_read_apply),
           [&](pqxx::transaction_base& tx, const Applied& a) {
             // Another version (a promote) or a stop may have come between the two looks.
             if (a.watermark < wanted) {
               if (!a.failed) throw behind(a.watermark);
               if (options.min_position > a.watermark) {
                 throw ProjectionBehind(name, a.watermark, wanted, "it stopped at a poison event");
               }
             }
             out = answer(run(tx));
           });
  return out;
}

ReadResult LiveProjections::get(const std::string& name, const std::string& key, const ReadOptions& options) {
  auto it = reads_.find(name);
  if (it == reads_.end()) throw UnknownProjection("unknown projection '" + name + "'");
  return read(name, it->second.get, {key}, options);
}

ReadResult LiveProjections::get_many(const std::string& name, const std::vector<std::string>& keys,
                                     const ReadOptions& options) {
  auto it = reads_.find(name);
  if (it == reads_.end()) throw UnknownProjection("unknown projection '" + name + "'");
  std::string array;
  try {
    array = nlohmann::json(keys).dump();
  } catch (const nlohmann::json::type_error&) {
    throw InvalidInput("a key is not valid UTF-8");
  }
  return read(name, it->second.get_many, {array}, options);
}

ReadResult LiveProjections::list(const std::string& name, const std::string& after, std::size_t limit,
                                 const ReadOptions& options) {
  auto it = reads_.find(name);
  if (it == reads_.end()) throw UnknownProjection("unknown projection '" + name + "'");
  return read(name, it->second.list, {after, std::to_string(limit)}, options);
}

std::vector<ProjectionStatus> LiveProjections::status() {
  return pool_.run([](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<ProjectionStatus> out;
    for (const auto& r : tx.exec("SELECT name, active_version, last_replayed AS watermark, state = 'failed' AS failed, "
                                 "coalesce(error, '') AS error, poison_policy = 'stop' AS stops, "
                                 "(SELECT count(*) FROM reproj.quarantine q WHERE q.projection = p.name "
                                 "AND q.version = p.active_version) AS quarantined "
                                 "FROM reproj.projections p ORDER BY name")) {
      out.push_back({.name = r["name"].as<std::string>(),
                     .active_version = r["active_version"].as<int>(),
                     .watermark = r["watermark"].as<std::int64_t>(),
                     .failed = r["failed"].as<bool>(),
                     .error = r["error"].as<std::string>(),
                     .poison_policy = r["stops"].as<bool>() ? PoisonPolicy::kStop : PoisonPolicy::kSkip,
                     .quarantined = r["quarantined"].as<std::int64_t>()});
    }
    return out;
  });
}

std::int64_t LiveProjections::applied_events(const std::string& name, ApplyMode mode) const {
  auto it = counters_.find(name);
  if (it == counters_.end()) return 0;
  const auto& c = *it->second;
  return mode == ApplyMode::kWorker ? c.worker.load() : c.read.load();
}

}  // namespace reproj::engine
