#include "sources/source_manager.hpp"

#include <spdlog/spdlog.h>

#include "engine/errors.hpp"

namespace reproj::sources {

namespace {
using Clock = std::chrono::steady_clock;

void sleep_for(const std::stop_token& stop, std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  while (!stop.stop_requested() && Clock::now() < until) {
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds{10}, until - Clock::now()));
  }
}
}  // namespace

struct SourceManager::Entry {
  std::string sha256;
  std::shared_ptr<Ingester> ingester;
  std::jthread runner;  // while this instance holds the source's lock
};

SourceManager::SourceManager(engine::ConnectionPool& pool, engine::EventStore& store, std::string database_url,
                             SourceManagerOptions options)
    : pool_(pool),
      store_append_(store),
      database_url_(std::move(database_url)),
      options_(options),
      store_(pool),
      locks_(database_url_, engine::kSourceLockClass) {}

SourceManager::~SourceManager() { stop(); }

void SourceManager::start() {
  learn();  // before serving: a strong read right after a restart must know the sync_reads sources
  supervisor_ = std::jthread([this](std::stop_token stop) { supervise(stop); });
}

void SourceManager::stop() {
  if (supervisor_.joinable()) {
    supervisor_.request_stop();
    supervisor_.join();
  }
  std::map<std::string, std::shared_ptr<Entry>> entries;
  {
    std::scoped_lock lock{mutex_};
    entries.swap(entries_);
  }
  for (auto& [name, e] : entries) {
    e->runner.request_stop();
    if (e->runner.joinable()) e->runner.join();
  }
}

SourceStore::Put SourceManager::put(const std::string& name, std::string_view text) {
  auto document = parse_source(name, text);
  // Checked against the source when it answers; one that does not may come up later (its
  // ingester then says reconnecting), so it is stored all the same.
  try {
    document.reader(database_url_)->connect();
  } catch (const engine::DatabaseUnavailable& e) {
    spdlog::warn("source {}: stored unchecked, the source does not answer: {}", name, e.what());
  }
  auto put = store_.put(document);
  learn();
  return put;
}

void SourceManager::learn() {
  std::vector<StoredSource> docs;
  try {
    docs = store_.documents();
  } catch (const std::exception& e) {
    spdlog::debug("sources: cannot read the documents: {}", e.what());
    return;
  }
  std::map<std::string, std::shared_ptr<Entry>> gone;
  std::unique_lock lock{mutex_};
  std::map<std::string, std::shared_ptr<Entry>> next;
  for (const auto& d : docs) {
    auto it = entries_.find(d.name);
    if (it != entries_.end() && it->second->sha256 == d.sha256) {
      next.emplace(d.name, it->second);
      entries_.erase(it);
      continue;
    }
    try {
      auto e = std::make_shared<Entry>();
      e->sha256 = d.sha256;
      e->ingester = std::make_shared<Ingester>(parse_source(d.name, d.text), store_append_, pool_, database_url_);
      next.emplace(d.name, std::move(e));
    } catch (const std::exception& ex) {
      spdlog::error("source {}: its stored document does not load: {}", d.name, ex.what());
    }
  }
  gone.swap(entries_);  // replaced or deleted: their runners stop below, outside the lock
  entries_.swap(next);
  learned_ = true;
  any_sync_ = false;
  for (const auto& [name, e] : entries_) any_sync_ = any_sync_ || e->ingester->document().sync_reads;
  lock.unlock();
  for (auto& [name, e] : gone) {
    if (!e->runner.joinable()) continue;
    e->runner.request_stop();
    e->runner.join();  // at most the batch it is in
    locks_.release(name);
  }
}

void SourceManager::supervise(std::stop_token stop) {
  bool connected = false;
  while (!stop.stop_requested()) {
    try {
      if (!connected || !locks_.alive()) {
        if (connected) spdlog::warn("sources: the lock session was lost; ingesters stop until it is back");
        {
          std::scoped_lock lock{mutex_};
          for (auto& [name, e] : entries_) e->runner.request_stop();
        }
        connected = false;
        locks_.reconnect();
        connected = true;
      }
      learn();
      std::vector<std::pair<std::string, std::shared_ptr<Entry>>> free;
      {
        std::scoped_lock lock{mutex_};
        for (auto& [name, e] : entries_) {
          if (!e->runner.joinable() || e->runner.get_stop_token().stop_requested()) free.emplace_back(name, e);
        }
      }
      for (auto& [name, e] : free) {
        if (e->runner.joinable()) {
          e->runner.request_stop();
          e->runner.join();
        }
        if (!locks_.try_acquire(name)) continue;
        spdlog::info("source {}: ingesting on this instance", name);
        e->runner = std::jthread([this, e](std::stop_token s) { run(e, s); });
      }
    } catch (const std::exception& ex) {
      connected = false;
      spdlog::debug("sources: {}", ex.what());
    }
    sleep_for(stop, options_.supervise);
  }
}

void SourceManager::run(std::shared_ptr<Entry> entry, std::stop_token stop) {
  auto& ingester = *entry->ingester;
  const auto& name = ingester.document().name;
  std::optional<std::int64_t> start_tail;  // captured first: caught up means past it
  std::string state = "catching_up";
  double rate = 0;
  auto backoff = std::chrono::milliseconds{100};
  auto last_report = Clock::time_point{};
  std::string reported;
  while (!stop.stop_requested()) {
    try {
      if (!start_tail) start_tail = ingester.tail();
      const auto started = Clock::now();
      const auto b = ingester.ingest_once();
      const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      if (b.records > 0) {
        const double now = static_cast<double>(b.records) / std::max(seconds, 1e-6);
        rate = rate == 0 ? now : 0.7 * rate + 0.3 * now;
      } else if (!b.moved) {
        rate *= 0.5;
      }
      if (!b.idle && (b.position >= *start_tail || (b.records == 0 && !b.moved))) state = "live";
      if (b.stopped) spdlog::error("source {} stopped at a bad record or a gap (its last_error says which)", name);
      backoff = std::chrono::milliseconds{100};
      if (state != reported || Clock::now() - last_report > std::chrono::seconds{1}) {
        if (!b.idle) store_.report(name, state, ingester.tail(), rate, "");
        reported = state;
        last_report = Clock::now();
      }
      if (b.idle || b.records < ingester.document().batch) sleep_for(stop, options_.poll);
    } catch (const std::exception& e) {
      spdlog::warn("source {}: {} (retrying in {} ms)", name, e.what(), backoff.count());
      try {
        store_.report(name, "reconnecting", 0, 0, e.what());
      } catch (const std::exception&) {  // reproj's own database is away too
      }
      reported = "reconnecting";
      start_tail.reset();
      state = "catching_up";
      sleep_for(stop, backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds{5000});
    }
  }
}

void SourceManager::sync_for_read() {
  std::vector<std::shared_ptr<Ingester>> sync;
  bool learned;
  {
    std::scoped_lock lock{mutex_};
    learned = learned_;
  }
  if (!learned) learn();  // the database was away at start
  {
    std::scoped_lock lock{mutex_};
    if (!any_sync_) return;
    for (const auto& [name, e] : entries_) {
      if (e->ingester->document().sync_reads) sync.push_back(e->ingester);
    }
  }
  for (const auto& i : sync) i->sync(options_.sync_max_records, options_.sync_wait);
}

std::vector<SourceStatus> SourceManager::required_not_live() {
  std::vector<SourceStatus> out;
  for (auto& s : store_.statuses()) {
    if (s.required_for_ready && s.state != "live") out.push_back(std::move(s));
  }
  return out;
}

}  // namespace reproj::sources
