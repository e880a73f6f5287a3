#include "engine/spec/spec_catalog.hpp"

#include <chrono>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/sleep.hpp"
#include "engine/errors.hpp"
#include "engine/live_projections.hpp"
#include "engine/rebuild.hpp"
#include "engine/spec/spec_projection.hpp"

namespace reproj::engine::spec {

namespace {

VersionOrigin::Kind kind_of(const std::string& source) {
  return source == "file" ? VersionOrigin::Kind::kFile : VersionOrigin::Kind::kApi;
}

std::string id_of(const std::string& name, int version) { return name + " version " + std::to_string(version); }

// Inserts unless the version is stored; returns what is stored for it afterwards.
StoredSpec store(pqxx::work& tx, const StoredSpec& spec, bool& inserted) {
  auto r = tx.exec_params(
      "INSERT INTO reproj.projection_specs (projection, version, document, sha256, source) "
      "VALUES ($1, $2, $3, encode(sha256(convert_to($3, 'UTF8')), 'hex'), $4) "
      "ON CONFLICT (projection, version) DO NOTHING RETURNING sha256",
      spec.projection, spec.version, spec.document, std::string{to_string(spec.source)});
  inserted = !r.empty();
  auto row = tx.exec_params1("SELECT document, sha256, source FROM reproj.projection_specs WHERE projection = $1 AND version = $2",
                             spec.projection, spec.version);
  return StoredSpec{spec.projection, spec.version, row[0].as<std::string>(), row[1].as<std::string>(),
                    kind_of(row[2].as<std::string>())};
}

}  // namespace

std::optional<Problem> served_key_conflict(const ProjectionRegistry& registry, const Projection& projection) {
  const std::string name{projection.name()};
  for (int v : registry.versions(name)) {
    const auto& key = served_table(registry.get(name, v)).columns[0].name;
    if (v != projection.version() && key != served_table(projection).columns[0].name) {
      return Problem{"/tables/" + name + "/key", "the key of " + name + " is '" + key + "' in version " + std::to_string(v) +
                                                     " and stays so in every version (reads serve all versions alike)"};
    }
  }
  return std::nullopt;
}

SpecCatalog::Put SpecCatalog::put(std::string_view document, VersionOrigin::Kind source,
                                  std::optional<std::pair<std::string, int>> at) {
  auto compiled = compile(document);
  if (auto* problems = std::get_if<std::vector<Problem>>(&compiled)) {
    std::vector<InvalidSpec::Problem> out;
    for (const auto& p : *problems) out.push_back({p.path, p.message});
    // Counted before the list moves into the exception: arguments are evaluated in no set order.
    std::string message = "the spec has " + std::to_string(out.size()) + (out.size() == 1 ? " problem" : " problems");
    throw InvalidSpec(std::move(message), std::move(out));
  }
  auto projection = std::move(std::get<std::unique_ptr<SpecProjection>>(compiled));
  const std::string name{projection->name()};
  const int version = projection->version();
  if (at) {
    std::vector<InvalidSpec::Problem> out;
    if (at->first != name) out.push_back({"/projection", "the document is for '" + name + "', the URL names '" + at->first + "'"});
    if (at->second != version) {
      out.push_back({"/version", "the document is version " + std::to_string(version) + ", the URL names version " +
                                     std::to_string(at->second)});
    }
    if (!out.empty()) throw InvalidSpec("the spec is not the version the URL names", std::move(out));
  }
  if (auto conflict = served_key_conflict(registry_, *projection)) {
    throw InvalidSpec("the spec has 1 problem", {{conflict->path, conflict->message}});
  }
  const StoredSpec wanted{name, version, compact(document), {}, source};
  if (auto origin = registry_.origin(name, version); origin && origin->kind == VersionOrigin::Kind::kCompiled) {
    throw StateConflict(id_of(name, version) + " is compiled into reproj; versions are immutable, deploy another version");
  }
  bool inserted = false;
  const StoredSpec stored = pool_.run([&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    auto s = store(tx, wanted, inserted);
    tx.commit();
    return s;
  });
  if (stored.document != wanted.document && nlohmann::json::parse(stored.document) != nlohmann::json::parse(wanted.document)) {
    throw StateConflict(id_of(name, version) + " exists with other content (sha256 " + stored.sha256 +
                        "); versions are immutable, deploy another version");
  }
  registry_.add_if_absent(std::move(projection),
                          VersionOrigin{.kind = stored.source, .document = stored.document, .sha256 = stored.sha256, .file = {}});
  if (inserted) spdlog::info("spec {} deployed ({})", id_of(name, version), to_string(source));
  return Put{stored, inserted};
}

std::optional<StoredSpec> SpecCatalog::get(const std::string& name, int version) {
  return pool_.run([&](pqxx::connection& conn) -> std::optional<StoredSpec> {
    pqxx::read_transaction tx{conn};
    auto r = tx.exec_params("SELECT document, sha256, source FROM reproj.projection_specs WHERE projection = $1 AND version = $2",
                            name, version);
    if (r.empty()) return std::nullopt;
    return StoredSpec{name, version, r[0][0].as<std::string>(), r[0][1].as<std::string>(), kind_of(r[0][2].as<std::string>())};
  });
}

std::vector<std::pair<std::string, int>> SpecCatalog::sync() {
  auto rows = pool_.run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx{conn};
    return tx.exec("SELECT projection, version, document, sha256, source FROM reproj.projection_specs ORDER BY 1, 2");
  });
  std::vector<std::pair<std::string, int>> added;
  for (const auto& r : rows) {
    const auto name = r[0].as<std::string>();
    const int version = r[1].as<int>();
    if (auto origin = registry_.origin(name, version)) {
      if (origin->kind == VersionOrigin::Kind::kCompiled) {
        spdlog::warn("stored spec {} is shadowed by the compiled-in version", id_of(name, version));
      }
      continue;
    }
    auto compiled = compile(r[2].as<std::string>());
    if (auto* problems = std::get_if<std::vector<Problem>>(&compiled)) {
      spdlog::error("stored spec {} cannot be loaded by this build: {}: {}", id_of(name, version), problems->front().path,
                    problems->front().message);
      continue;
    }
    if (registry_.add_if_absent(std::move(std::get<std::unique_ptr<SpecProjection>>(compiled)),
                                VersionOrigin{.kind = kind_of(r[4].as<std::string>()), .document = r[2].as<std::string>(),
                                              .sha256 = r[3].as<std::string>(), .file = {}})) {
      spdlog::info("spec {} registered from the database", id_of(name, version));
      added.emplace_back(name, version);
    }
  }
  return added;
}

void SpecCatalog::store_files() {
  for (const auto& name : registry_.names()) {
    for (int version : registry_.versions(name)) {
      auto origin = registry_.origin(name, version);
      if (!origin || origin->kind != VersionOrigin::Kind::kFile) continue;
      bool inserted = false;
      const StoredSpec stored = pool_.run([&](pqxx::connection& conn) {
        pqxx::work tx{conn};
        auto s = store(tx, StoredSpec{name, version, origin->document, {}, VersionOrigin::Kind::kFile}, inserted);
        tx.commit();
        return s;
      });
      if (stored.document != origin->document) {
        throw std::runtime_error(origin->file + ": " + id_of(name, version) + " is stored with other content (deployed " +
                                 (stored.source == VersionOrigin::Kind::kApi ? "over the API" : "from another file") +
                                 ", sha256 " + stored.sha256 + "); versions are immutable");
      }
    }
  }
}

Deployed deploy(SpecCatalog& catalog, LiveProjections& live, RebuildManager& rebuilds, std::string_view document,
                VersionOrigin::Kind source, std::optional<std::pair<std::string, int>> at) {
  Deployed out{catalog.put(document, source, std::move(at)), std::nullopt};
  const auto& spec = out.put.spec;
  if (live.ensure(spec.projection, spec.version, LiveProjections::Created::kBuildFirst)) {
    out.rebuild_id = rebuilds.start(spec.projection, spec.version).id;
    spdlog::info("projection {} created; rebuild {} builds it from the whole log", spec.projection, *out.rebuild_id);
  }
  return out;
}

void resume_building(LiveProjections& live, RebuildManager& rebuilds) {
  for (const auto& p : live.status()) {
    if (!p.building || !live.registry().has(p.name)) continue;
    try {
      const auto info = rebuilds.start(p.name, p.active_version);
      spdlog::info("projection {} is building; started rebuild {}", p.name, info.id);
    } catch (const StateConflict&) {
      // its rebuild is running (here or on another instance)
    }
  }
}

SpecListener::SpecListener(std::string database_url, SpecCatalog& catalog)
    : url_(std::move(database_url)), catalog_(catalog), thread_([this](std::stop_token stop) { run(stop); }) {}

SpecListener::~SpecListener() {
  thread_.request_stop();
  thread_.join();
}

void SpecListener::run(std::stop_token stop) {
  using namespace std::chrono_literals;
  struct Receiver final : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, bool& flag) : notification_receiver(c, "reproj_specs"), flag_(flag) {}
    void operator()(const std::string&, int) override { flag_ = true; }
    bool& flag_;
  };
  while (!stop.stop_requested()) {
    try {
      pqxx::connection conn{url_};
      bool notified = false;
      Receiver receiver{conn, notified};
      catalog_.sync();  // what was deployed while nobody listened
      auto last_sync = std::chrono::steady_clock::now();
      while (!stop.stop_requested()) {
        conn.await_notification(0, 200'000);  // wakes 5 times a second to see a stop
        if (notified || std::chrono::steady_clock::now() - last_sync > 5s) {
          notified = false;
          catalog_.sync();
          last_sync = std::chrono::steady_clock::now();
        }
      }
    } catch (const std::exception& e) {
      spdlog::warn("spec listener: {}; reconnecting", e.what());
      detail::sleep_unless_stopped(stop, 1s);
    }
  }
}

}  // namespace reproj::engine::spec
