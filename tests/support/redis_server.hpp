#pragma once
// A throwaway redis-server for one test (scripts/redis: 127.0.0.1, a random port, AOF on), and a
// small client over hiredis to write and inspect its streams as an application would.

#include <hiredis/hiredis.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace reproj::test {

class RedisServer {
 public:
  RedisServer() {
    const auto out = run("start");
    auto value = [&](const std::string& name) {
      const auto at = out.find(name + "=");
      if (at == std::string::npos) throw std::runtime_error("scripts/redis start printed no " + name + ": " + out);
      const auto from = at + name.size() + 1;
      return out.substr(from, out.find('\n', from) - from);
    };
    dir_ = value("REPROJ_REDISDIR");
    url_ = value("REDIS_URL");
    port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
  }
  ~RedisServer() {
    try {
      run("stop " + dir_);
    } catch (const std::exception&) {
    }
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  const std::string& url() const { return url_; }
  int port() const { return port_; }
  /// A clean stop (the AOF flushed) and a start on the same port.
  void restart() { run("restart " + dir_); }
  void kill() { run("kill " + dir_); }

 private:
  static std::string run(const std::string& args) {
    const std::string cmd = std::string{REPROJ_SOURCE_DIR} + "/scripts/redis " + args;
    std::unique_ptr<FILE, int (*)(FILE*)> p{popen(cmd.c_str(), "r"), pclose};
    if (!p) throw std::runtime_error("cannot run " + cmd);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p.get())) out += buf;
    if (pclose(p.release()) != 0) throw std::runtime_error(cmd + " failed: " + out);
    return out;
  }
  std::string dir_, url_;
  int port_ = 0;
};

/// One connection; a command's reply as text (a string, a status, an integer), throwing when the
/// connection is gone or Redis answers an error.
class RedisClient {
 public:
  explicit RedisClient(int port) {
    ctx_ = redisConnect("127.0.0.1", port);
    if (!ctx_ || ctx_->err) throw std::runtime_error("cannot connect to Redis");
  }
  ~RedisClient() {
    if (ctx_) redisFree(ctx_);
  }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  std::string command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!r) throw std::runtime_error("the Redis connection broke");
    std::string out;
    if (r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) out.assign(r->str, r->len);
    const bool error = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (error) throw std::runtime_error("Redis: " + out);
    return out;
  }
  /// XADD KEY * FIELD VALUE ... -> the entry id.
  std::string xadd(const std::string& key, const std::vector<std::pair<std::string, std::string>>& fields) {
    std::vector<std::string> args{"XADD", key, "*"};
    for (const auto& [f, v] : fields) {
      args.push_back(f);
      args.push_back(v);
    }
    return command(args);
  }
  /// Every entry id of `key`, in order.
  std::vector<std::string> ids(const std::string& key) {
    std::vector<std::string> out;
    auto* r = static_cast<redisReply*>(redisCommand(ctx_, "XRANGE %s - +", key.c_str()));
    if (!r) throw std::runtime_error("the Redis connection broke");
    for (std::size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
      out.emplace_back(r->element[i]->element[0]->str, r->element[i]->element[0]->len);
    }
    freeReplyObject(r);
    return out;
  }

 private:
  redisContext* ctx_ = nullptr;
};

}  // namespace reproj::test
