#include "api/authorizer.hpp"

#include <spdlog/spdlog.h>

#include "api/errors.hpp"
#include "api/metrics.hpp"
#include "api/token_secret.hpp"
#include "engine/token_store.hpp"

namespace reproj::api {

namespace {

// Failed authentications are logged at most this often, with how many were not.
constexpr auto kLogEvery = std::chrono::seconds(10);

RateClass rate_class(engine::Access access) {
  switch (access) {
    case engine::Access::kAppend: return RateClass::kAppend;
    case engine::Access::kAdmin: return RateClass::kAdmin;
    default: return RateClass::kRead;
  }
}

// Whether `mode` lets a client without a token through to `access`.
bool open_to_anyone(AuthMode mode, engine::Access access) {
  if (access == engine::Access::kPublic) return true;
  if (access == engine::Access::kAdmin) return false;
  if (mode == AuthMode::kOpen) return true;
  if (mode == AuthMode::kOpenReads) return access == engine::Access::kRead || access == engine::Access::kReadProjection;
  return false;
}

}  // namespace

std::optional<AuthMode> parse_auth_mode(std::string_view text) {
  if (text == "required") return AuthMode::kRequired;
  if (text == "open-reads") return AuthMode::kOpenReads;
  if (text == "open") return AuthMode::kOpen;
  return std::nullopt;
}

std::string_view auth_mode_name(AuthMode mode) {
  switch (mode) {
    case AuthMode::kRequired: return "required";
    case AuthMode::kOpenReads: return "open-reads";
    case AuthMode::kOpen: return "open";
  }
  return "required";
}

Authorizer::Authorizer(Options options, engine::TokenStore* tokens, RequestMetrics* metrics)
    : options_(std::move(options)),
      admin_sha256_(options_.admin_token.empty() ? std::string{} : sha256_hex(options_.admin_token)),
      tokens_(tokens),
      metrics_(metrics),
      limiter_(options_.limits),
      table_(std::make_shared<Table>()) {
  if (!tokens_) return;
  refresh();
  refresher_ = std::thread{[this] {
    std::unique_lock lock{mutex_};
    while (!stop_cv_.wait_for(lock, options_.refresh, [this] { return stopping_; })) {
      lock.unlock();
      try {
        refresh();
      } catch (const std::exception& e) {
        // Keep the last table: a database that is down must not log everyone out (nor revive a
        // revoked token: it was already dropped when last read).
        spdlog::warn("tokens: cannot re-read them: {}", e.what());
      }
      lock.lock();
    }
  }};
}

Authorizer::~Authorizer() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

void Authorizer::refresh() const {
  if (!tokens_) return;
  auto next = std::make_shared<Table>();
  for (auto& t : tokens_->active()) next->emplace(std::move(t.secret_sha256), Known{std::move(t.name), std::move(t.scopes)});
  std::lock_guard lock{mutex_};
  table_ = std::move(next);
}

std::shared_ptr<const Authorizer::Table> Authorizer::table() const {
  std::lock_guard lock{mutex_};
  return table_;
}

std::optional<Principal> Authorizer::from_secret(std::string_view secret) const {
  // Only hashes are compared, so a lookup's timing says nothing of the secret; unknown, revoked
  // and expired tokens are all simply absent from the table and take the same path.
  const std::string hash = sha256_hex(secret);
  if (!admin_sha256_.empty() && constant_time_equal(hash, admin_sha256_)) {
    return Principal{options_.admin_name, {"admin"}, false};
  }
  const auto t = table();
  const auto it = t->find(hash);
  if (it == t->end()) return std::nullopt;
  return Principal{it->second.name, it->second.scopes, false};
}

std::optional<Principal> Authorizer::from_subject(const std::string& subject) const {
  const auto t = table();
  for (const auto& [hash, known] : *t) {
    if (known.name == subject) return Principal{known.name, known.scopes, false};
  }
  return std::nullopt;
}

void Authorizer::refuse(http::status status, const std::string& code, const std::string& message,
                        const std::string& reason, const Peer& peer) const {
  if (metrics_) metrics_->observe_auth_failure(reason);
  {
    std::lock_guard lock{mutex_};
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log_ >= kLogEvery) {
      spdlog::warn("auth: refused a request from {} ({}){}", peer.address.empty() ? "in-process" : peer.address, reason,
                   unlogged_ ? fmt::format("; {} more refused since the last report", unlogged_) : "");
      last_log_ = now;
      unlogged_ = 0;
    } else {
      ++unlogged_;
    }
  }
  throw HttpError(status, code, message);
}

Principal Authorizer::authorize(const Request& req, const Peer& peer, engine::Access access,
                                std::string_view object) const {
  if (access == engine::Access::kPublic) return Principal{};
  std::optional<Principal> who;
  const auto header = req.find(http::field::authorization);
  if (header != req.end()) {
    const std::string_view value{header->value().data(), header->value().size()};
    constexpr std::string_view kBearer = "Bearer ";
    if (value.size() <= kBearer.size() || value.substr(0, kBearer.size()) != kBearer) {
      refuse(http::status::unauthorized, "unauthorized", "expected 'Authorization: Bearer TOKEN'", "malformed", peer);
    }
    who = from_secret(value.substr(kBearer.size()));
    if (!who) refuse(http::status::unauthorized, "unauthorized", "unknown or revoked token", "invalid", peer);
  } else if (!peer.client_subject.empty()) {
    who = from_subject(peer.client_subject);
  }
  if (!who) {
    if (!open_to_anyone(options_.mode, access)) {
      refuse(http::status::unauthorized, "unauthorized",
             "this route needs 'Authorization: Bearer TOKEN' with scope " + engine::missing_scope(access, object),
             "missing", peer);
    }
    who = Principal{};
  } else if (!engine::permits(who->scopes, access, object) && !open_to_anyone(options_.mode, access)) {
    refuse(http::status::forbidden, "forbidden",
           "token '" + who->name + "' lacks scope " + engine::missing_scope(access, object), "forbidden", peer);
  }
  const std::string client = who->anonymous ? "@" + peer.address : who->name;
  if (auto wait = limiter_.take(client, rate_class(access))) {
    if (metrics_) metrics_->observe_auth_failure("rate_limited");
    throw RateLimited(*wait, "too many requests from " + (who->anonymous ? "this address" : "token '" + who->name + "'") +
                                 "; retry after " + std::to_string(wait->count()) + " ms");
  }
  return *who;
}

}  // namespace reproj::api
