#include "engine/detail/history_writer.hpp"

#include "engine/detail/connect.hpp"
#include "engine/detail/history_sql.hpp"
#include "engine/detail/table_names.hpp"
#include "engine/detail/table_sql.hpp"

namespace reproj::engine::detail {

HistoryWriter::HistoryWriter(const std::string& database_url, const std::string& application_name,
                             const Projection& projection, std::vector<std::string> names)
    : projection_(projection), names_(std::move(names)), conn_(connect(database_url)) {
  exec_session(*conn_, "SET application_name = " + conn_->quote(application_name));
  thread_ = std::thread([this] { run(); });
}

HistoryWriter::~HistoryWriter() {
  {
    std::scoped_lock lock{mutex_};
    stopping_ = true;
    queue_.clear();
    if (writing_) conn_->cancel_query();  // a key build at 10M events takes seconds
  }
  changed_.notify_all();
  thread_.join();
}

void HistoryWriter::push(std::vector<RowVersion> versions) {
  std::scoped_lock lock{mutex_};
  if (error_) std::rethrow_exception(error_);
  if (versions.empty()) return;
  queue_.push_back({std::move(versions), {}});
  changed_.notify_all();
}

void HistoryWriter::build_key(std::vector<std::string> statements) {
  std::scoped_lock lock{mutex_};
  if (error_) std::rethrow_exception(error_);
  queue_.push_back({{}, std::move(statements)});
  changed_.notify_all();
}

void HistoryWriter::drain() {
  std::unique_lock lock{mutex_};
  changed_.wait(lock, [&] { return error_ || (queue_.empty() && !writing_); });
  if (error_) std::rethrow_exception(error_);
}

void HistoryWriter::run() {
  std::unique_lock lock{mutex_};
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto job = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    std::exception_ptr failed;
    try {
      if (!job.versions.empty()) {
        pqxx::work tx{*conn_};
        append_versions(tx, projection_, names_, job.versions);
        tx.commit();
      }
      for (const auto& sql : job.statements) exec_session(*conn_, sql);
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    writing_ = false;
    if (failed && !error_) error_ = failed;
    changed_.notify_all();
    if (error_) {  // nothing more is written: the rebuild resumes from its checkpoint
      queue_.clear();
    }
  }
}

void trim_history(pqxx::transaction_base& tx, const Projection& projection, const std::vector<std::string>& names,
                  std::int64_t position) {
  for (std::size_t i = 0; i < projection.tables().size(); ++i) {
    if (const auto h = history_of(projection, i)) {
      tx.exec_params0("DELETE FROM " + qualified(tx, names.at(*h)) + " WHERE " + kHistoryPosition + " > $1", position);
    }
  }
}

}  // namespace reproj::engine::detail
