// `reproj projection …`: projection specs from the command line: validate files (no database),
// apply one (deploy, optionally rebuild), show a version -- each of the last two either through a
// running server (--server) or straight against the database.
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/cli/commands.hpp"
#include "api/cli/engine_root.hpp"
#include "api/json_mapping.hpp"
#include "engine/errors.hpp"
#include "engine/spec/spec_catalog.hpp"
#include "engine/spec/spec_files.hpp"

namespace reproj::cli {

namespace {

using Json = nlohmann::json;

std::optional<std::string> read_file(const std::string& file) {
  std::ifstream in{file, std::ios::binary};
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void print_problems(const std::string& file, const engine::InvalidSpec& e) {
  std::cerr << file << ": " << e.what() << "\n";
  for (const auto& p : e.problems()) std::cerr << file << ": " << (p.path.empty() ? "/" : p.path) << ": " << p.message << "\n";
}

}  // namespace

int validate_specs(const std::vector<std::string>& files) {
  int bad = 0;
  for (const auto& file : files) {
    const auto problems = engine::spec::check_file(file);
    if (problems.empty()) {
      std::cout << file << ": ok\n";
      continue;
    }
    ++bad;
    for (const auto& p : problems) std::cout << file << ": " << (p.path.empty() ? "/" : p.path) << ": " << p.message << "\n";
  }
  return bad == 0 ? 0 : kExitFailed;
}

int apply_spec(const DatabaseArgs& db, const ApplyArgs& args) {
  const auto document = read_file(args.file);
  if (!document) {
    std::cerr << "error: cannot read " << args.file << "\n";
    return kExitFailed;
  }
  RebuildArgs rebuild_args;
  std::optional<std::int64_t> first_build;
  {
    EngineRoot e{db, 4};
    try {
      const auto deployed = engine::spec::deploy(e.specs, e.live, *e.rebuilds, *document, engine::VersionOrigin::Kind::kApi);
      const auto& spec = deployed.put.spec;
      Json out = {{"projection", spec.projection}, {"version", spec.version}, {"sha256", spec.sha256},
                  {"created", deployed.put.created}};
      if (deployed.rebuild_id) out["rebuild_id"] = *deployed.rebuild_id;
      std::cout << out.dump() << std::endl;
      rebuild_args.projection = spec.projection;
      rebuild_args.version = spec.version;
      rebuild_args.follow = args.follow;
      first_build = deployed.rebuild_id;
    } catch (const engine::InvalidSpec& invalid) {
      print_problems(args.file, invalid);
      return kExitFailed;
    }
  }
  // A new projection's first build runs where a server or `reproj work` runs, or here with --follow.
  if ((first_build && args.follow) || (!first_build && args.rebuild)) return rebuild(db, rebuild_args);
  return 0;
}

int apply_spec_through_server(const ServerArgs& server, const ApplyArgs& args) {
  const auto document = read_file(args.file);
  if (!document) {
    std::cerr << "error: cannot read " << args.file << "\n";
    return kExitFailed;
  }
  const auto spec = Json::parse(*document, nullptr, false);
  if (!spec.is_object() || !spec.contains("projection") || !spec["projection"].is_string() || !spec.contains("version") ||
      !spec["version"].is_number_integer()) {
    std::cerr << args.file << ": not a spec (run `reproj projection validate` for the problems)\n";
    return kExitFailed;
  }
  const auto name = spec["projection"].get<std::string>();
  const int version = spec["version"].get<int>();
  auto [status, body] = admin_call(server, "PUT", "/admin/projections/" + name + "/versions/" + std::to_string(version), *document);
  if (status != 200 && status != 201) {
    std::cerr << "error: " << status << " " << body.dump() << "\n";
    for (const auto& p : body.value("problems", Json::array())) {
      std::cerr << args.file << ": " << p.value("path", "") << ": " << p.value("message", "") << "\n";
    }
    return kExitFailed;
  }
  body["created"] = status == 201;
  std::cout << body.dump() << std::endl;
  const bool first_build = body.contains("rebuild_id");
  // A running first build answers the rebuild request with its id (409), which is then followed.
  if ((first_build && args.follow) || (!first_build && args.rebuild)) {
    RebuildArgs rebuild_args;
    rebuild_args.projection = name;
    rebuild_args.version = version;
    rebuild_args.follow = args.follow;
    return rebuild_through_server(server, rebuild_args);
  }
  return 0;
}

int show_version(const DatabaseArgs& db, const std::string& projection, int version) {
  EngineRoot e{db, 2};
  if (version == 0) {
    for (const auto& s : e.live.status()) {
      if (s.name == projection) version = s.active_version;
    }
  }
  if (version == 0) {
    std::cerr << "error: unknown projection '" << projection << "'\n";
    return kExitFailed;
  }
  try {
    std::cout << Json::parse(api::version_json(e.registry, &e.specs, projection, version)).dump(2) << "\n";
  } catch (const engine::NotFound& err) {
    std::cerr << "error: " << err.what() << "\n";
    return kExitFailed;
  }
  return 0;
}

int show_version_through_server(const ServerArgs& server, const std::string& projection, int version) {
  if (version == 0) {
    auto [status, listing] = admin_call(server, "GET", "/admin/projections");
    for (const auto& p : listing.value("projections", Json::array())) {
      if (p.value("name", "") == projection) version = p.value("active_version", 0);
    }
    if (version == 0) {
      std::cerr << "error: unknown projection '" << projection << "' (" << status << ")\n";
      return kExitFailed;
    }
  }
  auto [status, body] = admin_call(server, "GET", "/admin/projections/" + projection + "/versions/" + std::to_string(version));
  if (status != 200) {
    std::cerr << "error: " << status << " " << body.dump() << "\n";
    return kExitFailed;
  }
  std::cout << body.dump(2) << "\n";
  return 0;
}

}  // namespace reproj::cli
