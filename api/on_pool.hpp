#pragma once
// Blocking work (libpqxx) from a coroutine: run it on a thread pool and resume on the coroutine's
// own executor, so I/O threads never block on the database.

#include <type_traits>

#include "api/asio.hpp"

namespace reproj::api {

/// Runs `work` on `pool`; its exception propagates to the awaiting coroutine. In Boost 1.74 co_spawn
/// needs a default-constructible result.
template <class Work>
asio::awaitable<std::invoke_result_t<Work&>> on_pool(asio::thread_pool& pool, Work work) {
  using Result = std::invoke_result_t<Work&>;
  co_return co_await asio::co_spawn(
      pool.get_executor(), [work = std::move(work)]() mutable -> asio::awaitable<Result> { co_return work(); },
      asio::use_awaitable);
}

}  // namespace reproj::api
