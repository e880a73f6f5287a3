// The README's connection figures are the code's (issue 37): they were stale once, predating the
// reactors and the separate read and append pools.
#include <fstream>
#include <iterator>
#include <regex>

#include <gtest/gtest.h>

#include "api/cli/connection_budget.hpp"

using namespace reproj;

namespace {
std::string readme() {
  std::ifstream in{std::string{REPROJ_SOURCE_DIR} + "/README.md"};
  return {std::istreambuf_iterator<char>{in}, {}};
}
int figure(const std::string& text, const std::string& pattern) {
  std::smatch m;
  // Collapse line breaks: the README wraps its prose.
  const std::string flat = std::regex_replace(text, std::regex{R"(\s+)"}, " ");
  if (!std::regex_search(flat, m, std::regex{pattern})) return -1;
  return std::stoi(m[1].str());
}
}  // namespace

TEST(ConnectionBudget, TheReadmeStatesTheFiguresTheCodeUses) {
  const auto text = readme();
  EXPECT_EQ(figure(text, R"(`serve` keeps a pool of (\d+))"), cli::serve_pool());
  EXPECT_EQ(figure(text, R"((\d+) sessions of their own)"), cli::kSessions);
  EXPECT_EQ(figure(text, R"(one instance needs at most (\d+) \+ sources)"), cli::serve_steady());
  EXPECT_EQ(figure(text, R"(and (\d+) more while it runs a rebuild)"), cli::kPerRebuild);
  EXPECT_EQ(figure(text, R"(up to (\d+) short-lived)"), cli::kAtStart);
  EXPECT_EQ(figure(text, R"(`reproj work` (\d+) \+ sources)"), cli::kWorkPool + cli::kSessions);
  EXPECT_EQ(figure(text, R"(N × \((\d+) \+ sources)"), cli::serve_steady());
  EXPECT_EQ(figure(text, R"(2 projections and no source: ≥ (\d+))"), 3 * (cli::serve_steady() + 2 * cli::kPerRebuild) + cli::kAtStart);
}
