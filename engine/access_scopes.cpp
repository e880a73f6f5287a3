#include "engine/access_scopes.hpp"

#include <algorithm>

namespace reproj::engine {

std::string_view access_name(Access access) {
  switch (access) {
    case Access::kPublic: return "public";
    case Access::kRead: return "read";
    case Access::kReadProjection: return "read:{projection}";
    case Access::kAppend: return "append:{stream_id}";
    case Access::kAdmin: return "admin";
  }
  return "admin";
}

std::string scope_problem(std::string_view scope) {
  if (scope == "read" || scope == "append" || scope == "admin") return {};
  for (std::string_view kind : {std::string_view{"read:"}, std::string_view{"append:"}}) {
    if (scope.substr(0, kind.size()) != kind) continue;
    const auto rest = scope.substr(kind.size());
    if (rest.empty()) return "scope '" + std::string{scope} + "' names nothing after the colon";
    if (rest.size() > 200) return "scope '" + std::string{scope.substr(0, 40)} + "...' is longer than 200 bytes";
    if (std::any_of(rest.begin(), rest.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return "scope '" + std::string{kind} + "...' contains a control character";
    }
    return {};
  }
  return "unknown scope '" + std::string{scope.substr(0, 60)} +
         "': use read, read:PROJECTION, append, append:PREFIX or admin";
}

bool permits(const std::vector<std::string>& scopes, Access access, std::string_view object) {
  if (access == Access::kPublic) return true;
  for (const auto& s : scopes) {
    if (s == "admin") return true;
    switch (access) {
      case Access::kRead:
        if (s == "read") return true;
        break;
      case Access::kReadProjection:
        if (s == "read" || (s.size() > 5 && s.compare(0, 5, "read:") == 0 && std::string_view{s}.substr(5) == object)) {
          return true;
        }
        break;
      case Access::kAppend:
        if (s == "append" || (s.size() > 7 && s.compare(0, 7, "append:") == 0 &&
                              object.substr(0, s.size() - 7) == std::string_view{s}.substr(7))) {
          return true;
        }
        break;
      default:
        break;
    }
  }
  return false;
}

std::string missing_scope(Access access, std::string_view object) {
  switch (access) {
    case Access::kReadProjection: return "read:" + std::string{object} + " (or read)";
    case Access::kAppend: return "append (or append:PREFIX of '" + std::string{object} + "')";
    case Access::kRead: return "read";
    default: return "admin";
  }
}

}  // namespace reproj::engine
