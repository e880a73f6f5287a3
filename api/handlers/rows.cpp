// Handlers that read a projection's served table.
#include "api/handlers.hpp"

#include <set>

#include "api/json_mapping.hpp"
#include "api/response.hpp"
#include "engine/errors.hpp"
#include "engine/history_reads.hpp"
#include "sources/source_manager.hpp"

namespace reproj::api {

namespace {
// Read your writes across a source: a strong read first ingests what sync_reads sources hold now.
engine::ReadOptions synced_read_options(Call& c) {
  const auto options = c.read_options();
  if (options.strong && c.s.sources) c.s.sources->sync_for_read();
  return options;
}

// ?as_of=P or ?as_of_time=RFC3339 (the last event recorded at or before it): a time-travel read.
std::optional<std::int64_t> as_of(Call& c) {
  const std::string* position = c.q("as_of");
  const std::string* time = c.q("as_of_time");
  if (position && time) throw bad_request("give as_of or as_of_time, not both");
  if (position) return c.int_param("as_of", 0, 0, std::numeric_limits<std::int64_t>::max());
  if (time) return engine::HistoryReads{c.s.live}.position_at(*time);
  return std::nullopt;
}
}  // namespace

Response get_row(Call& c) {
  const auto& projection = c.path.at("projection");
  const auto id = checked_id("id", c.path.at("id"));
  if (const auto position = as_of(c)) {
    return row_response(projection, id, engine::HistoryReads{c.s.live}.get_as_of(projection, id, *position));
  }
  return row_response(projection, id, c.s.live.get(projection, id, synced_read_options(c)));
}

Response list_rows(Call& c) {
  const auto& projection = c.path.at("projection");
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  std::string after;
  if (const std::string* a = c.q("after")) after = checked_id("after", *a);
  // A parameter naming a column of the served table filters by it (?customer_id=k1; the column
  // must be indexed); others are ignored, as they always were.
  static const std::set<std::string> kParams{"limit", "after", "consistency", "min_position", "as_of", "as_of_time"};
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
  const auto position = as_of(c);
  const auto options = position ? engine::ReadOptions{} : synced_read_options(c);
  auto r = position ? engine::HistoryReads{c.s.live}.list_as_of(
                          projection, after, static_cast<std::size_t>(limit), *position,
                          filter ? std::optional{std::pair{filter->first, filter->second}} : std::nullopt)
           : filter ? c.s.live.list_where(projection, filter->first, filter->second, after, static_cast<std::size_t>(limit),
                                        options)
                  : c.s.live.list(projection, after, static_cast<std::size_t>(limit), options);
  Json items = Json::array();
  for (const auto& row : r.rows) items.push_back(row_to_json(*r.table, row));
  Json next = r.rows.size() == static_cast<std::size_t>(limit) ? Json(r.rows.back().key()) : Json(nullptr);
  return read_response(r, {{"items", std::move(items)}, {"next", std::move(next)}});
}

}  // namespace reproj::api
