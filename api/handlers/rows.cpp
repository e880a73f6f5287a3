// Handlers that read a projection's served table.
#include "api/handlers.hpp"

#include <set>

#include "api/json_mapping.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "sources/source_manager.hpp"

namespace reproj::api {

namespace {
// Read your writes across a source: a strong read first ingests what sync_reads sources hold now.
engine::ReadOptions synced_read_options(Call& c) {
  const auto options = c.read_options();
  if (options.strong && c.s.sources) c.s.sources->sync_for_read();
  return options;
}
}  // namespace

Response get_row(Call& c) {
  const auto& projection = c.path.at("projection");
  const auto id = checked_id("id", c.path.at("id"));
  return row_response(projection, id, c.s.live.get(projection, id, synced_read_options(c)));
}

Response list_rows(Call& c) {
  const auto& projection = c.path.at("projection");
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  std::string after;
  if (const std::string* a = c.q("after")) after = checked_id("after", *a);
  // A parameter naming a column of the served table filters by it (?customer_id=k1; the column
  // must be indexed); others are ignored, as they always were.
  static const std::set<std::string> kParams{"limit", "after", "consistency", "min_position"};
  std::set<std::string> columns;
  const auto& registry = c.s.live.registry();
  for (int v : registry.versions(projection)) {
    for (const auto& col : engine::served_table(registry.get(projection, v)).columns) columns.insert(col.name);
  }
  const std::pair<const std::string, std::string>* filter = nullptr;
  for (const auto& param : c.query) {
    if (kParams.count(param.first) || !columns.count(param.first)) continue;
    if (filter) throw bad_request("filter by one indexed column at a time (got " + filter->first + " and " + param.first + ")");
    filter = &param;
  }
  const auto options = synced_read_options(c);
  auto r = filter ? c.s.live.list_where(projection, filter->first, filter->second, after, static_cast<std::size_t>(limit),
                                        options)
                  : c.s.live.list(projection, after, static_cast<std::size_t>(limit), options);
  Json items = Json::array();
  for (const auto& row : r.rows) items.push_back(row_to_json(*r.table, row));
  Json next = r.rows.size() == static_cast<std::size_t>(limit) ? Json(r.rows.back().key()) : Json(nullptr);
  return read_response(r, {{"items", std::move(items)}, {"next", std::move(next)}});
}

}  // namespace reproj::api
