// `reproj projection …`: projection specs from the command line.
#include <iostream>

#include "api/cli/commands.hpp"
#include "engine/spec/spec_files.hpp"

namespace reproj::cli {

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

}  // namespace reproj::cli
