#pragma once
// A spec compiled onto the engine's Projection interface: the same Sink, so live catch-up, strong
// reads, rebuilds, checkpoints, promote and rollback run it exactly as they run C++ projections.
//
// Every column type and operation of the grammar runs: upsert (the row is written anew: defaults,
// key, set), update (set on the row; if_missing create from defaults, or skip), update_where,
// delete, increment/decrement (bigint: overflow is poison; numeric: exact, PostgreSQL's scale
// rules; double), push (appends a value to a jsonb array; null starts one, a non-array value
// becomes its first element) and pull (removes every element equal to the value). Inline mode
// (issue 17) is refused at construction.

#include <map>
#include <memory>
#include <variant>
#include <string>
#include <vector>

#include "engine/spec/spec.hpp"

namespace reproj::engine::spec {

class SpecProjection final : public Projection {
 public:
  explicit SpecProjection(Spec spec);

  std::string_view name() const override { return spec_.projection; }
  int version() const override { return spec_.version; }
  const std::vector<TableSpec>& tables() const override { return tables_; }
  ProjectionMode mode() const override { return spec_.inline_mode ? ProjectionMode::kInline : ProjectionMode::kAsync; }
  std::vector<FieldRequirement> requirements() const override { return requirements_; }
  EventExtras extras() const override { return extras_; }
  /// Checks every required reference of the event's operations first (PoisonEvent before any
  /// write), then runs the operations in order; a lookup sees what earlier ones wrote.
  void apply(const Event& event, Sink& sink) const override;
  const Spec& spec() const { return spec_; }

 private:
  struct Compiled {
    std::size_t table = 0;                       // index into tables_
    std::vector<std::size_t> set_columns;        // positions in the row, parallel to op.set
    std::size_t column = 0;                      // where / increment column position
  };
  const Spec spec_;
  std::vector<TableSpec> tables_;  // key column first, then the others in document order
  std::vector<Row> defaults_;      // per table: the row a create starts from (key empty)
  std::map<std::string, std::vector<Compiled>> compiled_;  // parallel to spec_.on
  std::vector<FieldRequirement> requirements_;
  EventExtras extras_{.stream_version = false, .metadata = false, .recorded_at = false};
};

/// Parses, checks and compiles a spec document: the projection, or every problem.
std::variant<std::unique_ptr<SpecProjection>, std::vector<Problem>> compile(std::string_view document);

/// The document in the form it is stored and compared in: compact, members in document order.
std::string compact(std::string_view document);

}  // namespace reproj::engine::spec
