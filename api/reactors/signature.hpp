#pragma once
// X-Reproj-Signature: what a receiver recomputes to know a delivery came from reproj.

#include <string>
#include <string_view>

namespace reproj::api {

/// Lower-case hex of HMAC-SHA256(`key`, `body`) (OpenSSL).
std::string hmac_sha256_hex(std::string_view key, std::string_view body);

}  // namespace reproj::api
