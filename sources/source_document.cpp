#include "sources/source_document.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sources/kafka_topic.hpp"
#include "sources/postgres_table.hpp"
#include "sources/redis_stream.hpp"

namespace reproj::sources {

namespace {

const std::set<std::string> kShared{"kind",  "mapping",  "start",   "sync_reads", "poison", "required_for_ready",
                                    "batch", "url",      "url_env", "url_file"};
// Each kind's own members.
const std::map<std::string, std::set<std::string>> kKindMembers{
    {"postgres_table", {"table", "position", "order"}},
    {"redis_stream", {"streams", "on_gap"}},
    {"kafka", {"bootstrap_servers", "topic", "partitions", "properties", "properties_env", "properties_file", "on_gap"}},
};
constexpr const char* kKinds = "postgres_table, redis_stream or kafka";

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 63 || !(n[0] >= 'a' && n[0] <= 'z')) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

}  // namespace

SourceDocument parse_source(const std::string& name, std::string_view text) {
  std::vector<Problem> problems;
  if (!valid_name(name)) {
    problems.push_back({"", "a source name is 1-63 of a-z, 0-9, _ and -, starting with a letter"});
  }
  SourceDocument d;
  d.name = name;
  d.text = std::string{text};
  try {
    d.document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    problems.push_back({"", std::string{"not JSON: "} + e.what()});
    throw engine::InvalidSource(problems);
  }
  const auto& doc = d.document;
  if (!doc.is_object()) {
    problems.push_back({"", "a source is a JSON object"});
    throw engine::InvalidSource(problems);
  }
  auto kind = doc.find("kind");
  if (kind == doc.end() || !kind->is_string()) {
    problems.push_back({"/kind", std::string{"missing: one of "} + kKinds});
  } else {
    d.kind = kind->get<std::string>();
    if (!kKindMembers.count(d.kind)) problems.push_back({"/kind", "\"" + d.kind + "\" is not a kind of source: " + kKinds});
  }
  for (const auto& [key, value] : doc.items()) {
    auto own = kKindMembers.find(d.kind);
    if (!kShared.count(key) && !(own != kKindMembers.end() && own->second.count(key))) {
      problems.push_back({"/" + key, "unknown member"});
    }
  }
  auto flag = [&](const char* key, bool& out) {
    auto it = doc.find(key);
    if (it == doc.end()) return;
    if (!it->is_boolean()) {
      problems.push_back({std::string{"/"} + key, "must be true or false"});
      return;
    }
    out = it->get<bool>();
  };
  flag("sync_reads", d.sync_reads);
  flag("required_for_ready", d.required_for_ready);
  if (auto it = doc.find("start"); it != doc.end()) {
    if (*it == "beginning") {
      d.start = SourceDocument::Start::kBeginning;
    } else if (*it == "end") {
      d.start = SourceDocument::Start::kEnd;
    } else {
      problems.push_back({"/start", "\"beginning\" (every record) or \"end\" (records from now on)"});
    }
  }
  if (auto it = doc.find("poison"); it != doc.end()) {
    auto policy = it->is_string() ? engine::parse_poison_policy(it->get<std::string>()) : std::nullopt;
    if (!policy) {
      problems.push_back({"/poison", "\"skip\" (quarantine the record, go on) or \"stop\" (stop the source at it)"});
    } else {
      d.poison = *policy;
    }
  }
  if (auto it = doc.find("batch"); it != doc.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 10'000) {
      problems.push_back({"/batch", "records per transaction: an integer from 1 to 10000"});
    } else {
      d.batch = it->get<std::size_t>();
    }
  }
  int urls = 0;
  for (const char* key : {"url", "url_env", "url_file"}) {
    auto it = doc.find(key);
    if (it == doc.end()) continue;
    ++urls;
    if (!it->is_string() || it->get<std::string>().empty()) {
      problems.push_back({std::string{"/"} + key, "must be a non-empty string"});
      continue;
    }
    (std::string_view{key} == "url" ? d.url : std::string_view{key} == "url_env" ? d.url_env : d.url_file) = it->get<std::string>();
  }
  if (urls > 1) problems.push_back({"/url", "name the source database once: url, url_env or url_file"});
  if (auto it = doc.find("on_gap"); it != doc.end()) {
    if (*it == "skip") {
      d.on_gap = SourceDocument::OnGap::kSkip;
    } else if (*it != "stop") {
      problems.push_back({"/on_gap", "\"stop\" (state gap, naming the missing range) or \"skip\" (quarantine the gap, go on)"});
    }
  }
  std::vector<ReferenceRoot> roots;
  if (d.kind == "postgres_table") {
    parse_postgres_table(doc, problems);
    roots = postgres_table_references();
  } else if (d.kind == "redis_stream") {
    parse_redis_stream(doc, problems);
    roots = redis_stream_references();
  } else if (d.kind == "kafka") {
    parse_kafka(doc, problems);
    roots = kafka_references();
  }
  if (auto it = doc.find("mapping"); it == doc.end()) {
    problems.push_back({"/mapping", "missing: how a record becomes an event ({\"stream_id\", \"type\", \"data\", …})"});
  } else if (!roots.empty()) {
    if (auto m = Mapping::compile(*it, "/mapping", roots, problems)) d.mapping = std::move(*m);
  }
  if (!problems.empty()) throw engine::InvalidSource(problems);
  return d;
}

std::string SourceDocument::resolve_url(const std::string& database_url) const {
  if (!url.empty()) return url;
  if (!url_env.empty()) {
    const char* v = std::getenv(url_env.c_str());
    if (!v || !*v) throw engine::InvalidSource({{"/url_env", "the environment variable " + url_env + " is not set"}});
    return v;
  }
  if (!url_file.empty()) {
    std::ifstream in{url_file};
    std::string line;
    if (!in || !std::getline(in, line) || line.empty()) {
      throw engine::InvalidSource({{"/url_file", "cannot read a URL from " + url_file}});
    }
    return line;
  }
  return database_url;
}

std::unique_ptr<SourceReader> SourceDocument::reader(const std::string& database_url) const {
  std::vector<Problem> problems;
  if (kind == "kafka") {
    auto config = parse_kafka(document, problems);
    if (!config) throw engine::InvalidSource(problems);
    return kafka_reader(std::move(*config));
  }
  if (kind == "redis_stream") {
    auto config = parse_redis_stream(document, problems);
    if (!config) throw engine::InvalidSource(problems);
    return redis_stream_reader(std::move(*config), resolve_url(database_url), mapping.names("json"));
  }
  auto config = parse_postgres_table(document, problems);
  if (!config) throw engine::InvalidSource(problems);
  return postgres_table_reader(std::move(*config), resolve_url(database_url), mapping.names("col"),
                               mapping.uses("record"));
}

}  // namespace reproj::sources
