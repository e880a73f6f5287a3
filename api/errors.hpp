#pragma once

#include <exception>
#include <string>

#include "api/asio.hpp"

namespace reproj::api {

/// A request the API refuses before it reaches the engine (bad path, query or body).
class HttpError : public std::runtime_error {
 public:
  HttpError(http::status status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  http::status status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  http::status status_;
  std::string code_;
};

/// {"error": code, "message": message} with `status`.
Response json_error(http::status status, const std::string& code, const std::string& message);

/// The one place engine errors become HTTP statuses. Call from a catch block.
Response error_from_current_exception();

}  // namespace reproj::api
