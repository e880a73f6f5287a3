#pragma once
// A reactor's target URL, checked and split for the HTTP client.

#include <string>

namespace reproj::api {

struct WebhookUrl {
  bool tls = false;    // https://
  std::string host;
  std::string port;    // "80" (http) or "443" (https) when the URL names none
  std::string target;  // path and query, at least "/"
};

/// Parses an absolute `http[s]://host[:port][/path][?query]` URL. Throws engine::InvalidInput naming
/// the problem otherwise: another scheme, user info, a fragment, an empty host, a bad port, spaces or
/// control characters.
WebhookUrl parse_webhook_url(const std::string& url);

}  // namespace reproj::api
