#pragma once
// Column values in their canonical forms. A row must compare equal however it reached memory --
// folded from an event, loaded from PostgreSQL's text, read back from to_jsonb -- so every path
// converts through these functions, and what they produce is what PostgreSQL prints:
//   text, boolean, bigint   as themselves;
//   double                  a C++ double (shortest round-trip text on the way out);
//   numeric                 decimal text with PostgreSQL's scale rules ("10.50", "-3", "0.001");
//   timestamptz             "YYYY-MM-DD HH:MM:SS[.ffffff]+00" (UTC, microseconds, as ISO DateStyle);
//   jsonb                   compact JSON text with object keys sorted.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/projection.hpp"

namespace reproj::engine {

std::string_view sql_type(ColumnType type);

/// PostgreSQL's text output of a column as a value. Throws std::invalid_argument when it is not
/// one (a timestamptz under a DateStyle other than ISO, say).
Value value_from_text(ColumnType type, std::string_view text);
/// A column as to_jsonb() renders it, as a value. Throws std::invalid_argument on a mismatch.
Value value_from_json(ColumnType type, const nlohmann::json& j);
/// A row from to_jsonb() of a table with `spec`'s columns (others ignored; missing ones NULL).
Row row_from_json(const nlohmann::json& obj, const TableSpec& spec);
/// A value as a client reads it: numeric as a JSON number (what a JSON parser makes of it),
/// timestamptz as RFC 3339 ("2026-11-30T19:43:18.123+00:00"), jsonb as the document.
nlohmann::json value_to_json(ColumnType type, const Value& v);
/// A value as PostgreSQL's text input takes it (COPY, and the strings of jsonb_to_recordset);
/// nullopt for NULL.
std::optional<std::string> value_to_text(const Value& v);

namespace canonical {
/// Decimal text ("-1.50", "2e3", ".5") in PostgreSQL numeric's output form; nullopt when not a
/// decimal number or beyond 1000 digits.
std::optional<std::string> numeric(std::string_view text);
/// a + b (or a - b) of two canonical numerics, scale the larger of the two, as PostgreSQL adds.
std::string numeric_add(std::string_view a, std::string_view b, bool subtract = false);
/// An RFC 3339 / ISO 8601 timestamp with an offset ("2026-11-30T19:43:18Z", "... +01",
/// "...+05:30") in the canonical UTC form, rounded to microseconds as PostgreSQL rounds; nullopt
/// when it is not one or the year is outside 1..9999.
std::optional<std::string> timestamp(std::string_view text);
std::string jsonb(const nlohmann::json& j);
}  // namespace canonical

}  // namespace reproj::engine
