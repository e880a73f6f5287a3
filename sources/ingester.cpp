#include "sources/ingester.hpp"

#include <thread>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "engine/connection_pool_run.hpp"
#include "engine/errors.hpp"
#include "engine/event_copy_batch.hpp"
#include "engine/event_store.hpp"

namespace reproj::sources {

namespace {

// Thrown inside the group's transaction to roll it back.
struct CheckpointMoved {};
struct StopAt {
  std::size_t index;  // of the record whose event the log refused
};

std::string reason_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}

std::optional<nlohmann::json> stored_checkpoint(pqxx::transaction_base& tx, const std::string& name, bool& idle) {
  // Prepared (a no-op when the pooled connection has it): every sync read asks this twice.
  tx.conn().prepare("reproj_source_checkpoint",
                    "SELECT checkpoint::text, paused OR state IN ('stopped', 'gap') FROM reproj.sources WHERE name = $1");
  auto r = tx.exec_prepared("reproj_source_checkpoint", name);
  if (r.empty()) {
    idle = true;
    return std::nullopt;
  }
  idle = r[0][1].as<bool>();
  return r[0][0].is_null() ? nlohmann::json(nullptr) : nlohmann::json::parse(r[0][0].c_str());
}

}  // namespace

Ingester::Ingester(SourceDocument document, engine::EventStore& store, engine::ConnectionPool& pool,
                   const std::string& database_url)
    : document_(std::move(document)),
      store_(store),
      pool_(pool),
      reader_(document_.reader(database_url)),
      copies_(pool, store.options()) {}

std::int64_t Ingester::tail() {
  std::scoped_lock lock{mutex_};
  settle_ahead();
  return reader_->tail();
}

Ingester::Prepared Ingester::prepare(std::vector<SourceRecord> records) const {
  // Map every record; a bad one is quarantined (skip) or ends the batch and stops the source (stop).
  const auto& name = document_.name;
  Prepared out;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& rec = records[i];
    if (!rec.gap.empty()) {
      if (document_.on_gap == SourceDocument::OnGap::kSkip) {
        spdlog::warn("source {}: skipping a gap ({}): {}", name, rec.coordinate, rec.gap);
        out.bad.emplace_back(i, "gap: " + rec.gap);
        continue;
      }
      out.stop_reason = "gap at " + rec.coordinate + ": " + rec.gap;
      out.stop_state = "gap";
      records.resize(i);
      break;
    }
    try {
      auto mapped = document_.mapping.apply(
          [&](std::string_view root, std::string_view n) { return reader_->resolve(rec, root, n); });
      if (!mapped.event.event_id) mapped.event.event_id = name + ":" + rec.coordinate;
      mapped.event.metadata["source"] = name;
      mapped.event.metadata["source_position"] = rec.position;
      out.requests.push_back({std::move(mapped.stream_id), engine::ExpectedVersion::any(), {std::move(mapped.event)}});
      out.record_of.push_back(i);
    } catch (const BadRecord& e) {
      if (document_.poison == engine::PoisonPolicy::kStop) {
        out.stop_reason = "record at position " + rec.coordinate + ": " + e.what();
        records.resize(i);
        break;
      }
      out.bad.emplace_back(i, e.what());
    }
  }
  out.records = std::move(records);
  out.rendered = engine::CopyBatchWriter::render(out.requests);
  return out;
}

std::optional<Ingester::Prefetched> Ingester::settle_ahead() {
  if (!ahead_) return std::nullopt;
  auto [after, batch] = std::move(*ahead_);
  ahead_.reset();
  try {
    return Prefetched{std::move(after), batch.get()};
  } catch (const std::exception&) {
    return std::nullopt;  // read again in the open, where an error is reported
  }
}

Ingester::Batch Ingester::ingest_once() {
  std::scoped_lock lock{mutex_};
  return ingest_locked();
}

Ingester::Batch Ingester::ingest_locked() {
  const auto& name = document_.name;
  Batch out;
  auto prefetched = settle_ahead();
  reader_->connect();
  bool idle = false;
  // Where this ingester's last batch left the checkpoint, or the stored one: a stale one (paused,
  // moved by another instance) only costs a read, as the batch's update then finds it moved.
  auto checkpoint = std::exchange(committed_, std::nullopt);
  if (!checkpoint) {
    checkpoint = pool_.run([&](pqxx::connection& conn) {
      pqxx::nontransaction tx{conn};  // one statement: no BEGIN/COMMIT round trips
      return stored_checkpoint(tx, name, idle);
    });
  }
  if (idle || !checkpoint) {
    out.idle = true;
    return out;
  }
  if (checkpoint->is_null() && document_.start == SourceDocument::Start::kEnd) {
    // A source that starts at the end fixes where that is once, before its first record.
    const auto end = reader_->end_checkpoint();
    pool_.run([&](pqxx::connection& conn) {
      pqxx::work tx{conn};
      tx.exec_params("UPDATE reproj.sources SET checkpoint = $2::jsonb, position = $3 WHERE name = $1 AND checkpoint IS NULL",
                     name, end.dump(), reader_->position_of(end));
      tx.commit();
    });
    out.moved = true;
    return out;
  }
  auto batch = prefetched && prefetched->after == *checkpoint ? std::move(prefetched->batch)
                                                              : prepare(reader_->read(*checkpoint, document_.batch));
  if (batch.records.size() == document_.batch && batch.stop_reason.empty()) {
    ahead_.emplace(batch.records.back().checkpoint,
                   std::async(std::launch::async, [this, after = batch.records.back().checkpoint] {
                     return prepare(reader_->read(after, document_.batch));
                   }));
  }
  out.position = reader_->position_of(*checkpoint);
  if (batch.records.empty() && batch.stop_reason.empty()) return out;  // a stop at the first record still commits
  auto& records = batch.records;
  auto& requests = batch.requests;
  auto& record_of = batch.record_of;
  auto& bad = batch.bad;
  auto& stop_reason = batch.stop_reason;

  std::size_t quarantined = 0;
  const auto before_commit = [&](pqxx::transaction_base& tx, const std::vector<std::exception_ptr>& refused) {
    nlohmann::json rows = nlohmann::json::array();
    auto quarantine = [&](std::size_t i, const std::string& reason) {
      rows.push_back({{"position", records[i].coordinate}, {"reason", reason}, {"record", records[i].record}});
    };
    std::size_t b = 0;
    for (std::size_t k = 0; k < requests.size(); ++k) {
      for (; b < bad.size() && bad[b].first < record_of[k]; ++b) quarantine(bad[b].first, bad[b].second);
      if (!refused[k]) continue;
      // A record the log refuses (a unique rule it breaks, an event id taken by other content).
      if (document_.poison == engine::PoisonPolicy::kStop) throw StopAt{record_of[k]};
      quarantine(record_of[k], reason_of(refused[k]));
    }
    for (; b < bad.size(); ++b) quarantine(bad[b].first, bad[b].second);
    quarantined = rows.size();
    if (!rows.empty()) {
      tx.exec_params(
          "INSERT INTO reproj.source_quarantine (source, position, reason, record) "
          "SELECT $1, x->>'position', x->>'reason', x->'record' FROM jsonb_array_elements($2::jsonb) x "
          "ON CONFLICT DO NOTHING",
          name, rows.dump());
    }
    const bool stopping = !stop_reason.empty();
    const auto& next = records.empty() ? *checkpoint : records.back().checkpoint;
    // The checkpoint moves with the events, and only from where this batch was read after: an
    // ingester that raced us (another instance, a sync read) makes this one roll back.
    auto moved = tx.exec_params(
        "UPDATE reproj.sources SET checkpoint = $3::jsonb, position = $4, ingested = ingested + $5, "
        "quarantined = quarantined + $6, updated_at = now(), "
        "state = CASE WHEN $7 THEN $9 ELSE state END, last_error = CASE WHEN $7 THEN $8 ELSE last_error END "
        "WHERE name = $1 AND checkpoint IS NOT DISTINCT FROM $2::jsonb AND NOT paused AND state NOT IN ('stopped', 'gap')",
        name, checkpoint->is_null() ? std::optional<std::string>{} : std::optional<std::string>{checkpoint->dump()},
        next.dump(), reader_->position_of(next), static_cast<std::int64_t>(records.size() - rows.size()),
        static_cast<std::int64_t>(rows.size()), stopping, stop_reason, batch.stop_state);
    if (moved.affected_rows() != 1) throw CheckpointMoved{};
  };
  const auto done = [&] {
    if (stop_reason.empty()) committed_ = records.empty() ? *checkpoint : records.back().checkpoint;
    out.records = records.size();
    out.quarantined = quarantined;
    out.stopped = !stop_reason.empty();
    out.position = reader_->position_of(records.empty() ? *checkpoint : records.back().checkpoint);
    return out;
  };
  // The COPY path first; the append path answers what it declines (a replayed record, one the log
  // or an inline projection refuses) record by record.
  try {
    const std::vector<std::exception_ptr> none(requests.size());
    if (copies_.write(requests, &batch.rendered, [&](pqxx::transaction_base& tx) { before_commit(tx, none); })) {
      return done();
    }
  } catch (const CheckpointMoved&) {
    out.moved = true;
    return out;
  }
  for (int attempt = 0;; ++attempt) {
    std::vector<engine::AppendOutcome> outcomes;
    if (store_.append_group(requests, before_commit, outcomes)) return done();
    const auto error = outcomes.empty() ? nullptr : outcomes.front().error;
    try {
      if (error) std::rethrow_exception(error);
      throw engine::Error("a source's batch did not commit");
    } catch (const CheckpointMoved&) {
      out.moved = true;
      return out;
    } catch (const StopAt& at) {
      if (attempt > 0) throw engine::Error("a source's batch refused a record twice");
      // Ingest what precedes the refused record, then stop there.
      stop_reason = "record at position " + records[at.index].coordinate + ": the log refused its event";
      records.resize(at.index);
      std::size_t keep = 0;
      while (keep < record_of.size() && record_of[keep] < at.index) ++keep;
      requests.resize(keep);
      record_of.resize(keep);
      std::erase_if(bad, [&](const auto& b) { return b.first >= at.index; });
    }
  }
}

void Ingester::sync(std::size_t max_records, std::chrono::milliseconds wait) {
  std::scoped_lock lock{mutex_};
  const auto until = std::chrono::steady_clock::now() + wait;
  std::size_t total = 0;
  while (true) {
    auto b = ingest_locked();
    if (b.idle) return;  // paused or stopped: reads answer from what the log holds
    total += b.records;
    if (total >= max_records) {
      throw engine::SourceBehind(document_.name, static_cast<std::int64_t>(total),
                                 "more than " + std::to_string(max_records) + " records for one read to ingest");
    }
    if (b.records == document_.batch || b.moved) continue;
    // Everything readable when the batch was read is in. A record that committed since, or behind
    // a transaction that was still open then, may be the client's own write: look again until
    // nothing committed is left after the checkpoint.
    bool idle = false;
    auto checkpoint = committed_;  // what this batch committed, else the stored one
    if (!checkpoint) {
      checkpoint = pool_.run([&](pqxx::connection& conn) {
        pqxx::nontransaction tx{conn};  // one statement: no BEGIN/COMMIT round trips
        return stored_checkpoint(tx, document_.name, idle);
      });
    }
    settle_ahead();
    if (idle || !checkpoint || !reader_->committed_after(*checkpoint)) return;
    if (b.records > 0) continue;  // progress: read again at once
    if (std::chrono::steady_clock::now() >= until) {
      throw engine::SourceBehind(document_.name, 0, "records committed behind a transaction still open in the source database");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
}

}  // namespace reproj::sources
