#include "api/cli/huge_pages.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace reproj::cli {

namespace {
constexpr const char* kTunable = "glibc.malloc.hugetlb";

// "always [madvise] never": madvise is what glibc's tunable uses; always works too.
bool kernel_offers_huge_pages() {
  std::ifstream in{"/sys/kernel/mm/transparent_hugepage/enabled"};
  std::string modes;
  std::getline(in, modes);
  return modes.find("[always]") != std::string::npos || modes.find("[madvise]") != std::string::npos;
}
}  // namespace

void reexec_with_huge_pages(char** argv) {
  if (const char* off = std::getenv("REPROJ_HUGE_PAGES"); off && std::string{off} == "0") return;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  const std::string current = tunables ? tunables : "";
  // Also the guard against executing again: after the exec the variable names the tunable.
  if (current.find(kTunable) != std::string::npos || !kernel_offers_huge_pages()) return;
  const std::string wanted = (current.empty() ? "" : current + ":") + kTunable + "=1";
  if (setenv("GLIBC_TUNABLES", wanted.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Still here: the exec failed (no /proc, say). Run as we are, and say nothing of it to children.
  if (tunables) {
    setenv("GLIBC_TUNABLES", tunables, 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace reproj::cli
