// GET /{projection}/{id}/history: the versions of a row, with the events that made them
// (engine/history_reads.hpp; ?as_of= reads are in rows.cpp).
#include "api/handlers.hpp"

#include "api/json_mapping.hpp"
#include "api/response.hpp"
#include "engine/history_reads.hpp"

namespace reproj::api {

Response row_history(Call& c) {
  const auto& projection = c.path.at("projection");
  const auto id = checked_id("id", c.path.at("id"));
  const auto limit = c.int_param("limit", 100, 1, kMaxPageSize);
  const auto before = c.int_param("before", 0, 1, std::numeric_limits<std::int64_t>::max());
  const auto h = engine::HistoryReads{c.s.live}.history(projection, id, before, static_cast<std::size_t>(limit),
                                                        c.read_options());
  engine::ReadResult meta;
  meta.version = h.version;
  meta.watermark = h.watermark;
  if (h.items.empty() && before == 0) return row_response(projection, id, meta);  // never existed: 404 as the row
  return read_response(meta, history_to_json(h));
}

}  // namespace reproj::api
