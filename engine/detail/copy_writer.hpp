#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pqxx {
class transaction_base;
class tablewriter;
}  // namespace pqxx

namespace reproj::engine::detail {

/// COPY ... FROM STDIN of pre-encoded text lines (see copy_text.hpp) into `table` (already quoted
/// as needed) with explicit columns. Call complete() before anything else runs on the transaction.
class CopyWriter {
 public:
  CopyWriter(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns);
  ~CopyWriter();
  CopyWriter(const CopyWriter&) = delete;
  CopyWriter& operator=(const CopyWriter&) = delete;

  /// One row: fields escaped and tab-separated, no trailing newline. Rows are sent in blocks of
  /// about 64 KiB, not one libpq call (and copy) each.
  void write_line(std::string_view line);
  void complete();

 private:
  void send();
  std::unique_ptr<pqxx::tablewriter> writer_;
  std::string pending_;  // whole lines, each ending in '\n'
};

}  // namespace reproj::engine::detail
