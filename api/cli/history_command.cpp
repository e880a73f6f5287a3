// `reproj history PROJECTION KEY [--as-of P]`: why a row says what it says -- its versions with the
// events that made them, or the row as of a position (engine/history_reads.hpp).
#include <cctype>
#include <cstdio>
#include <iostream>

#include "api/cli/commands.hpp"
#include "api/cli/engine_root.hpp"
#include "api/http_client.hpp"
#include "api/json_mapping.hpp"
#include "engine/errors.hpp"
#include "engine/history_reads.hpp"

namespace reproj::cli {

namespace {

// A path segment: unreserved characters as they are, every other byte %XX.
std::string segment(const std::string& s) {
  std::string out;
  for (const char c : s) {
    const auto ch = static_cast<unsigned char>(c);
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    }
  }
  return out;
}

}  // namespace

int history(const DatabaseArgs& db, const ServerArgs& server, const HistoryArgs& args) {
  if (!server.url.empty()) {
    std::string target = "/" + segment(args.projection) + "/" + segment(args.key);
    target += args.as_of ? "?as_of=" + std::to_string(*args.as_of) : "/history?limit=" + std::to_string(args.limit);
    std::map<std::string, std::string> headers;
    if (!server.token.empty()) headers["Authorization"] = "Bearer " + server.token;
    const auto reply = api::http_call(server.url, "GET", target, "", headers, 60, server.cacert);
    const auto body = nlohmann::json::parse(reply.body, nullptr, false);
    if (reply.status != 200) {
      std::cerr << "error: " << reply.status << " " << (body.is_discarded() ? reply.body : body.dump()) << "\n";
      return kExitFailed;
    }
    std::cout << body.dump(2) << "\n";
    return 0;
  }
  EngineRoot e{db, 2};
  engine::HistoryReads reads{e.live};
  if (args.as_of) {
    const auto r = reads.get_as_of(args.projection, args.key, *args.as_of);
    if (r.rows.empty()) {
      std::cerr << "error: " << args.projection << " '" << args.key << "' did not exist as of position " << *args.as_of
                << "\n";
      return kExitFailed;
    }
    std::cout << api::row_to_json(*r.table, r.rows[0]).dump(2) << "\n";
    return 0;
  }
  const auto h = reads.history(args.projection, args.key, 0, static_cast<std::size_t>(args.limit), {});
  if (h.items.empty()) {
    std::cerr << "error: " << args.projection << " '" << args.key << "' has no versions\n";
    return kExitFailed;
  }
  std::cout << api::history_to_json(h).dump(2) << "\n";
  return 0;
}

}  // namespace reproj::cli
