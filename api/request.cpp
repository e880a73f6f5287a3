#include "api/request.hpp"

namespace reproj::api {

namespace {

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80) {
      n = 0;
    } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      n = 1;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      n = 3;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

HttpError bad_request(const std::string& message) { return HttpError(http::status::bad_request, "bad_request", message); }

std::string checked_id(const std::string& what, const std::string& value) {
  if (value.empty()) throw bad_request(what + " must not be empty");
  if (value.size() > kMaxIdBytes) throw bad_request(what + " is longer than " + std::to_string(kMaxIdBytes) + " bytes");
  if (!valid_utf8(value)) throw bad_request(what + " is not valid UTF-8");
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) throw bad_request(what + " contains a control character");
  }
  return value;
}

std::optional<std::string> percent_decode(std::string_view in, Plus plus) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int v = 0;
      auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
      if (ec != std::errc{} || p != in.data() + i + 3) return std::nullopt;
      out += static_cast<char>(v);
      i += 2;
    } else if (plus == Plus::kSpace && in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace reproj::api
