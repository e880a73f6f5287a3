#pragma once
// What `reproj --version` prints: the release and the git commit it was built from.

#include <string_view>

namespace reproj::api {

std::string_view version();     // "0.5.0", from CMakeLists.txt's project()
std::string_view git_commit();  // short hash, "-dirty" when built with uncommitted changes; "unknown" outside git

}  // namespace reproj::api
