// Keeps the dependency direction of the tree: api -> sources -> engine <- projections. Scans #include lines.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace {

struct Include {
  std::string file;  // relative to the source root
  std::string target;
};

std::vector<Include> includes_under(const std::string& folder) {
  std::vector<Include> out;
  const fs::path root{REPROJ_SOURCE_DIR};
  const std::regex include_re{R"(^\s*#\s*include\s*[<"]([^>"]+)[>"])"};
  for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".hpp" && ext != ".cpp")) continue;
    std::ifstream in{entry.path()};
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, include_re)) {
        out.push_back({fs::relative(entry.path(), root).string(), m[1].str()});
      }
    }
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST(Layout, EngineKnowsNoHttpNoJsonWireFormatAndNoProjection) {
  for (const auto& inc : includes_under("engine")) {
    EXPECT_FALSE(starts_with(inc.target, "api/")) << inc.file << " includes " << inc.target;
    EXPECT_FALSE(starts_with(inc.target, "projections/")) << inc.file << " includes " << inc.target;
    // Boost here is Asio/Beast, i.e. HTTP; its header-only big integers (exact numeric columns) are not.
    if (starts_with(inc.target, "boost/multiprecision/")) continue;
    EXPECT_FALSE(starts_with(inc.target, "boost/")) << inc.file << " includes " << inc.target;
  }
}

TEST(Layout, SourcesSitBetweenTheEngineAndTheApi) {
  for (const auto& inc : includes_under("engine")) {
    EXPECT_FALSE(starts_with(inc.target, "sources/")) << inc.file << " includes " << inc.target;
  }
  for (const auto& inc : includes_under("sources")) {
    EXPECT_FALSE(starts_with(inc.target, "api/")) << inc.file << " includes " << inc.target;
    EXPECT_FALSE(starts_with(inc.target, "projections/")) << inc.file << " includes " << inc.target;
    EXPECT_FALSE(starts_with(inc.target, "boost/")) << inc.file << " includes " << inc.target;
    EXPECT_EQ(inc.target.find("/detail/"), std::string::npos) << inc.file << " includes " << inc.target;
  }
}

TEST(Layout, ProjectionsSeeOnlyTheProjectionInterface) {
  const std::set<std::string> allowed{"engine/projection.hpp", "engine/event.hpp", "engine/errors.hpp",
                                      "engine/registry.hpp"};
  for (const auto& inc : includes_under("projections")) {
    if (starts_with(inc.target, "projections/")) continue;
    if (inc.target.find('/') == std::string::npos && inc.target.find('.') == std::string::npos) continue;  // std
    if (starts_with(inc.target, "nlohmann/")) continue;
    EXPECT_TRUE(allowed.count(inc.target)) << inc.file << " includes " << inc.target;
  }
}

TEST(Layout, DetailHeadersStayInsideTheirFolder) {
  for (const char* folder : {"api", "projections"}) {
    for (const auto& inc : includes_under(folder)) {
      EXPECT_EQ(inc.target.find("/detail/"), std::string::npos) << inc.file << " includes " << inc.target;
    }
  }
}

TEST(Layout, ApiReachesTheDatabaseOnlyThroughTheEngine) {
  for (const auto& inc : includes_under("api")) {
    EXPECT_FALSE(starts_with(inc.target, "pqxx/")) << inc.file << " includes " << inc.target;
  }
}

TEST(Layout, OnlyTheCommandLineKnowsTheCompiledInProjections) {
  for (const auto& inc : includes_under("api")) {
    if (inc.file == "api/main.cpp" || starts_with(inc.file, "api/cli/")) continue;
    EXPECT_FALSE(starts_with(inc.target, "projections/")) << inc.file << " includes " << inc.target;
  }
}

TEST(Layout, HandlersReachTheEngineOnlyThroughItsPublicHeaders) {
  for (const auto& inc : includes_under("api/handlers")) {
    EXPECT_FALSE(starts_with(inc.target, "pqxx/")) << inc.file << " includes " << inc.target;
    EXPECT_FALSE(starts_with(inc.target, "boost/")) << inc.file << " includes " << inc.target << " (api/asio.hpp)";
  }
}

TEST(Layout, NoSourceFileOver400LinesWithoutAReasonAtItsTop) {
  const fs::path root{REPROJ_SOURCE_DIR};
  for (const char* folder : {"engine", "api", "projections", "sources"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const auto ext = entry.path().extension();
      if (!entry.is_regular_file() || (ext != ".hpp" && ext != ".cpp")) continue;
      std::ifstream in{entry.path()};
      std::string line, top;
      std::size_t lines = 0;
      while (std::getline(in, line)) {
        if (++lines <= 8) top += line + "\n";
      }
      if (lines > 400) {
        EXPECT_NE(top.find("Past ~400 lines"), std::string::npos)
            << fs::relative(entry.path(), root).string() << " has " << lines << " lines and no reason at its top";
      }
    }
  }
}

TEST(Layout, CommentsAndReadmeCiteTheRepositorysOwnNumberedInvariants) {
  const fs::path root{REPROJ_SOURCE_DIR};
  std::ifstream design_file{root / "docs" / "DESIGN.md"};
  const std::string design{std::istreambuf_iterator<char>{design_file}, {}};
  ASSERT_FALSE(design.empty()) << "docs/DESIGN.md is missing";
  const std::regex cite{R"(docs/DESIGN\.md, invariant (\d+))"};
  auto check = [&](const fs::path& file) {
    std::ifstream in{file};
    const std::string text{std::istreambuf_iterator<char>{in}, {}};
    const auto name = fs::relative(file, root).string();
    EXPECT_EQ(text.find("../shared/"), std::string::npos) << name << " cites a file outside the repository";
    for (std::sregex_iterator m{text.begin(), text.end(), cite}, end; m != end; ++m) {
      EXPECT_NE(design.find("\n" + (*m)[1].str() + ". **"), std::string::npos)
          << name << " cites invariant " << (*m)[1] << ", which docs/DESIGN.md does not number";
    }
  };
  check(root / "README.md");
  for (const char* folder : {"engine", "api", "projections", "sources", "migrations"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      if (entry.is_regular_file()) check(entry.path());
    }
  }
}

