#include "engine/detail/copy_text.hpp"

#include <cstring>

namespace reproj::engine::detail {

void decode_copy_line(std::string_view line, std::vector<std::string>& fields, std::vector<bool>& nulls) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (true) {
    if (fields.size() <= count) {
      fields.emplace_back();
      nulls.push_back(false);
    }
    std::string& out = fields[count];
    out.clear();
    nulls[count] = false;
    if (line.substr(i, 3) == "\\N\t" || (line.size() - i == 2 && line.substr(i) == "\\N")) {
      nulls[count] = true;
      i += 2;
    } else {
      // Fast path: most fields hold no backslash; copy them in one go.
      const char* begin = line.data() + i;
      const std::size_t rest = line.size() - i;
      const void* tab = std::memchr(begin, '\t', rest);
      const std::size_t len = tab ? static_cast<std::size_t>(static_cast<const char*>(tab) - begin) : rest;
      if (!std::memchr(begin, '\\', len)) {
        out.assign(begin, len);
        i += len;
      }
      while (i < line.size() && line[i] != '\t') {
        std::size_t run = i;
        while (run < line.size() && line[run] != '\t' && line[run] != '\\') ++run;
        out.append(line.data() + i, run - i);
        i = run;
        if (i < line.size() && line[i] == '\\' && i + 1 < line.size()) {
          char c = line[i + 1];
          i += 2;
          switch (c) {
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'v': out += '\v'; break;
            default:
              if (c >= '0' && c <= '7') {
                int v = c - '0';
                for (int k = 0; k < 2 && i < line.size() && line[i] >= '0' && line[i] <= '7'; ++k, ++i) {
                  v = v * 8 + (line[i] - '0');
                }
                out += static_cast<char>(v);
              } else {
                out += c;  // "\\" and any other escaped character stand for themselves
              }
          }
        } else if (i < line.size() && line[i] == '\\') {
          ++i;  // a lone trailing backslash: drop it
        }
      }
    }
    ++count;
    if (i >= line.size()) break;
    ++i;  // the tab
  }
  fields.resize(count);
  nulls.resize(count);
}

void append_copy_field(std::string& out, std::string_view value) {
  // Most values hold nothing to escape: the runs between special bytes go in whole, not byte by byte.
  std::size_t from = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    const char* escaped = c == '\\' ? "\\\\" : c == '\t' ? "\\t" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : nullptr;
    if (!escaped) continue;
    out.append(value.data() + from, i - from);
    out += escaped;
    from = i + 1;
  }
  out.append(value.data() + from, value.size() - from);
}

}  // namespace reproj::engine::detail
