#pragma once
// PostgreSQL COPY text format: one row a line, fields split by tabs, \N for NULL, backslash escapes.

#include <string>
#include <string_view>
#include <vector>

namespace reproj::engine::detail {

/// Splits one COPY text line into fields, decoding escapes. `fields` and `nulls` are resized to
/// the field count; strings keep their capacity across calls (the replay loop reuses them).
void decode_copy_line(std::string_view line, std::vector<std::string>& fields, std::vector<bool>& nulls);

/// Appends `value` escaped for a COPY text field (no separator).
void append_copy_field(std::string& out, std::string_view value);


}  // namespace reproj::engine::detail
