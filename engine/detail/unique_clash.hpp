#pragma once
// Turning the RowSet's view of two rows sharing a unique value into what users are told.

#include <string>
#include <vector>

#include "engine/errors.hpp"
#include "engine/projection.hpp"
#include "engine/row_set.hpp"

namespace reproj::engine::detail {

/// Table and column names, the value as JSON (one column: the value; several: an array).
UniqueViolation::Clash describe(const Projection& projection, const UniqueClash& clash);
/// The error for one clash (its message is also what a quarantine entry records).
inline UniqueViolation violation(const Projection& projection, const UniqueClash& clash) {
  return UniqueViolation{std::string{projection.name()}, {describe(projection, clash)}};
}

/// The clashes as stored and served: [{"table", "columns", "value", "key", "position",
/// "existing_key", "existing_position"}] ("existing_position" null when unknown).
std::string clashes_json(const UniqueViolation& violation);

}  // namespace reproj::engine::detail
