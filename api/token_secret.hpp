#pragma once
// Token secrets: made here from OpenSSL's CSPRNG, shown once, stored only as their SHA-256.

#include <string>
#include <string_view>

namespace reproj::api {

/// "rpj_" and 43 base64url characters: 256 random bits.
std::string new_token_secret();

/// Lower-case hex of SHA-256(`text`).
std::string sha256_hex(std::string_view text);

/// Equal, in time that depends only on the lengths (OpenSSL's CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace reproj::api
