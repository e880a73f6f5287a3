#include "engine/event_copy_batch.hpp"

#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/detail/copy_text.hpp"
#include "engine/detail/copy_writer.hpp"
#include "engine/detail/stream_versions.hpp"
#include "engine/errors.hpp"

namespace reproj::engine {

namespace {
// The batch's failure the append path answers better; anything else propagates.
struct Declined {
  std::string why;
};

void append_json_field(std::string& row, const nlohmann::json& value) {
  detail::append_copy_field(row, value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  row += '\t';
}
}  // namespace

CopyBatchWriter::Rendered CopyBatchWriter::render(const std::vector<AppendRequest>& requests) {
  Rendered out;
  for (const auto& r : requests) {
    for (const auto& e : r.events) {
      std::string row;
      for (std::string_view field : {std::string_view{*e.event_id}, std::string_view{r.stream_id}, std::string_view{e.type}}) {
        detail::append_copy_field(row, field);
        row += '\t';
      }
      append_json_field(row, e.data);
      append_json_field(row, e.metadata);
      out.push_back(std::move(row));
    }
  }
  return out;
}

CopyBatchWriter::CopyBatchWriter(ConnectionPool& pool, const EventStoreOptions& options)
    : pool_(pool), options_(options) {}

CopyBatchWriter::~CopyBatchWriter() = default;

bool CopyBatchWriter::write(const std::vector<AppendRequest>& requests, const Rendered* rendered,
                            const std::function<void(pqxx::transaction_base&)>& before_commit) {
  if (requests.empty()) return false;
  Rendered here;
  if (!rendered) {
    here = render(requests);
    rendered = &here;
  }
  const auto left_at = std::exchange(left_at_, -1);  // untrusted until this batch commits
  bool again = false;
  try {
    pool_.run([&](pqxx::connection& conn) {
      if (std::exchange(again, true)) versions_.reset();  // a retry: the failed attempt counted on
      pqxx::work tx{conn};
      auto declining = [&](auto&& step) {
        try {
          step();
        } catch (const pqxx::broken_connection&) {
          throw;
        } catch (const pqxx::sql_error& e) {
          throw Declined{e.what()};
        } catch (const Error& e) {  // an inline projection's refusal
          throw Declined{e.what()};
        }
      };
      std::int64_t written = 0;
      std::int64_t tail_at_lock = 0;
      declining([&] {
        // One round trip; the tail is read after the lock in a statement of its own, whose
        // snapshot sees every append before it.
        const std::int64_t tail =
            tx.exec("SET LOCAL lock_timeout = " + std::to_string(options_.append_lock_timeout.count()) +
                    "; SELECT reproj.lock_appends(); SET LOCAL lock_timeout TO DEFAULT; " + log::kSafeTailSql)[0][0]
                .as<std::int64_t>();
        tail_at_lock = tail;
        if (!versions_ || tail != left_at) {
          versions_ = std::make_unique<detail::StreamVersions>(options_.import_version_cache_bytes, tail == 0);
        }
        std::size_t id_bytes = 0;
        for (const auto& r : requests) id_bytes += r.stream_id.size();
        versions_->make_room(requests.size(), id_bytes);
        auto unknown = nlohmann::json::array();
        for (const auto& r : requests) {
          if (versions_->add(r.stream_id)) unknown.push_back(r.stream_id);
        }
        if (!unknown.empty()) {
          // Per stream from the (stream_id, stream_version) index.
          for (const auto& row : tx.exec_params(
                   "SELECT s, (SELECT max(stream_version) FROM reproj.events WHERE stream_id = s) "
                   "FROM jsonb_array_elements_text($1::jsonb) s",
                   unknown.dump())) {
            if (!row[1].is_null()) versions_->of(row[0].as<std::string>()) = row[1].as<std::int64_t>() + 1;
          }
        }
        detail::CopyWriter out{
            tx, "reproj.events", {"event_id", "stream_id", "event_type", "data", "metadata", "stream_version"}};
        std::string row;
        std::size_t line = 0;
        for (const auto& r : requests) {
          auto& version = versions_->of(r.stream_id);
          for (std::size_t k = 0; k < r.events.size(); ++k) {
            row = (*rendered)[line++];
            row += std::to_string(version++);
            out.write_line(row);
            ++written;
          }
        }
        out.complete();
        if (options_.observer && options_.observer->active() && written > 0) {
          // Contiguous, as the lock was held before the first was drawn; the first may lie past
          // tail + 1 (a rolled-back append drew numbers).
          const std::int64_t last = log::safe_tail(tx);
          options_.observer->appended(tx, last - written + 1, last, nullptr);
        }
      });
      before_commit(tx);
      tx.commit();
      // Where the log ends if nobody else wrote in between: our events took `written` positions
      // past `tail`, and only a writer between then and the next batch's lock can add to them (a
      // rolled-back one drew numbers too): then the next batch finds more and asks the log again.
      left_at_ = tail_at_lock + written;
    });
  } catch (const Declined& d) {
    spdlog::debug("a source's batch goes the append path: {}", d.why);
    return false;
  }
  return true;
}

}  // namespace reproj::engine
