// Runs blocking work (Docker calls, statvfs) on a worker executor and resumes the awaiting
// coroutine on its own executor, so the event loop that answers the master's pings never stalls.
//
// It never throws into the coroutine: the result carries the exception instead.
//
// g++ 12 coroutine pitfall (seen here as a double free): a temporary with a destructor in a
// co_await full-expression (a lambda with captures, a std::string built from a literal) can be
// destroyed twice. In coroutines, name such values first and pass the named variable:
//   auto call = [docker] { return docker->info(); };
//   auto r = co_await run_blocking(worker, std::move(call));
#pragma once
#include "common/asio.h"

#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace kontena::agent {

template <class T>
struct BlockingResult {
  T value{};
  std::exception_ptr error;
  bool ok() const { return !error; }
  // The exception's what() ("" when ok).
  std::string error_message() const {
    if (!error) return {};
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "unknown error";
    }
  }
};

// F is moved to the worker: it must not reference the caller's coroutine frame.
template <class F, class R = std::invoke_result_t<F&>,
          class Value = std::conditional_t<std::is_void_v<R>, std::monostate, R>>
asio::awaitable<BlockingResult<Value>> run_blocking(asio::any_io_executor worker, F f) {
  auto initiate = [worker](auto handler, F fn) {
    auto home = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
    asio::post(worker, [handler = std::move(handler), fn = std::move(fn), home]() mutable {
      BlockingResult<Value> result;
      try {
        if constexpr (std::is_void_v<R>) fn();
        else result.value = fn();
      } catch (...) {
        result.error = std::current_exception();
      }
      asio::post(home, [handler = std::move(handler), result = std::move(result)]() mutable {
        std::move(handler)(std::move(result));
      });
    });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(BlockingResult<Value>)>(
      initiate, asio::use_awaitable, std::move(f));
}

}  // namespace kontena::agent
