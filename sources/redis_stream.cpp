#include "sources/redis_stream.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "engine/errors.hpp"
#include "sources/redis_connection.hpp"

namespace reproj::sources {

namespace {

// An entry id, "MS-SEQ", compared as the pair of numbers Redis orders by.
struct EntryId {
  std::uint64_t ms = 0, seq = 0;
  static std::optional<EntryId> parse(std::string_view s) {
    EntryId id;
    const auto dash = s.find('-');
    const auto ms = s.substr(0, dash);
    if (std::from_chars(ms.data(), ms.data() + ms.size(), id.ms).ec != std::errc{}) return std::nullopt;
    if (dash != std::string_view::npos) {
      const auto seq = s.substr(dash + 1);
      if (std::from_chars(seq.data(), seq.data() + seq.size(), id.seq).ec != std::errc{}) return std::nullopt;
    }
    return id;
  }
  std::string text() const { return std::to_string(ms) + "-" + std::to_string(seq); }
  auto operator<=>(const EntryId&) const = default;
};

EntryId id_of(std::string_view s) {
  auto id = EntryId::parse(s);
  if (!id) throw engine::Error("not a Redis entry id: " + std::string{s});
  return *id;
}

struct StreamInfo {
  std::int64_t added = 0, length = 0;  // entries-added, length
  EntryId last, max_deleted;           // last-generated-id, max-deleted-entry-id
};

StreamInfo info_of(const redisReply* r) {
  StreamInfo s;
  if (!r || r->type != REDIS_REPLY_ARRAY) return s;  // "ERR no such key"
  bool added = false;
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    const auto name = text_of(r->element[i]);
    const auto* v = r->element[i + 1];
    if (name == "length") s.length = v->integer;
    if (name == "entries-added") s.added = v->integer, added = true;
    if (name == "last-generated-id") s.last = id_of(text_of(v));
    if (name == "max-deleted-entry-id") s.max_deleted = id_of(text_of(v));
  }
  if (!added) throw engine::InvalidSource(std::vector<Problem>{{"/url", "Redis before 7.0 (XINFO STREAM has no entries-added): gaps could not be told"}});
  return s;
}

// Where reading one key goes on from: the last id ingested and how many entries the key had up to
// it (removed ones included), and the highest XDEL'd id a skipped gap already answered for.
struct KeyCheckpoint {
  EntryId id;
  std::int64_t n = 0;
  EntryId deleted;
  bool known = false;  // false: the key is new to the checkpoint

  static KeyCheckpoint of(const nlohmann::json& checkpoint, const std::string& key) {
    KeyCheckpoint k;
    if (!checkpoint.is_object() || !checkpoint.contains("streams") || !checkpoint["streams"].contains(key)) return k;
    const auto& c = checkpoint["streams"][key];
    k.id = id_of(c.at("id").get<std::string>());
    k.n = c.at("n").get<std::int64_t>();
    if (c.contains("deleted")) k.deleted = id_of(c["deleted"].get<std::string>());
    k.known = true;
    return k;
  }
  nlohmann::json json() const {
    nlohmann::json j{{"id", id.text()}, {"n", n}};
    if (deleted != EntryId{}) j["deleted"] = deleted.text();
    return j;
  }
};

class RedisStreamReader final : public SourceReader {
 public:
  RedisStreamReader(RedisStreamConfig config, std::string url, std::set<std::string> json_fields)
      : config_(std::move(config)), json_fields_(std::move(json_fields)), redis_(std::move(url)) {}

  void connect() override {
    if (redis_.open()) return;
    redis_.connect();
    std::vector<Problem> problems;
    for (std::size_t i = 0; i < config_.streams.size(); ++i) {
      auto type = redis_.command({"TYPE", config_.streams[i]});
      const auto t = text_of(type.get());
      if (t != "stream" && t != "none") {
        problems.push_back({"/streams/" + std::to_string(i), "key " + config_.streams[i] + " holds a " + std::string{t} + ", not a stream"});
      }
    }
    if (!problems.empty()) {
      redis_.close();
      throw engine::InvalidSource(problems);
    }
    infos();  // Redis 7 or an InvalidSource
  }

  std::int64_t tail() override {
    std::int64_t added = 0;
    for (const auto& s : infos()) added += s.added;
    return added;
  }

  nlohmann::json end_checkpoint() override {
    const auto now = infos();
    nlohmann::json streams = nlohmann::json::object();
    for (std::size_t i = 0; i < now.size(); ++i) {
      streams[config_.streams[i]] = KeyCheckpoint{now[i].last, now[i].added, now[i].max_deleted, true}.json();
    }
    return {{"streams", streams}};
  }

  std::vector<SourceRecord> read(const nlohmann::json& checkpoint, std::size_t limit) override {
    connect();
    const auto& keys = config_.streams;
    std::vector<KeyCheckpoint> at;
    for (const auto& k : keys) at.push_back(KeyCheckpoint::of(checkpoint, k));
    // MULTI: the entries and every key's XINFO in one snapshot (and one round trip).
    std::vector<std::vector<std::string>> commands{{"MULTI"}};
    std::vector<std::string> xread{"XREAD", "COUNT", std::to_string(limit), "STREAMS"};
    for (const auto& k : keys) xread.push_back(k);
    for (const auto& a : at) xread.push_back(a.id.text());
    commands.push_back(std::move(xread));
    for (const auto& k : keys) commands.push_back({"XINFO", "STREAM", k});
    commands.push_back({"EXEC"});
    auto replies = redis_.pipeline(commands);
    const auto* exec = replies.back().get();
    if (!exec || exec->type != REDIS_REPLY_ARRAY || exec->elements != keys.size() + 1) {
      throw engine::DatabaseUnavailable("Redis did not run the read (MULTI/EXEC): " + std::string{text_of(exec)});
    }
    std::vector<StreamInfo> info;
    for (std::size_t i = 0; i < keys.size(); ++i) info.push_back(info_of(exec->element[i + 1]));

    // Every key's entries, and a gap record before them where entries past the checkpoint are gone.
    struct Pending {
      EntryId id;
      std::size_t key;
      int gap;  // 0: an entry; 1: a gap (sorts before the entries of its key at the same id)
      const redisReply* entry;
      std::string reason;  // a gap: why, and the id it reaches to
      EntryId to;
    };
    std::vector<Pending> pending;
    std::vector<std::vector<const redisReply*>> entries(keys.size());
    if (const auto* x = exec->element[0]; x && x->type == REDIS_REPLY_ARRAY) {
      for (std::size_t i = 0; i < x->elements; ++i) {
        const auto* pair = x->element[i];
        if (pair->type != REDIS_REPLY_ARRAY || pair->elements != 2) continue;
        const auto key = text_of(pair->element[0]);
        const auto k = static_cast<std::size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin());
        if (k == keys.size()) continue;
        for (std::size_t e = 0; e < pair->element[1]->elements; ++e) entries[k].push_back(pair->element[1]->element[e]);
      }
    }
    for (std::size_t k = 0; k < keys.size(); ++k) {
      auto& a = at[k];
      const auto removed = info[k].added - info[k].length;
      if (!a.known) {
        // New to the checkpoint: what was removed before reading began is history it never had.
        a.n = removed;
        a.deleted = info[k].max_deleted;
        a.known = true;
      } else if (removed > a.n) {
        // A trim reached past the checkpoint: what lay between it and the first entry left is gone.
        const auto to = entries[k].empty() ? info[k].last : id_of(text_of(entries[k].front()->element[0]));
        pending.push_back({a.id, k, 0, nullptr,
                           "entries of " + keys[k] + " after " + a.id.text() + " and " + (entries[k].empty() ? "through " : "before ") +
                               to.text() + " were removed (XTRIM or MAXLEN) before they were ingested: " +
                               std::to_string(removed - a.n) + " entries",
                           to});
      } else if (info[k].max_deleted > std::max(a.id, a.deleted)) {
        pending.push_back({a.id, k, 0, nullptr,
                           "an entry of " + keys[k] + " after " + a.id.text() + ", up to " + info[k].max_deleted.text() +
                               ", was removed (XDEL) before it was ingested",
                           info[k].max_deleted});
      }
      for (const auto* e : entries[k]) pending.push_back({id_of(text_of(e->element[0])), k, 1, e, {}, {}});
    }
    std::stable_sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) {
      return std::tie(a.id, a.key, a.gap) < std::tie(b.id, b.key, b.gap);
    });
    if (pending.size() > limit) pending.resize(limit);

    std::vector<SourceRecord> out;
    out.reserve(pending.size());
    for (auto& p : pending) {
      auto& a = at[p.key];
      const auto& key = keys[p.key];
      SourceRecord rec;
      if (!p.entry) {
        const auto removed = info[p.key].added - info[p.key].length;
        rec.gap = std::move(p.reason);
        rec.coordinate = key + ":" + a.id.text() + ".." + p.to.text();  // KEY:AFTER..TO
        // Passing the gap: every removed entry counts as behind the checkpoint from now on.
        a.n = std::max(a.n, removed);
        a.deleted = std::max(a.deleted, info[p.key].max_deleted);
        if (entries[p.key].empty()) a.id = std::max(a.id, info[p.key].last);
        rec.record = {{"key", key}, {"gap", rec.gap}};
      } else {
        const auto id = text_of(p.entry->element[0]);
        a.id = p.id;
        a.n += 1;
        rec.coordinate = key + ":" + std::string{id};
        nlohmann::json fields = nlohmann::json::object();
        const auto* f = p.entry->element[1];
        for (std::size_t i = 0; f && f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
          fields[std::string{text_of(f->element[i])}] = std::string{text_of(f->element[i + 1])};
        }
        rec.derived = nlohmann::json::object();
        for (const auto& name : json_fields_) {
          auto it = fields.find(name);
          if (it == fields.end()) continue;
          try {
            rec.derived["json"][name] = nlohmann::json::parse(it->get_ref<const std::string&>());
          } catch (const nlohmann::json::parse_error& e) {
            rec.derived["invalid"][name] = std::string{"field "} + name + " is not JSON: " + e.what();
          }
        }
        rec.record = {{"key", key}, {"id", id}, {"fields", std::move(fields)}};
      }
      rec.position = a.n;
      nlohmann::json streams = checkpoint.is_object() && checkpoint.contains("streams") ? checkpoint["streams"] : nlohmann::json::object();
      for (std::size_t k = 0; k < keys.size(); ++k) {
        if (at[k].known) streams[keys[k]] = at[k].json();
      }
      rec.checkpoint = {{"streams", std::move(streams)}};
      out.push_back(std::move(rec));
    }
    return out;
  }

  // Every entry XADD wrote is readable at once: there is nothing a read could have to wait for.
  bool committed_after(const nlohmann::json&) override { return false; }

  const nlohmann::json* resolve(const SourceRecord& record, std::string_view root, std::string_view name) const override {
    if (root == "record") return &record.record;
    if (root == "id" || root == "key") return record.record.contains(root) ? &record.record[std::string{root}] : nullptr;
    const std::string n{name};
    if (root == "json") {
      if (auto bad = record.derived.find("invalid"); bad != record.derived.end() && bad->contains(n)) {
        throw BadRecord((*bad)[n].get<std::string>());
      }
      auto json = record.derived.find("json");
      return json == record.derived.end() || !json->contains(n) ? nullptr : &(*json)[n];
    }
    auto fields = record.record.find("fields");
    if (fields == record.record.end()) return nullptr;
    auto it = fields->find(n);
    return it == fields->end() ? nullptr : &*it;
  }

  std::int64_t position_of(const nlohmann::json& checkpoint) const override {
    std::int64_t n = 0;
    if (!checkpoint.is_object() || !checkpoint.contains("streams")) return 0;
    for (const auto& k : config_.streams) {
      if (checkpoint["streams"].contains(k)) n += checkpoint["streams"][k].value("n", std::int64_t{0});
    }
    return n;
  }

 private:
  std::vector<StreamInfo> infos() {
    std::vector<std::vector<std::string>> commands;
    for (const auto& k : config_.streams) commands.push_back({"XINFO", "STREAM", k});
    auto replies = redis_.pipeline(commands);
    std::vector<StreamInfo> out;
    for (const auto& r : replies) out.push_back(info_of(r.get()));
    return out;
  }

  const RedisStreamConfig config_;
  const std::set<std::string> json_fields_;
  RedisConnection redis_;
};

}  // namespace

std::vector<ReferenceRoot> redis_stream_references() {
  return {{"field", ReferenceRoot::Form::kNamed},
          {"json", ReferenceRoot::Form::kNamed},
          {"id", ReferenceRoot::Form::kWhole},
          {"key", ReferenceRoot::Form::kWhole},
          {"record", ReferenceRoot::Form::kWhole}};
}

std::optional<RedisStreamConfig> parse_redis_stream(const nlohmann::json& doc, std::vector<Problem>& problems) {
  const auto before = problems.size();
  RedisStreamConfig c;
  auto streams = doc.find("streams");
  if (streams == doc.end()) {
    problems.push_back({"/streams", "missing: the stream keys to read ([\"users\", …])"});
  } else if (!streams->is_array() || streams->empty()) {
    problems.push_back({"/streams", "a non-empty array of stream keys"});
  } else {
    for (std::size_t i = 0; i < streams->size(); ++i) {
      const auto& s = (*streams)[i];
      if (!s.is_string() || s.get<std::string>().empty()) {
        problems.push_back({"/streams/" + std::to_string(i), "a stream key: a non-empty string"});
      } else if (std::find(c.streams.begin(), c.streams.end(), s.get<std::string>()) != c.streams.end()) {
        problems.push_back({"/streams/" + std::to_string(i), "named twice"});
      } else {
        c.streams.push_back(s.get<std::string>());
      }
    }
  }
  if (auto url = doc.find("url"); url != doc.end() && url->is_string()) {
    try {
      check_redis_url(url->get<std::string>());
    } catch (const engine::InvalidSource& e) {
      problems.insert(problems.end(), e.problems().begin(), e.problems().end());
    }
  } else if (!doc.contains("url_env") && !doc.contains("url_file")) {
    problems.push_back({"/url", "missing: where Redis is (redis://HOST:PORT/DB; url_env or url_file for one with a password)"});
  }
  if (problems.size() != before) return std::nullopt;
  return c;
}

std::unique_ptr<SourceReader> redis_stream_reader(RedisStreamConfig config, std::string url, std::set<std::string> json_fields) {
  check_redis_url(url);  // a malformed URL is the document's problem, found before any connection
  return std::make_unique<RedisStreamReader>(std::move(config), std::move(url), std::move(json_fields));
}

}  // namespace reproj::sources
