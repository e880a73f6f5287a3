#pragma once
// The physical names of projection tables in the reproj_data schema: the one home of the naming
// scheme, with its parse inverse (leveldb's db/filename.h is the model).
//
//   live     <projection>                  the served table (the one named like its projection)
//            <projection>__<table>          the projection's other tables
//   shadow   <live name>__s<rebuild id>     what a running rebuild writes
//   retired  <live name>__r<rebuild id>     the version rebuild <id> replaced, kept for rollback
//   parked   <live name>__t<rebuild id>     a retired set while a rollback renames (inside one transaction)
//   history  <live name>__h[__<suffix>]     the versions of a table that keeps history (TableSpec::history)
//
// So a projection's logical table names must not look like a suffix ([srt] and digits) or be "h",
// and a projection name must not contain "__".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/projection.hpp"

namespace reproj::engine::detail {

enum class TableKind { kLive, kShadow, kRetired, kParked };

/// A physical name, parsed.
struct TableName {
  std::string projection;
  std::string table;  // the logical name: "cars", "customer_names"
  TableKind kind = TableKind::kLive;
  std::int64_t rebuild_id = 0;  // 0 for live tables
  bool history = false;          // the versions of `table`
};

/// The physical name of `table` of `projection` (unqualified, unquoted).
std::string table_name(const Projection& projection, const TableSpec& table, TableKind kind = TableKind::kLive,
                       std::int64_t rebuild_id = 0);
/// The physical name of the history of `table` (which keeps one).
std::string history_table_name(const Projection& projection, const TableSpec& table, TableKind kind = TableKind::kLive,
                               std::int64_t rebuild_id = 0);
/// Every physical table of a copy of `projection`: table_name() of each table in tables() order,
/// then history_table_name() of each table keeping history, in tables() order. Appliers index the
/// first tables().size() by table; history_of() finds the rest.
std::vector<std::string> table_names(const Projection& projection, TableKind kind = TableKind::kLive,
                                     std::int64_t rebuild_id = 0);
/// Where in table_names() the history of table `table` is; nullopt when it keeps none.
std::optional<std::size_t> history_of(const Projection& projection, std::size_t table);
/// The first tables().size() names of `names` (a table_names() list): the row tables.
std::vector<std::string> row_tables(const Projection& projection, const std::vector<std::string>& names);
/// The inverse of table_name(); nullopt for a name it cannot produce.
std::optional<TableName> parse_table_name(std::string_view physical);

}  // namespace reproj::engine::detail
