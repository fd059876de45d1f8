// Boost.Asio/Beast entry point. Boost 1.74's awaitable.hpp uses std::exchange without including
// <utility>; include it first so C++20 coroutines build with g++ 12.
#pragma once
#include <utility>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>

namespace kontena {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
}  // namespace kontena
