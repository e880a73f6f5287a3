#include "engine/live_projections.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/column_value.hpp"
#include "engine/connection_pool_run.hpp"
#include "engine/detail/apply_range.hpp"
#include "engine/detail/history_sql.hpp"
#include "engine/detail/projection_record.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"
#include "engine/errors.hpp"
#include "engine/replica_set.hpp"
#include "engine/event_store.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine {

namespace {



// The columns every read statement starts with (as detail::lock_projection's), then its tail and rows.
enum MetaColumn : pqxx::row::size_type {
  kMetaVersion, kMetaWatermark, kMetaFailed, kMetaError, kReadTail, kReadRows, kReadBuilding
};


}  // namespace

LiveProjections::LiveProjections(ConnectionPool& pool, const ProjectionRegistry& registry, LiveOptions options)
    : pool_(pool), registry_(registry), options_(std::move(options)), requirements_(registry) {
  if (registry_.names().empty()) throw std::logic_error("LiveProjections needs a filled registry");
}

namespace {
// Metadata, tail and rows in one statement. The key column keeps its name across versions and the
// served table keeps the projection's name, so one text serves every version.
const std::string kReadHead =
    "SELECT p.active_version, p.last_replayed, p.state = 'failed', coalesce(p.error, ''), "
    "(" + std::string{log::kSafeTailSql} + "), ";
const std::string kReadTailSql = ", p.building FROM reproj.projections p WHERE p.name = $1";
std::string served_key(const ProjectionRegistry& registry, const std::string& name) {
  return detail::quote_ident(served_table(registry.latest(name)).columns[0].name);
}
std::string served_name(const std::string& name) {
  return std::string{detail::kDataSchema} + "." + detail::quote_ident(name);
}
std::string rows_of(const std::string& key) {
  return "(SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t." + key + "), '[]'::jsonb)::text FROM ";
}
}  // namespace

LiveProjections::ReadStatements& LiveProjections::statements(const std::string& name) {
  std::scoped_lock lock{statements_mutex_};
  if (auto it = reads_.find(name); it != reads_.end()) return it->second;
  if (!registry_.has(name)) throw UnknownProjection("unknown projection '" + name + "'");
  const auto key = served_key(registry_, name);
  const auto table = served_name(name);
  const auto n = std::to_string(reads_.size());
  auto& r = reads_[name];
  r.get = {"reproj_get_" + n, kReadHead + "(SELECT to_jsonb(t)::text FROM " + table + " t WHERE t." + key + " = $2)" + kReadTailSql};
  r.list = {"reproj_list_" + n, kReadHead + rows_of(key) + "(SELECT * FROM " + table + " WHERE " + key + " > $2 ORDER BY " +
                                    key + " LIMIT $3::int) t)" + kReadTailSql};
  r.get_many = {"reproj_get_many_" + n, kReadHead + rows_of(key) + table + " t WHERE t." + key +
                                            " = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb))))" +
                                            kReadTailSql};  // ANY: see detail::select_rows
  return r;
}

const LiveProjections::ReadStatement& LiveProjections::list_where_statement(const std::string& name,
                                                                            const std::string& column) {
  auto& r = statements(name);
  bool indexed = false;
  std::string indexed_columns;
  for (int v : registry_.versions(name)) {
    const auto& t = served_table(registry_.get(name, v));
    for (auto c : t.indexed) {
      indexed = indexed || t.columns[c].name == column;
      if (indexed_columns.find(t.columns[c].name) == std::string::npos) {
        indexed_columns += (indexed_columns.empty() ? "" : ", ") + t.columns[c].name;
      }
    }
  }
  if (!indexed) {
    throw InvalidInput("'" + column + "' is not an indexed column of " + name + " (filters: " +
                       (indexed_columns.empty() ? std::string{"none"} : indexed_columns) + ")");
  }
  std::scoped_lock lock{statements_mutex_};
  if (auto it = r.list_where.find(column); it != r.list_where.end()) return it->second;
  const auto key = served_key(registry_, name);
  const auto table = served_name(name);
  return r.list_where[column] = ReadStatement{
             r.list.name + "_where_" + std::to_string(r.list_where.size()),
             kReadHead + rows_of(key) + "(SELECT * FROM " + table + " WHERE " + detail::quote_ident(column) +
                 " = $4 AND " + key + " > $2 ORDER BY " + key + " LIMIT $3::int) t)" + kReadTailSql};
}

bool LiveProjections::ensure(const std::string& name, int version, Created created) {
  const Projection& p = registry_.get(name, version);
  return pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    // Two instances starting together must not both create the tables.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('reproj.ensure:' || $1))", name);
    if (!tx.exec_params("SELECT 1 FROM reproj.projections WHERE name = $1", name).empty()) return false;
    detail::create_copy(tx, p, detail::table_names(p), detail::Durability::kLogged, detail::KeyIndex::kExists);
    tx.exec_params("INSERT INTO reproj.projections (name, active_version, building) VALUES ($1, $2, $3)", name, version,
                   created == Created::kBuildFirst);
    tx.commit();
    return true;
  });
}

ProjectionStatus LiveProjections::lock_metadata(pqxx::transaction_base& tx, const std::string& name) {
  // Appliers (catch-up worker, sync reads, the swap, rollback) serialize on this row lock, and the
  // watermark read here, after the lock was granted, is the only one they trust: so no event is
  // applied twice or skipped however many of them race.
  return detail::lock_projection(tx, name);
}

Applied LiveProjections::apply_locked(pqxx::transaction_base& tx, const ProjectionStatus& meta, std::int64_t up_to,
                                      std::size_t max_events) {
  const std::string& name = meta.name;
  Applied a{.version = meta.active_version, .watermark = meta.watermark, .events = 0, .failed = meta.failed,
            .error = meta.error, .building = meta.building};
  if (a.failed || a.building || a.watermark >= up_to || max_events == 0) return a;

  const Projection& p = registry_.get(name, a.version);
  auto applied = detail::apply_range(tx, p, detail::table_names(p), a.watermark, up_to, max_events,
                                     options_.chunk_events, meta.poison_policy);
  a.events = applied.events;
  a.skipped = static_cast<std::int64_t>(applied.skipped.size());
  detail::record_quarantine(tx, name, a.version, applied.skipped, std::nullopt);
  const std::int64_t pos = applied.watermark;
  // Rows and watermark commit in the caller's transaction, together.
  detail::advance_watermark(tx, name, pos);
  a.watermark = pos;
  return a;
}

Applied LiveProjections::catch_up(const std::string& name, std::int64_t up_to, ApplyMode mode, std::size_t max_events,
                                  const std::function<void(pqxx::transaction_base&, const Applied&)>& then) {
  auto& counters = statements(name).counters;  // throws UnknownProjection
  auto count = [&](std::int64_t n) { (mode == ApplyMode::kWorker ? counters.worker : counters.read) += n; };
  int rollbacks = 0;
  while (true) {
    ProjectionStatus seen;  // under the lock, in the attempt that met a poison event
    try {
      return pool_.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        seen = lock_metadata(tx, name);
        Applied a = apply_locked(tx, seen, up_to, max_events);
        if (then) then(tx, a);
        tx.commit();
        count(a.events);
        watermarks_.publish(name, a.watermark);
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
        Applied before = apply_locked(tx, now, poison.global_position() - 1);
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

namespace {
bool has_version(const ProjectionRegistry& registry, const std::string& name, int version) {
  const auto versions = registry.versions(name);
  return std::find(versions.begin(), versions.end(), version) != versions.end();
}
}  // namespace

ReadResult LiveProjections::answer(const std::string& name, const pqxx::result& r) const {
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
}

// The read statement on a replica: its rows and its watermark come from one snapshot there, which
// replayed the primary's commits in order (a swap is one transaction, so it replays as one). Used
// only when that watermark covers min_position: the answer is then exactly what the primary's own
// copy said at that watermark. Nothing is applied there (it is read-only) and nothing the primary
// decides is taken from it.
std::optional<ReadResult> LiveProjections::read_replica(const std::string& name, const ReadStatement& statement,
                                                        const std::vector<std::string>& args, const ReadOptions& options,
                                                        std::size_t reads) {
  const auto i = replicas_->pick();
  if (!i) return std::nullopt;
  std::optional<pqxx::result> r;
  try {
    r = replicas_->pool(*i).run([&](pqxx::connection& conn) {
      pqxx::nontransaction tx{conn};
      tx.conn().prepare(statement.name, statement.sql);
      return args.size() == 1   ? tx.exec_prepared(statement.name, name, args[0])
             : args.size() == 2 ? tx.exec_prepared(statement.name, name, args[0], args[1])
                                : tx.exec_prepared(statement.name, name, args[0], args[1], args[2]);
    });
  } catch (const std::exception& e) {  // unreachable, cancelled by replay, timed out: the primary answers
    replicas_->failed(*i, e.what());
    return std::nullopt;
  }
  if (r->empty() || (*r)[0][kReadBuilding].as<bool>() ||
      (*r)[0][kMetaWatermark].as<std::int64_t>() < options.min_position ||
      !has_version(registry_, name, (*r)[0][kMetaVersion].as<int>())) {
    replicas_->behind(*i, reads);  // not there yet, or a version this instance has not loaded
    return std::nullopt;
  }
  auto out = answer(name, *r);
  out.replica = replicas_->replica_name(*i);
  replicas_->served(*i, reads);
  return out;
}

ReadResult LiveProjections::read(const std::string& name, const ReadStatement& statement,
                                 const std::vector<std::string>& args, const ReadOptions& options, std::size_t reads) {
  // One snapshot for metadata, tail and rows, taken after the statement's table locks: a
  // concurrent swap is seen entirely or not at all. Caught up, this is the only round trip.
  // Prepared once per connection (planning dominated the cost); its result type never changes,
  // and PostgreSQL re-plans it against the new table after a swap's rename.
  auto run = [&](pqxx::transaction_base& tx) {
    tx.conn().prepare(statement.name, statement.sql);  // no-op when this connection has it already
    auto r = args.size() == 1   ? tx.exec_prepared(statement.name, name, args[0])
             : args.size() == 2 ? tx.exec_prepared(statement.name, name, args[0], args[1])
                                : tx.exec_prepared(statement.name, name, args[0], args[1], args[2]);
    if (r.empty()) throw UnknownProjection("projection '" + name + "' is not set up");
    return r;
  };
  auto answer = [&](const pqxx::result& r) { return this->answer(name, r); };
  if (!options.strong && replicas_) {
    if (auto from_replica = read_replica(name, statement, args, options, reads)) return std::move(*from_replica);
  }

  auto first = pool_.run([&](pqxx::connection& conn) {
    pqxx::nontransaction tx{conn};
    return run(tx);
  });
  const std::int64_t watermark = first[0][kMetaWatermark].as<std::int64_t>();
  const std::int64_t tail = first[0][kReadTail].as<std::int64_t>();
  const bool failed = first[0][kMetaFailed].as<bool>();
  if (first[0][kReadBuilding].as<bool>()) throw ProjectionBuilding(name);
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
                                " events for one read to apply; the catch-up worker is on it",
                            wanted - options_.max_read_apply);
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
  return read(name, statements(name).get, {key}, options);
}

ReadResult LiveProjections::get_many(const std::string& name, const std::vector<std::string>& keys,
                                     const ReadOptions& options) {
  const auto& statement = statements(name).get_many;
  std::string array;
  try {
    array = nlohmann::json(keys).dump();
  } catch (const nlohmann::json::type_error&) {
    throw InvalidInput("a key is not valid UTF-8");
  }
  return read(name, statement, {array}, options, keys.size());
}

ReadResult LiveProjections::list(const std::string& name, const std::string& after, std::size_t limit,
                                 const ReadOptions& options) {
  return read(name, statements(name).list, {after, std::to_string(limit)}, options);
}

ReadResult LiveProjections::list_where(const std::string& name, const std::string& column, const std::string& value,
                                       const std::string& after, std::size_t limit, const ReadOptions& options) {
  try {
    return read(name, list_where_statement(name, column), {after, std::to_string(limit), value}, options);
  } catch (const pqxx::data_exception& e) {  // the value is not of the column's type
    throw InvalidInput("'" + value + "' is not a value of " + name + "." + column);
  } catch (const pqxx::undefined_column&) {
    throw InvalidInput("the live version of " + name + " has no column '" + column + "'");
  }
}

std::vector<ProjectionStatus> LiveProjections::status() {
  return pool_.run([](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    std::vector<ProjectionStatus> out;
    for (const auto& r : tx.exec("SELECT name, active_version, last_replayed AS watermark, state = 'failed' AS failed, "
                                 "coalesce(error, '') AS error, poison_policy = 'stop' AS stops, "
                                 "(SELECT count(*) FROM reproj.quarantine q WHERE q.projection = p.name "
                                 "AND q.version = p.active_version) AS quarantined, building "
                                 "FROM reproj.projections p ORDER BY name")) {
      out.push_back({.name = r["name"].as<std::string>(),
                     .active_version = r["active_version"].as<int>(),
                     .watermark = r["watermark"].as<std::int64_t>(),
                     .failed = r["failed"].as<bool>(),
                     .error = r["error"].as<std::string>(),
                     .poison_policy = r["stops"].as<bool>() ? PoisonPolicy::kStop : PoisonPolicy::kSkip,
                     .quarantined = r["quarantined"].as<std::int64_t>(),
                     .building = r["building"].as<bool>()});
    }
    return out;
  });
}

std::int64_t LiveProjections::applied_events(const std::string& name, ApplyMode mode) const {
  std::scoped_lock lock{statements_mutex_};
  auto it = reads_.find(name);
  if (it == reads_.end()) return 0;
  const auto& c = it->second.counters;
  return mode == ApplyMode::kWorker ? c.worker.load() : c.read.load();
}

}  // namespace reproj::engine
