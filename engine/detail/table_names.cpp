#include "engine/detail/table_names.hpp"

#include <charconv>

namespace reproj::engine::detail {

namespace {

constexpr std::string_view kJoin = "__";
constexpr std::string_view kHistory = "h";

char suffix_letter(TableKind kind) {
  switch (kind) {
    case TableKind::kShadow: return 's';
    case TableKind::kRetired: return 'r';
    case TableKind::kParked: return 't';
    case TableKind::kLive: break;
  }
  return '\0';
}

std::string name_of(const Projection& projection, const TableSpec& table, bool history, TableKind kind,
                    std::int64_t rebuild_id) {
  std::string name = table.name == projection.name() ? table.name
                                                     : std::string{projection.name()} + std::string{kJoin} + table.name;
  if (history) name += std::string{kJoin} + std::string{kHistory};
  if (kind != TableKind::kLive) name += std::string{kJoin} + suffix_letter(kind) + std::to_string(rebuild_id);
  return name;
}

}  // namespace

std::string table_name(const Projection& projection, const TableSpec& table, TableKind kind, std::int64_t rebuild_id) {
  return name_of(projection, table, false, kind, rebuild_id);
}

std::string history_table_name(const Projection& projection, const TableSpec& table, TableKind kind,
                               std::int64_t rebuild_id) {
  return name_of(projection, table, true, kind, rebuild_id);
}

std::vector<std::string> table_names(const Projection& projection, TableKind kind, std::int64_t rebuild_id) {
  std::vector<std::string> out;
  for (const auto& t : projection.tables()) out.push_back(table_name(projection, t, kind, rebuild_id));
  for (const auto& t : projection.tables()) {
    if (t.history) out.push_back(history_table_name(projection, t, kind, rebuild_id));
  }
  return out;
}

std::optional<std::size_t> history_of(const Projection& projection, std::size_t table) {
  const auto& tables = projection.tables();
  if (!tables.at(table).history) return std::nullopt;
  std::size_t at = tables.size();
  for (std::size_t i = 0; i < table; ++i) at += tables[i].history ? 1u : 0u;
  return at;
}

std::vector<std::string> row_tables(const Projection& projection, const std::vector<std::string>& names) {
  return {names.begin(), names.begin() + static_cast<std::ptrdiff_t>(projection.tables().size())};
}

std::optional<TableName> parse_table_name(std::string_view physical) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto at = physical.find(kJoin, start);
    parts.push_back(physical.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + kJoin.size();
  }
  for (const auto p : parts) {
    if (p.empty()) return std::nullopt;
  }
  TableName out;
  if (parts.size() > 1) {
    const auto last = parts.back();
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(last.data() + 1, last.data() + last.size(), id);
    if (last.size() > 1 && ec == std::errc{} && end == last.data() + last.size() && id > 0) {
      switch (last[0]) {
        case 's': out.kind = TableKind::kShadow; break;
        case 'r': out.kind = TableKind::kRetired; break;
        case 't': out.kind = TableKind::kParked; break;
        default: return std::nullopt;
      }
      out.rebuild_id = id;
      parts.pop_back();
    }
  }
  if (parts.size() > 1 && parts.back() == kHistory) {
    out.history = true;
    parts.pop_back();
  }
  if (parts.size() > 2) return std::nullopt;
  out.projection = std::string{parts[0]};
  out.table = std::string{parts.size() == 2 ? parts[1] : parts[0]};
  return out;
}

}  // namespace reproj::engine::detail
