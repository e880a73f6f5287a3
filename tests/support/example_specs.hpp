#pragma once
// The spec documents under examples/specs/, as the API tests deploy them.

#include <fstream>
#include <sstream>
#include <string>

namespace reproj::test {

/// The text of examples/specs/`file` (needs REPROJ_SOURCE_DIR, set by tests/CMakeLists.txt).
inline std::string example_spec(const std::string& file) {
  std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/examples/specs/" + file};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace reproj::test
