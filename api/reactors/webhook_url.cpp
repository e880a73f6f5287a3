#include "api/reactors/webhook_url.hpp"

#include <charconv>

#include "engine/errors.hpp"

namespace reproj::api {

WebhookUrl parse_webhook_url(const std::string& url) {
  using engine::InvalidInput;
  if (url.size() > 2048) throw InvalidInput("url is longer than 2048 characters");
  for (const char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) throw InvalidInput("url must not contain spaces, control or non-ASCII characters");
  }
  const bool tls = url.rfind("https://", 0) == 0;
  const std::string scheme = tls ? "https://" : "http://";
  if (url.rfind(scheme, 0) != 0) throw InvalidInput("url must be an absolute http:// or https:// URL, got '" + url + "'");
  if (url.find('#') != std::string::npos) throw InvalidInput("url must not have a fragment");
  const auto authority_end = url.find_first_of("/?", scheme.size());
  const std::string authority = url.substr(scheme.size(), authority_end - scheme.size());
  if (authority.find('@') != std::string::npos) throw InvalidInput("url must not carry user info");
  WebhookUrl out;
  out.tls = tls;
  out.port = tls ? "443" : "80";
  std::string host = authority;
  if (!host.empty() && host.front() == '[') {  // [IPv6]:port
    const auto close = host.find(']');
    if (close == std::string::npos) throw InvalidInput("url: unclosed '[' in the host");
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') throw InvalidInput("url: bad host '" + authority + "'");
      out.port = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (const auto colon = host.find(':'); colon != std::string::npos) {
    out.port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.empty()) throw InvalidInput("url has no host");
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(out.port.data(), out.port.data() + out.port.size(), port);
  if (out.port.empty() || ec != std::errc{} || end != out.port.data() + out.port.size() || port < 1 || port > 65535) {
    throw InvalidInput("url: port must be from 1 to 65535, got '" + out.port + "'");
  }
  out.host = host;
  out.target = authority_end == std::string::npos ? "/" : url.substr(authority_end);
  if (out.target.front() == '?') out.target = "/" + out.target;
  return out;
}

}  // namespace reproj::api
