#pragma once
// One connection to Redis over hiredis (Debian's 0.14: no TLS): a redis:// URL, AUTH and SELECT,
// commands pipelined, and a connection that fails or hangs (10 s) reported as DatabaseUnavailable
// after closing it, so the next call connects afresh.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

namespace reproj::sources {

struct FreeReply {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, FreeReply>;

/// A string, status or error reply's text; empty for any other.
std::string_view text_of(const redisReply* r);

/// Throws InvalidSource (at /url) unless `url` is redis://[[USER]:PASSWORD@]HOST[:PORT][/DB].
void check_redis_url(const std::string& url);

class RedisConnection {
 public:
  explicit RedisConnection(std::string url) : url_(std::move(url)) {}
  ~RedisConnection() { close(); }
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  bool open() const { return ctx_ && !ctx_->err; }
  /// Connects (and authenticates, selects the database) unless open. Throws DatabaseUnavailable.
  void connect();
  void close();
  /// Sends every command, then reads every reply (one round trip), connecting first if need be.
  /// An error reply is returned as a reply; no reply at all throws DatabaseUnavailable.
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& commands);
  Reply command(const std::vector<std::string>& args);

 private:
  [[noreturn]] void lost();

  const std::string url_;
  redisContext* ctx_ = nullptr;
};

}  // namespace reproj::sources
