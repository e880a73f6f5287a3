#pragma once

#include <map>
#include <string>

namespace reproj::api {

/// A reply as the client saw it.
struct ClientReply {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

/// A minimal blocking HTTP/1.1 client for the CLI's --server mode and the tests.
/// `base` is "http://host:port" or "https://host:port". Over HTTPS the server's certificate must
/// verify against `cacert` (a PEM file; empty: $REPROJ_CACERT, else the system's store) and name
/// `host`; TLS 1.2 or later. Throws std::runtime_error when the server cannot be reached, its
/// certificate is refused, or it sends or reads nothing for `timeout_seconds`.
ClientReply http_call(const std::string& base, const std::string& method, const std::string& target,
                      const std::string& body = "", const std::map<std::string, std::string>& headers = {},
                      int timeout_seconds = 60, const std::string& cacert = "");

}  // namespace reproj::api
