// Verify before promote (issue 16): asking a `ready` rebuild to promote or to diff again, and
// reading its last diff. The runner does the work (rebuild_runner.cpp); these only record the ask.
#include <pqxx/pqxx>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/rebuild_record.hpp"
#include "engine/errors.hpp"
#include "engine/rebuild.hpp"

namespace reproj::engine {

namespace {

RebuildInfo ask(ConnectionPool& pool, std::int64_t id, detail::Ask flag, const char* what) {
  return pool.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    auto before = detail::load_rebuild(tx, id);
    if (!before) throw NotFound("no rebuild " + std::to_string(id));
    if (!detail::record_ask(tx, id, flag)) {
      throw StateConflict("rebuild " + std::to_string(id) + " is " + std::string{to_string(before->state)} +
                          "; only a ready rebuild can be " + what);
    }
    auto after = detail::load_rebuild(tx, id);
    tx.commit();
    return *after;
  });
}

}  // namespace

RebuildInfo RebuildManager::request_promote(std::int64_t id) {
  auto info = ask(pool_, id, detail::Ask::kPromote, "promoted");
  wake();
  return info;
}

RebuildInfo RebuildManager::request_diff(std::int64_t id) {
  auto info = ask(pool_, id, detail::Ask::kDiff, "compared again");
  wake();
  return info;
}

std::optional<std::string> RebuildManager::diff(std::int64_t id) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<std::string> {
    pqxx::read_transaction tx{conn};
    auto r = tx.exec_params("SELECT diff::text FROM reproj.rebuilds WHERE id = $1", id);
    if (r.empty()) throw NotFound("no rebuild " + std::to_string(id));
    if (r[0][0].is_null()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

}  // namespace reproj::engine
