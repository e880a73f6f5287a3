#include "engine/spec/spec_files.hpp"

#include "engine/spec/spec_catalog.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace reproj::engine::spec {

namespace {

std::optional<std::string> read(const std::filesystem::path& file) {
  std::ifstream in{file, std::ios::binary};
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The spec in `file`, compiled, or its problems.
std::variant<std::unique_ptr<SpecProjection>, std::vector<Problem>> load(const std::filesystem::path& file,
                                                                        std::string* document = nullptr) {
  auto text = read(file);
  if (!text) return std::vector<Problem>{{"", "cannot read the file"}};
  if (document) *document = *text;
  return compile(*text);
}

}  // namespace

std::vector<Problem> check_file(const std::filesystem::path& file) {
  auto loaded = load(file);
  if (auto* problems = std::get_if<std::vector<Problem>>(&loaded)) return *problems;
  return {};
}

void register_directory(const std::filesystem::path& dir, ProjectionRegistry& registry) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  if (ec) throw std::runtime_error("projections directory " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::string document;
    auto loaded = load(file, &document);
    if (auto* problems = std::get_if<std::vector<Problem>>(&loaded)) {
      const auto& p = problems->front();
      throw std::runtime_error(file.string() + ": " + (p.path.empty() ? "" : p.path + ": ") + p.message +
                               (problems->size() > 1 ? " (and " + std::to_string(problems->size() - 1) + " more)" : ""));
    }
    auto projection = std::move(std::get<std::unique_ptr<SpecProjection>>(loaded));
    const std::string name{projection->name()};
    const auto versions = registry.versions(name);
    if (std::find(versions.begin(), versions.end(), projection->version()) != versions.end()) {
      throw std::runtime_error(file.string() + ": " + name + " version " + std::to_string(projection->version()) +
                               " is already registered (compiled in, or by an earlier file)");
    }
    if (auto conflict = served_key_conflict(registry, *projection)) {
      throw std::runtime_error(file.string() + ": " + conflict->path + ": " + conflict->message);
    }
    registry.add(std::move(projection),
                 VersionOrigin{.kind = VersionOrigin::Kind::kFile, .document = compact(document), .sha256 = {},
                               .file = file.string()});
  }
}

}  // namespace reproj::engine::spec
