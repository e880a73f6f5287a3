#include "engine/replica_set.hpp"

#include <libpq-fe.h>

#include <pqxx/pqxx>

#include "engine/connection_pool.hpp"
#include "engine/connection_pool_run.hpp"
#include "engine/detail/connect.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

namespace {

// A replica that does not answer within this is down, not slow: the read goes to the primary.
constexpr const char* kConnectTimeoutSeconds = "2";
// A read there that takes longer is cancelled and asked of the primary (a replayed lock, a stall).
constexpr const char* kStatementTimeoutMs = "5000";

// `url` with connect and statement timeouts added (a URL's query, or key=value pairs).
std::string bounded(const std::string& url) {
  if (url.find("://") != std::string::npos) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + kConnectTimeoutSeconds +
           "&options=-c%20statement_timeout%3D" + kStatementTimeoutMs;
  }
  return url + " connect_timeout=" + kConnectTimeoutSeconds + " options='-c statement_timeout=" + kStatementTimeoutMs +
         "'";
}

// host and port of a libpq connection string, never its password.
std::pair<std::string, std::string> host_port(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (!options) {
    std::string why = error ? error : "cannot parse";
    PQfreemem(error);
    throw InvalidInput("replica URL: " + why);
  }
  std::string host = "localhost", port = "5432";
  for (auto* o = options; o->keyword; ++o) {
    if (!o->val) continue;
    if (std::string_view{o->keyword} == "host" || (std::string_view{o->keyword} == "hostaddr" && host == "localhost")) {
      host = o->val;
    } else if (std::string_view{o->keyword} == "port") {
      port = o->val;
    }
  }
  PQconninfoFree(options);
  return {host, port};
}

}  // namespace

struct ReplicaSet::Replica {
  Replica(std::string n, const std::string& given, std::size_t pool_size)
      : name(std::move(n)), url(bounded(given)), pool(url, pool_size) {
    std::tie(host, port) = host_port(given);
  }
  std::string name, url, host, port;
  ConnectionPool pool;
  std::unique_ptr<pqxx::connection> probe;  // the prober's own
  std::atomic<bool> in_rotation{false};
  std::atomic<std::int64_t> reads{0}, behind{0};
  mutable std::mutex mutex;  // guards what follows
  State state = State::kDown;
  std::int64_t lag_bytes = 0;
  double lag_seconds = 0;
  std::string error = "not probed yet";
};

ReplicaSet::ReplicaSet(ConnectionPool& primary, const std::vector<std::string>& urls, ReplicaOptions options)
    : primary_(primary), options_(options) {
  for (const auto& url : urls) {
    replicas_.push_back(
        std::make_unique<Replica>("replica-" + std::to_string(replicas_.size() + 1), url, options_.pool_size));
  }
}

ReplicaSet::~ReplicaSet() { stop(); }

void ReplicaSet::start() {
  if (prober_.joinable() || replicas_.empty()) return;
  probe();
  prober_ = std::thread([this] {
    std::unique_lock lock{stop_mutex_};
    while (!stop_cv_.wait_for(lock, options_.probe_every, [this] { return stopping_; })) {
      lock.unlock();
      probe();
      lock.lock();
    }
  });
}

void ReplicaSet::stop() {
  {
    std::lock_guard lock{stop_mutex_};
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (prober_.joinable()) prober_.join();
}

void ReplicaSet::probe() {
  std::string primary_lsn;
  try {
    primary_lsn = primary_.run([](pqxx::connection& conn) {
      pqxx::nontransaction tx{conn};
      return tx.exec("SELECT pg_current_wal_lsn()::text")[0][0].as<std::string>();
    });
  } catch (const std::exception&) {
    return;  // the primary is away: keep what was known (reads go there anyway when it is back)
  }
  for (auto& r : replicas_) probe_one(*r, primary_lsn);
}

void ReplicaSet::probe_one(Replica& r, const std::string& primary_lsn) {
  State state = State::kDown;
  std::int64_t lag_bytes = 0;
  double lag_seconds = 0;
  std::string error;
  try {
    if (!r.probe || !r.probe->is_open()) r.probe = detail::connect(r.url);
    pqxx::nontransaction tx{*r.probe};
    // Caught up (nothing received is left to replay and the primary wrote nothing since): no lag,
    // however long ago the last transaction was. Otherwise the age of the last replayed one.
    const auto row = tx.exec_params(
        "SELECT pg_is_in_recovery(), coalesce(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0)::bigint, "
        "CASE WHEN pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()) <= 0 THEN 0 ELSE "
        "coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8",
        primary_lsn)[0];
    lag_bytes = std::max<std::int64_t>(0, row[1].as<std::int64_t>());
    lag_seconds = std::max(0.0, row[2].as<double>());
    if (!row[0].as<bool>()) {
      state = State::kNotInRecovery;
      error = "not in recovery (promoted?): its data no longer follows the primary";
    } else if (lag_seconds * 1000 > static_cast<double>(options_.max_lag.count())) {
      state = State::kLagging;
      error = "replay lag " + std::to_string(lag_seconds) + " s is past REPROJ_REPLICA_MAX_LAG_MS";
    } else {
      state = State::kHealthy;
    }
  } catch (const std::exception& e) {
    r.probe.reset();
    error = e.what();
  }
  std::lock_guard lock{r.mutex};
  r.state = state;
  r.lag_bytes = lag_bytes;
  r.lag_seconds = lag_seconds;
  r.error = error;
  r.in_rotation = state == State::kHealthy;
}

std::optional<std::size_t> ReplicaSet::pick() {
  const std::size_t n = replicas_.size();
  for (std::size_t tried = 0; tried < n; ++tried) {
    const std::size_t i = next_++ % n;
    if (replicas_[i]->in_rotation) return i;
  }
  return std::nullopt;
}

ConnectionPool& ReplicaSet::pool(std::size_t i) { return replicas_.at(i)->pool; }
const std::string& ReplicaSet::replica_name(std::size_t i) const { return replicas_.at(i)->name; }

void ReplicaSet::failed(std::size_t i, const std::string& why) {
  auto& r = *replicas_.at(i);
  r.in_rotation = false;
  std::lock_guard lock{r.mutex};
  r.state = State::kDown;
  r.error = why;
}

void ReplicaSet::served(std::size_t i, std::size_t reads) {
  replicas_.at(i)->reads += static_cast<std::int64_t>(reads);
}
void ReplicaSet::behind(std::size_t i, std::size_t reads) {
  replicas_.at(i)->behind += static_cast<std::int64_t>(reads);
}

const char* ReplicaSet::name(State s) {
  switch (s) {
    case State::kHealthy: return "healthy";
    case State::kLagging: return "lagging";
    case State::kDown: return "down";
    case State::kNotInRecovery: return "not_in_recovery";
  }
  return "down";
}

std::vector<ReplicaSet::Info> ReplicaSet::info() const {
  std::vector<Info> out;
  for (const auto& r : replicas_) {
    std::lock_guard lock{r->mutex};
    out.push_back(Info{r->name, r->host, r->port, r->state, r->lag_bytes, r->lag_seconds, r->reads, r->behind, r->error});
  }
  return out;
}

}  // namespace reproj::engine
