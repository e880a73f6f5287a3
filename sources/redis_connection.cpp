#include "sources/redis_connection.hpp"

#include <charconv>

#include "engine/errors.hpp"

namespace reproj::sources {

namespace {

// Percent-decoding for the user and password of a URL.
std::string decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      if (std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ec == std::errc{}) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

struct RedisUrl {
  std::string host = "127.0.0.1", user, password;
  int port = 6379, db = 0;
};

RedisUrl parse_url(const std::string& url) {
  const std::string scheme = "redis://";
  auto bad = [&](const std::string& why) {
    return engine::InvalidSource(std::vector<engine::InvalidSource::Problem>{{"/url", "not a Redis URL (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]): " + why}});
  };
  if (url.starts_with("rediss://")) throw bad("TLS (rediss://) is not supported by the Redis client reproj is built with");
  if (!url.starts_with(scheme)) throw bad("it does not start with redis://");
  std::string_view rest{url};
  rest.remove_prefix(scheme.size());
  RedisUrl u;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const auto credentials = rest.substr(0, at);
    const auto colon = credentials.find(':');
    if (colon == std::string_view::npos) {
      u.password = decoded(credentials);
    } else {
      u.user = decoded(credentials.substr(0, colon));
      u.password = decoded(credentials.substr(colon + 1));
    }
    rest.remove_prefix(at + 1);
  }
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty() && std::from_chars(db.data(), db.data() + db.size(), u.db).ec != std::errc{}) throw bad("the database is not a number");
  }
  if (const auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    auto port = hostport.substr(colon + 1);
    if (std::from_chars(port.data(), port.data() + port.size(), u.port).ec != std::errc{}) throw bad("the port is not a number");
    hostport = hostport.substr(0, colon);
  }
  if (!hostport.empty()) u.host = std::string{hostport};
  return u;
}


}  // namespace

std::string_view text_of(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
             ? std::string_view{r->str, r->len}
             : std::string_view{};
}

void check_redis_url(const std::string& url) { parse_url(url); }

void RedisConnection::connect() {
  if (open()) return;
  close();
  const auto u = parse_url(url_);
  timeval connect_timeout{5, 0};
  ctx_ = redisConnectWithTimeout(u.host.c_str(), u.port, connect_timeout);
  if (!ctx_ || ctx_->err) {
    const std::string why = ctx_ ? ctx_->errstr : "out of memory";
    close();
    throw engine::DatabaseUnavailable("cannot connect to Redis at " + u.host + ":" + std::to_string(u.port) + ": " + why);
  }
  timeval io_timeout{10, 0};  // a server that hangs is a lost connection, not a stalled ingester
  redisSetTimeout(ctx_, io_timeout);
  auto expect_ok = [&](const Reply& r, const char* what) {
    if (r->type == REDIS_REPLY_ERROR) {
      const std::string why{text_of(r.get())};
      close();
      throw engine::DatabaseUnavailable(std::string{"Redis refused "} + what + ": " + why);
    }
  };
  if (!u.password.empty()) {
    if (u.user.empty()) {
      expect_ok(command({"AUTH", u.password}), "AUTH");
    } else {
      expect_ok(command({"AUTH", u.user, u.password}), "AUTH");
    }
  }
  if (u.db != 0) expect_ok(command({"SELECT", std::to_string(u.db)}), "SELECT");
}

void RedisConnection::close() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

Reply RedisConnection::command(const std::vector<std::string>& args) {
  auto replies = pipeline({args});
  return std::move(replies.front());
}

std::vector<Reply> RedisConnection::pipeline(const std::vector<std::vector<std::string>>& commands) {
  if (!open()) connect();
  for (const auto& args : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) lost();
  }
  std::vector<Reply> out;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || !r) lost();
    out.emplace_back(static_cast<redisReply*>(r));
  }
  return out;
}

void RedisConnection::lost() {
  const std::string why = ctx_ && ctx_->err ? ctx_->errstr : "no reply";
  close();
  throw engine::DatabaseUnavailable("the Redis connection broke: " + why);
}

}  // namespace reproj::sources
