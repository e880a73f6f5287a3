// `reproj rebuild` and `reproj status`, each either through a running server (--server) or
// straight against the database.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/cli/commands.hpp"
#include "api/cli/engine_root.hpp"
#include "api/http_client.hpp"
#include "api/json_mapping.hpp"
#include "api/projection_view.hpp"

namespace reproj::cli {

namespace {

using Json = nlohmann::json;

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) != 0; }

// One progress update: a redrawn bar on a terminal, one JSON line otherwise.
void print_progress(const Json& r, bool tty) {
  if (!tty) {
    std::cout << r.dump() << std::endl;
    return;
  }
  const double position = r.value("position", 0.0), target = std::max(r.value("target", 0.0), 1.0);
  const double fraction = std::min(position / target, 1.0);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar = std::string(static_cast<std::size_t>(filled), '#') +
                    std::string(static_cast<std::size_t>(kWidth - filled), '.');
  char line[256];
  const auto eta = r.contains("eta_seconds") && r["eta_seconds"].is_number() ? r["eta_seconds"].get<double>() : -1.0;
  std::snprintf(line, sizeof line, "\r[%s] %5.1f%%  %lld/%lld  %.0f ev/s  ETA %s  %-12s", bar.c_str(), fraction * 100,
                static_cast<long long>(position), static_cast<long long>(target), r.value("events_per_second", 0.0),
                eta < 0 ? "-" : (std::to_string(static_cast<long long>(eta)) + "s").c_str(),
                r.value("state", std::string{}).c_str());
  std::cout << line << std::flush;
}

// A diff report: one line per table for people, then the report as JSON.
void print_diff(const Json& report) {
  std::cout << "diff at position " << report.value("position", 0) << ":\n";
  const Json tables = report.value("tables", Json::object());
  for (const auto& [name, t] : tables.items()) {
    std::string columns;
    const Json changed = t.value("changed_columns", Json::object());
    for (const auto& [c, n] : changed.items()) {
      columns += (columns.empty() ? "" : ", ") + c + " " + n.dump();
    }
    std::cout << "  " << name << ": " << t.value("changed", 0) << " changed" << (columns.empty() ? "" : " (" + columns + ")")
              << ", " << t.value("added", 0) << " added, " << t.value("removed", 0) << " removed, "
              << t.value("unchanged", 0) << " unchanged; unexpected: "
              << (t.value("unexpected_columns", Json::array()).empty() ? "none" : t["unexpected_columns"].dump()) << "\n";
  }
  std::cout << report.dump() << std::endl;
}

}  // namespace

int rebuild_through_server(const ServerArgs& server, const RebuildArgs& args) {
  Json body = Json::object();
  if (args.version) body["version"] = args.version;
  body["promote"] = args.promote;
  if (!args.expect_changes.empty()) body["expect_changes"] = args.expect_changes;
  auto [status, started] = admin_call(server, "POST", "/admin/projections/" + args.projection + "/rebuild", body.dump());
  std::int64_t id = 0;
  if (status == 202) {
    id = started["rebuild_id"].get<std::int64_t>();
  } else if (status == 409 && started.contains("rebuild_id")) {
    id = started["rebuild_id"].get<std::int64_t>();
    std::cerr << "rebuild " << id << " is already running; following it\n";
  } else {
    std::cerr << "error: " << status << " " << started.dump() << "\n";
    return kExitFailed;
  }
  if (!args.follow) {
    std::cout << Json{{"rebuild_id", id}, {"status_url", "/admin/rebuilds/" + std::to_string(id)}}.dump() << "\n";
    return 0;
  }
  const bool tty = stdout_is_terminal();
  while (true) {
    auto [s, info] = admin_call(server, "GET", "/admin/rebuilds/" + std::to_string(id));
    if (s != 200) {
      std::cerr << "\nerror: " << s << " " << info.dump() << "\n";
      return kExitFailed;
    }
    print_progress(info, tty);
    const auto state = info.value("state", std::string{});
    if (state == "ready") {  // waits for `reproj promote`
      if (tty) std::cout << "\n";
      auto [ds, report] = admin_call(server, "GET", "/admin/rebuilds/" + std::to_string(id) + "/diff");
      if (ds == 200) print_diff(report);
      return 0;
    }
    if (state == "done" || state == "failed" || state == "cancelled") {
      if (tty) std::cout << "\n" << info.dump() << "\n";
      return state == "done" ? 0 : kExitFailed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

int rebuild(const DatabaseArgs& db, const RebuildArgs& args) {
  EngineRoot e{db, 4};
  const bool tty = stdout_is_terminal();
  const int version = args.version ? args.version : e.registry.latest(args.projection).version();
  engine::RebuildInfo info;
  if (auto running = e.rebuilds->running(args.projection)) {
    if (running->version != version) {
      std::cerr << "error: rebuild " << running->id << " of " << args.projection << " to version " << running->version
                << " is already running\n";
      return kExitFailed;
    }
    info = *running;  // attach: resume it here, or follow whoever runs it
  } else {
    info = e.rebuilds->start(args.projection, version, engine::DependentViews::kRefuse,
                             engine::parse_promote_mode(args.promote).value_or(engine::PromoteMode::kAuto),
                             args.expect_changes);
  }
  if (!tty || !args.follow) std::cout << api::rebuild_to_json(info).dump() << std::endl;
  // A rebuild that reaches `ready` waits there for `reproj promote`: this process stops running it
  // (a server or `reproj work` follows the tail meanwhile) and prints the diff.
  std::stop_source at_ready;
  std::jthread progress([&, id = info.id](std::stop_token stop) {
    while (!stop.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(args.follow ? 500 : 100));
      auto r = e.rebuilds->get(id);
      if (!r) continue;
      if (args.follow) print_progress(api::rebuild_to_json(*r), tty);
      if (r->state == engine::RebuildState::kReady) at_ready.request_stop();
    }
  });
  auto waits = [](const engine::RebuildInfo& r) { return r.state == engine::RebuildState::kReady; };
  std::optional<engine::RebuildInfo> final_info;
  while (!final_info || (engine::is_running(final_info->state) && !(waits(*final_info) && at_ready.stop_requested()))) {
    final_info = e.rebuilds->run(info.id, at_ready.get_token());
    if (!final_info) {  // another process holds it: wait for it to end
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      final_info = e.rebuilds->get(info.id);
    }
  }
  if (progress.joinable()) {
    progress.request_stop();
    progress.join();
  }
  if (tty && args.follow) print_progress(api::rebuild_to_json(*final_info), tty), std::cout << "\n";
  std::cout << api::rebuild_to_json(*final_info).dump() << std::endl;
  if (waits(*final_info)) {
    if (auto report = e.rebuilds->diff(final_info->id)) print_diff(Json::parse(*report));
    return 0;
  }
  return final_info->state == engine::RebuildState::kDone ? 0 : kExitFailed;
}

int status_through_server(const ServerArgs& server) {
  auto [status, projections] = admin_call(server, "GET", "/admin/projections");
  if (status != 200) {
    std::cerr << "error: " << status << " " << projections.dump() << "\n";
    return kExitFailed;
  }
  auto [rebuilds_status, rebuilds] = admin_call(server, "GET", "/admin/rebuilds");
  if (rebuilds_status != 200) {
    std::cerr << "error: " << rebuilds_status << " " << rebuilds.dump() << "\n";
    return kExitFailed;
  }
  projections["rebuilds"] = rebuilds.value("rebuilds", Json::array());
  std::cout << projections.dump(2) << "\n";
  return 0;
}

int status(const DatabaseArgs& db) {
  EngineRoot e{db, 4};
  Json out{{"safe_tail", e.store.safe_tail()}, {"projections", Json::array()}, {"rebuilds", Json::array()}};
  for (const auto& view : api::projection_views(e.store, e.live, *e.rebuilds)) {
    out["projections"].push_back(api::projection_to_json(view));
  }
  for (const auto& r : e.rebuilds->list()) out["rebuilds"].push_back(api::rebuild_to_json(r));
  std::cout << out.dump(2) << "\n";
  return 0;
}

int diff(const DatabaseArgs& db, const ServerArgs& server, std::int64_t id) {
  if (!server.url.empty()) {
    auto [status, report] = admin_call(server, "GET", "/admin/rebuilds/" + std::to_string(id) + "/diff");
    if (status != 200) {
      std::cerr << "error: " << status << " " << report.dump() << "\n";
      return kExitFailed;
    }
    print_diff(report);
    return 0;
  }
  EngineRoot e{db, 2};
  auto report = e.rebuilds->diff(id);
  if (!report) {
    std::cerr << "error: rebuild " << id << " has no diff yet (one is made when it is ready)\n";
    return kExitFailed;
  }
  print_diff(Json::parse(*report));
  return 0;
}

int promote(const DatabaseArgs& db, const ServerArgs& server, std::int64_t id) {
  if (!server.url.empty()) {
    auto [status, info] = admin_call(server, "POST", "/admin/rebuilds/" + std::to_string(id) + "/promote");
    std::cout << info.dump() << std::endl;
    return status == 202 ? 0 : kExitFailed;
  }
  EngineRoot e{db, 4};
  e.rebuilds->request_promote(id);
  std::optional<engine::RebuildInfo> info;
  while (!info || engine::is_running(info->state)) {
    info = e.rebuilds->run(id);  // here, or wait for the process that runs it
    if (!info) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      info = e.rebuilds->get(id);
    }
  }
  std::cout << api::rebuild_to_json(*info).dump() << std::endl;
  return info->state == engine::RebuildState::kDone ? 0 : kExitFailed;
}

}  // namespace reproj::cli
