#pragma once
// A reactor's target URL, checked and split for the HTTP client.

#include <string>

namespace reproj::api {

struct WebhookUrl {
  std::string host;
  std::string port;    // "80" when the URL names none
  std::string target;  // path and query, at least "/"
};

/// Parses an absolute `http://host[:port][/path][?query]` URL. Throws engine::InvalidInput naming
/// the problem otherwise: another scheme (https: put a TLS-terminating proxy in front and give its
/// http:// address), user info, a fragment, an empty host, a bad port, spaces or control characters.
WebhookUrl parse_webhook_url(const std::string& url);

}  // namespace reproj::api
