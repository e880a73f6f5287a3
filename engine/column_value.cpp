#include "engine/column_value.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include <absl/time/time.h>
#include <boost/multiprecision/cpp_int.hpp>

namespace reproj::engine {

namespace {

using Json = nlohmann::json;
using BigInt = boost::multiprecision::cpp_int;

constexpr std::size_t kMaxDigits = 1000;

// value = unscaled / 10^scale, the way PostgreSQL's numeric keeps it (the scale is part of the
// value's text: 1.50 stays "1.50").
struct Decimal {
  BigInt unscaled;
  int scale = 0;
};

BigInt pow10(int n) {
  BigInt p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

std::optional<Decimal> parse_decimal(std::string_view s) {
  std::size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  std::string digits;
  int fraction = 0;
  bool point = false;
  for (; i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || (s[i] == '.' && !point)); ++i) {
    if (s[i] == '.') {
      point = true;
    } else {
      digits += s[i];
      fraction += point ? 1 : 0;
    }
  }
  if (digits.empty() || digits.size() > kMaxDigits) return std::nullopt;
  long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool neg_exp = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg_exp = s[i++] == '-';
    const auto begin = i;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
      exponent = exponent * 10 + (s[i] - '0');
      if (exponent > static_cast<long>(kMaxDigits)) return std::nullopt;
    }
    if (i == begin) return std::nullopt;
    if (neg_exp) exponent = -exponent;
  }
  if (i != s.size()) return std::nullopt;
  Decimal d;
  const auto first = digits.find_first_not_of('0');  // a leading 0 would make cpp_int read octal
  d.unscaled = first == std::string::npos ? BigInt{0} : BigInt{digits.substr(first)};
  if (exponent >= fraction) {
    d.unscaled *= pow10(static_cast<int>(exponent - fraction));
  } else {
    d.scale = static_cast<int>(fraction - exponent);
  }
  if (d.scale > static_cast<int>(kMaxDigits)) return std::nullopt;
  if (negative) d.unscaled = -d.unscaled;
  return d;
}

std::string format_decimal(const Decimal& d) {
  const bool negative = d.unscaled < 0;
  std::string s = (negative ? BigInt{-d.unscaled} : d.unscaled).str();
  if (d.scale > 0) {
    if (s.size() <= static_cast<std::size_t>(d.scale)) s.insert(0, static_cast<std::size_t>(d.scale) + 1 - s.size(), '0');
    s.insert(s.size() - static_cast<std::size_t>(d.scale), 1, '.');
  }
  return negative ? "-" + s : s;  // -0 never reaches here: cpp_int has no negative zero
}

[[noreturn]] void mismatch(ColumnType type, std::string_view what) {
  throw std::invalid_argument(std::string{what} + " is not a " + std::string{sql_type(type)} + " value");
}

std::string shortest(double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

}  // namespace

std::string_view sql_type(ColumnType type) {
  switch (type) {
    case ColumnType::kText: return "text";
    case ColumnType::kBool: return "boolean";
    case ColumnType::kBigint: return "bigint";
    case ColumnType::kNumeric: return "numeric";
    case ColumnType::kDouble: return "double precision";
    case ColumnType::kJsonb: return "jsonb";
    case ColumnType::kTimestamptz: return "timestamptz";
  }
  return "text";
}

namespace canonical {

std::optional<std::string> numeric(std::string_view text) {
  auto d = parse_decimal(text);
  if (!d) return std::nullopt;
  return format_decimal(*d);
}

std::string numeric_add(std::string_view a, std::string_view b, bool subtract) {
  auto x = parse_decimal(a), y = parse_decimal(b);
  if (!x || !y) throw std::invalid_argument("numeric_add of a value that is not numeric");
  const int scale = std::max(x->scale, y->scale);
  const BigInt lhs = x->unscaled * pow10(scale - x->scale), rhs = y->unscaled * pow10(scale - y->scale);
  return format_decimal(Decimal{subtract ? BigInt{lhs - rhs} : BigInt{lhs + rhs}, scale});
}

std::optional<std::string> timestamp(std::string_view text) {
  std::string s{text};
  if (s.size() < 19) return std::nullopt;
  if (s[10] == ' ' || s[10] == 't') s[10] = 'T';
  // The offset, in the +hh:mm form RFC3339_full parses: Z, +hh and +hhmm are common too.
  if (s.back() == 'Z' || s.back() == 'z') {
    s.back() = '+';
    s += "00:00";
  } else {
    const auto sign = s.find_last_of("+-");
    if (sign == std::string::npos || sign < 19) return std::nullopt;  // no offset: local time is ambiguous
    const auto offset = s.size() - sign - 1;
    if (offset == 2) s += ":00";
    if (offset == 4) s.insert(sign + 3, 1, ':');
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) return std::nullopt;
  const absl::Duration since = t - absl::UnixEpoch();
  const std::int64_t micros = absl::ToInt64Microseconds(absl::Floor(since + absl::Nanoseconds(500), absl::Microseconds(1)));
  t = absl::FromUnixMicros(micros);
  const auto civil = absl::ToCivilSecond(t, absl::UTCTimeZone());
  if (civil.year() < 1 || civil.year() > 9999) return std::nullopt;
  std::string out = absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::UTCTimeZone());
  std::int64_t frac = micros % 1'000'000;
  if (frac < 0) frac += 1'000'000;
  if (frac) {
    std::string f = std::to_string(frac);
    f.insert(0, 6 - f.size(), '0');
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "+00";
}

std::string jsonb(const Json& j) { return j.dump(); }

}  // namespace canonical

Value value_from_text(ColumnType type, std::string_view text) {
  switch (type) {
    case ColumnType::kText: return std::string{text};
    case ColumnType::kBool:
      if (text == "t" || text == "true") return true;
      if (text == "f" || text == "false") return false;
      mismatch(type, text);
    case ColumnType::kBigint: {
      std::int64_t n = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), n);
      if (r.ec != std::errc{} || r.ptr != text.data() + text.size()) mismatch(type, text);
      return n;
    }
    case ColumnType::kDouble: {
      const std::string s{text};
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (end != s.c_str() + s.size()) mismatch(type, text);
      return d;
    }
    case ColumnType::kNumeric:
      if (auto n = canonical::numeric(text)) return *n;
      mismatch(type, text);
    case ColumnType::kJsonb: {
      auto j = Json::parse(text, nullptr, false);
      if (j.is_discarded()) mismatch(type, text);
      return canonical::jsonb(j);
    }
    case ColumnType::kTimestamptz:
      if (auto t = canonical::timestamp(text)) return *t;
      mismatch(type, text);
  }
  mismatch(type, text);
}

Value value_from_json(ColumnType type, const Json& j) {
  if (j.is_null()) return std::monostate{};
  switch (type) {
    case ColumnType::kText:
      if (j.is_string()) return j.get<std::string>();
      break;
    case ColumnType::kBool:
      if (j.is_boolean()) return j.get<bool>();
      break;
    case ColumnType::kBigint:
      if (j.is_number_integer()) return j.get<std::int64_t>();
      break;
    case ColumnType::kDouble:
      if (j.is_number()) return j.get<double>();
      if (j.is_string()) return value_from_text(type, j.get<std::string>());  // "NaN", "Infinity"
      break;
    case ColumnType::kNumeric:
      if (j.is_number()) return value_from_text(type, j.dump());
      break;
    case ColumnType::kJsonb: return canonical::jsonb(j);
    case ColumnType::kTimestamptz:
      if (j.is_string()) return value_from_text(type, j.get<std::string>());
      break;
  }
  mismatch(type, j.dump());
}

Json value_to_json(ColumnType type, const Value& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  if (const auto* n = std::get_if<std::int64_t>(&v)) return *n;
  if (const auto* d = std::get_if<double>(&v)) return std::isfinite(*d) ? Json(*d) : Json(shortest(*d));
  const auto* s = std::get_if<std::string>(&v);
  if (!s) return nullptr;
  switch (type) {
    case ColumnType::kNumeric:
    case ColumnType::kJsonb: return Json::parse(*s, nullptr, false);
    case ColumnType::kTimestamptz: {
      std::string iso = *s;
      iso[10] = 'T';
      return iso + ":00";  // "+00" -> "+00:00"
    }
    default: return *s;
  }
}

std::optional<std::string> value_to_text(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* b = std::get_if<bool>(&v)) return std::string{*b ? "t" : "f"};
  if (const auto* n = std::get_if<std::int64_t>(&v)) return std::to_string(*n);
  if (const auto* d = std::get_if<double>(&v)) {
    if (std::isnan(*d)) return std::string{"NaN"};
    if (std::isinf(*d)) return std::string{*d > 0 ? "Infinity" : "-Infinity"};
    return shortest(*d);
  }
  return std::nullopt;
}

Row row_from_json(const nlohmann::json& obj, const TableSpec& spec) {
  Row row;
  for (const auto& c : spec.columns) {
    auto it = obj.find(c.name);
    row.values.push_back(it == obj.end() ? Value{std::monostate{}} : value_from_json(c.type, *it));
  }
  return row;
}

}  // namespace reproj::engine
