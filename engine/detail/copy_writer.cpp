#include "engine/detail/copy_writer.hpp"

#include <pqxx/pqxx>
#include <pqxx/tablewriter>

namespace reproj::engine::detail {

// libpqxx 6.4's stream_to only takes fixed-arity tuples and keeps write_raw_line private, while
// projection tables have columns known only at run time. tablewriter (deprecated in 6.4, not
// removed) exposes write_raw_line; its multibyte warning concerns its own escaping, which we do
// not use: copy_text.hpp escapes only ASCII bytes, which is safe in UTF-8.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
CopyWriter::CopyWriter(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns)
    : writer_(std::make_unique<pqxx::tablewriter>(tx, table, columns.begin(), columns.end())) {}

CopyWriter::~CopyWriter() = default;

namespace {
constexpr std::size_t kBlock = 64 * 1024;
}

// COPY data is a byte stream: PostgreSQL splits rows at newlines, not at libpq's messages, so a
// block of lines goes as one "line" (write_raw_line drops one trailing newline and adds its own).
void CopyWriter::write_line(std::string_view line) {
  pending_.append(line);
  pending_ += '\n';
  if (pending_.size() >= kBlock) send();
}

void CopyWriter::send() {
  if (pending_.empty()) return;
  writer_->write_raw_line(pending_);
  pending_.clear();
}

void CopyWriter::complete() {
  send();
  writer_->complete();
}
#pragma GCC diagnostic pop

}  // namespace reproj::engine::detail
