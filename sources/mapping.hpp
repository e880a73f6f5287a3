#pragma once
// How a source's record becomes an event: {"stream_id", "type", "data", "metadata"?, "event_id"?},
// each a reference ("$col.stream_id", "$record"), a literal, or (data, metadata) an object whose
// values are references or literals. Which references exist is the kind's (ReferenceRoot).

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/errors.hpp"
#include "engine/event.hpp"

namespace reproj::sources {

using Problem = engine::InvalidSource::Problem;

/// A reference a kind offers: "$col.NAME" is {"col", named}, "$record" is {"record", whole}.
struct ReferenceRoot {
  std::string name;
  enum class Form { kNamed, kWhole, kEither } form = Form::kNamed;  // kEither: "$value" and "$value.x"
};

/// Resolves a reference against one record: the value, or null when the record has none.
using Resolver = std::function<const nlohmann::json*(std::string_view root, std::string_view name)>;

/// A record the mapping cannot turn into an event (a reference missing, data not a JSON object):
/// quarantined or stopping the source, by its policy.
class BadRecord : public engine::Error {
 public:
  using engine::Error::Error;
};

/// What a record maps to.
struct MappedEvent {
  std::string stream_id;
  engine::NewEvent event;  // event_id set only when the mapping names one
};

/// A compiled mapping. Immutable and thread-safe.
class Mapping {
 public:
  /// Compiles `doc` (at JSON pointer `path`), adding every problem to `problems`; nullopt if any.
  static std::optional<Mapping> compile(const nlohmann::json& doc, const std::string& path,
                                        const std::vector<ReferenceRoot>& roots, std::vector<Problem>& problems);

  /// The event for one record. Throws BadRecord naming the field and the reason.
  MappedEvent apply(const Resolver& resolve) const;

  /// The names used with `root` (the columns "$col.X" reads), to check them against the source.
  std::set<std::string> names(std::string_view root) const;
  /// Whether any reference has `root` ("$record").
  bool uses(std::string_view root) const;

 private:
  struct Node {
    enum class Kind { kReference, kLiteral, kObject } kind = Kind::kLiteral;
    std::string root, name;  // kReference
    nlohmann::json literal;  // kLiteral
    std::vector<std::pair<std::string, Node>> members;  // kObject
  };
  // Whether a node may be an object of nodes (data, metadata) or only a reference or literal.
  enum class Shape { kScalar, kObjects };
  static std::optional<Node> node(const nlohmann::json& value, const std::string& path, Shape shape,
                                  const std::vector<ReferenceRoot>& roots, std::vector<Problem>& problems);
  static nlohmann::json evaluate(const Node& n, const Resolver& resolve, std::string_view field);
  static void collect(const Node& n, std::string_view root, std::set<std::string>& out, bool& used);
  void collect_all(std::string_view root, std::set<std::string>& out, bool& used) const;

  Node stream_id_, type_, data_;
  std::optional<Node> metadata_, event_id_;
};

}  // namespace reproj::sources
