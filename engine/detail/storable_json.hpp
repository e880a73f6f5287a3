#pragma once
// What PostgreSQL's jsonb cannot store although it is valid JSON: a \u0000 in a string or a key.
// Checked on the parsed value (the dumped text holds "\\u0000" also for an escaped backslash).

#include <string>

#include <nlohmann/json.hpp>

namespace reproj::engine::detail {

inline bool holds_nul(const nlohmann::json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (value.is_object()) {
    for (const auto& [key, v] : value.items()) {
      if (key.find('\0') != std::string::npos || holds_nul(v)) return true;
    }
  }
  if (value.is_array()) {
    for (const auto& v : value) {
      if (holds_nul(v)) return true;
    }
  }
  return false;
}

}  // namespace reproj::engine::detail
