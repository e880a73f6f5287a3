#include "sources/mapping.hpp"

namespace reproj::sources {

namespace {

std::string text_of(const nlohmann::json& v, std::string_view field) {
  if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s.empty()) throw BadRecord(std::string{field} + " is empty");
    return s;
  }
  if (v.is_number()) return v.dump();
  if (v.is_null()) throw BadRecord(std::string{field} + " is missing (null)");
  throw BadRecord(std::string{field} + " is not a string or a number: " + v.dump().substr(0, 100));
}

// data and metadata must be JSON objects; a text column holding JSON text is parsed.
nlohmann::json object_of(nlohmann::json v, std::string_view field) {
  if (v.is_string()) {
    try {
      v = nlohmann::json::parse(v.get<std::string>());
    } catch (const nlohmann::json::parse_error&) {
      throw BadRecord(std::string{field} + " is not JSON");
    }
  }
  if (!v.is_object()) throw BadRecord(std::string{field} + " is not a JSON object: " + v.dump().substr(0, 100));
  return v;
}

}  // namespace

std::optional<Mapping::Node> Mapping::node(const nlohmann::json& value, const std::string& path, Shape shape,
                                           const std::vector<ReferenceRoot>& roots, std::vector<Problem>& problems) {
  Node n;
  if (value.is_string() && value.get<std::string>().starts_with("$")) {
    const auto text = value.get<std::string>();
    const auto dot = text.find('.');
    const auto root = text.substr(1, dot == std::string::npos ? std::string::npos : dot - 1);
    std::string choices;
    for (const auto& r : roots) {
      using Form = ReferenceRoot::Form;
      choices += (choices.empty() ? "" : ", ") +
                 ("$" + r.name + (r.form == Form::kNamed ? ".NAME" : r.form == Form::kEither ? "[.NAME]" : ""));
      if (r.name != root) continue;
      const bool named = dot != std::string::npos;
      if ((r.form != Form::kEither && named != (r.form == Form::kNamed)) || (named && dot + 1 == text.size())) {
        problems.push_back({path, "\"" + text + "\": $" + r.name +
                                      (r.form == ReferenceRoot::Form::kNamed ? " takes a name, as $" + r.name + ".NAME"
                                                                             : " takes no name")});
        return std::nullopt;
      }
      n.kind = Node::Kind::kReference;
      n.root = root;
      if (named) n.name = text.substr(dot + 1);
      return n;
    }
    problems.push_back({path, "unknown reference \"" + text + "\"; this kind offers " + choices});
    return std::nullopt;
  }
  if (value.is_object() && shape == Shape::kObjects) {
    n.kind = Node::Kind::kObject;
    bool ok = true;
    for (const auto& [key, member] : value.items()) {
      auto m = node(member, path + "/" + key, Shape::kScalar, roots, problems);
      if (!m) {
        ok = false;
        continue;
      }
      n.members.emplace_back(key, std::move(*m));
    }
    if (!ok) return std::nullopt;
    return n;
  }
  n.literal = value;
  return n;
}

std::optional<Mapping> Mapping::compile(const nlohmann::json& doc, const std::string& path,
                                        const std::vector<ReferenceRoot>& roots, std::vector<Problem>& problems) {
  if (!doc.is_object()) {
    problems.push_back({path, "the mapping must be an object with stream_id, type and data"});
    return std::nullopt;
  }
  const auto before = problems.size();
  Mapping m;
  enum class Need { kOptional, kRequired };
  auto field = [&](const char* key, Need need, Shape shape) -> std::optional<Node> {
    auto it = doc.find(key);
    if (it == doc.end()) {
      if (need == Need::kRequired) problems.push_back({path + "/" + key, std::string{"missing: the mapping needs "} + key});
      return std::nullopt;
    }
    return node(*it, path + "/" + key, shape, roots, problems);
  };
  for (const auto& [key, value] : doc.items()) {
    if (key != "stream_id" && key != "type" && key != "data" && key != "metadata" && key != "event_id") {
      problems.push_back({path + "/" + key, "unknown member (stream_id, type, data, metadata, event_id)"});
    }
  }
  auto stream_id = field("stream_id", Need::kRequired, Shape::kScalar);
  auto type = field("type", Need::kRequired, Shape::kScalar);
  auto data = field("data", Need::kRequired, Shape::kObjects);
  m.metadata_ = field("metadata", Need::kOptional, Shape::kObjects);
  m.event_id_ = field("event_id", Need::kOptional, Shape::kScalar);
  if (problems.size() != before || !stream_id || !type || !data) return std::nullopt;
  m.stream_id_ = std::move(*stream_id);
  m.type_ = std::move(*type);
  m.data_ = std::move(*data);
  return m;
}

nlohmann::json Mapping::evaluate(const Node& n, const Resolver& resolve, std::string_view field) {
  switch (n.kind) {
    case Node::Kind::kLiteral:
      return n.literal;
    case Node::Kind::kReference: {
      const nlohmann::json* v = resolve(n.root, n.name);
      if (!v) {
        throw BadRecord(std::string{field} + ": the record has no " + "$" + n.root + (n.name.empty() ? "" : "." + n.name));
      }
      return *v;
    }
    case Node::Kind::kObject: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [key, member] : n.members) out[key] = evaluate(member, resolve, field);
      return out;
    }
  }
  return nullptr;
}

MappedEvent Mapping::apply(const Resolver& resolve) const {
  MappedEvent out;
  out.stream_id = text_of(evaluate(stream_id_, resolve, "stream_id"), "stream_id");
  out.event.type = text_of(evaluate(type_, resolve, "type"), "type");
  out.event.data = object_of(evaluate(data_, resolve, "data"), "data");
  if (metadata_) {
    auto meta = evaluate(*metadata_, resolve, "metadata");
    out.event.metadata = meta.is_null() ? nlohmann::json::object() : object_of(std::move(meta), "metadata");
  }
  if (event_id_) out.event.event_id = text_of(evaluate(*event_id_, resolve, "event_id"), "event_id");
  return out;
}

void Mapping::collect(const Node& n, std::string_view root, std::set<std::string>& out, bool& used) {
  if (n.kind == Node::Kind::kReference && n.root == root) {
    used = true;
    if (!n.name.empty()) out.insert(n.name);
  }
  for (const auto& [key, member] : n.members) collect(member, root, out, used);
}

void Mapping::collect_all(std::string_view root, std::set<std::string>& out, bool& used) const {
  for (const Node* n : {&stream_id_, &type_, &data_}) collect(*n, root, out, used);
  if (metadata_) collect(*metadata_, root, out, used);
  if (event_id_) collect(*event_id_, root, out, used);
}

std::set<std::string> Mapping::names(std::string_view root) const {
  std::set<std::string> out;
  bool used = false;
  collect_all(root, out, used);
  return out;
}

bool Mapping::uses(std::string_view root) const {
  std::set<std::string> names;
  bool used = false;
  collect_all(root, names, used);
  return used;
}

}  // namespace reproj::sources
