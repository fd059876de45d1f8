// A small HTTP/1.1 client over a unix stream socket (the Docker Engine's), one connection per
// request ("Connection: close"). Blocking calls with an optional deadline; cancel() from any
// thread closes the socket so that a blocked read returns at once (the streams use it).
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/docker/stream_decoder.h"
#include "common/asio.h"

namespace kontena::agent::docker {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // "/v1.41/containers/json?all=1"
  std::string body;    // sent with Content-Type: application/json when not empty
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Serialises a request: request line, Host, Connection: close, Content-Length, the extra headers.
std::string serialize_request(const HttpRequest& req);

class UnixHttpExchange {
 public:
  explicit UnixHttpExchange(std::string socket_path);
  UnixHttpExchange(const UnixHttpExchange&) = delete;
  UnixHttpExchange& operator=(const UnixHttpExchange&) = delete;

  // Connects, sends the request and reads until the response headers are in.
  // Throws kontena::Error: unavailable when the socket cannot be reached, the deadline passes or
  // the connection breaks; internal when the answer is not HTTP; unavailable when cancelled.
  void start(const HttpRequest& req, Deadline deadline);
  const HttpResponseParser& response() const { return parser_; }
  int status() const { return parser_.status(); }

  // Appends the next decoded body bytes to `out` (blocking until there are some). Returns false
  // once the body is complete or the exchange was cancelled (out may have received bytes before).
  bool read_body(std::string& out, Deadline deadline);
  // The rest of the body; throws internal when it exceeds max_bytes.
  std::string read_all(Deadline deadline, std::size_t max_bytes);

  // Thread-safe: makes a blocked start()/read_body() return (the socket is closed).
  void cancel();
  bool cancelled() const { return cancelled_.load(); }

  const std::string& socket_path() const { return path_; }
  const std::string& what() const { return what_; }  // "GET /v1.41/info", for messages

 private:
  // Runs one asynchronous operation to completion, or until the deadline (then closes the socket).
  template <class Start>
  boost::system::error_code run(Start&& start, Deadline deadline, std::size_t* bytes, bool* timed_out);
  std::size_t read_some(char* buf, std::size_t n, Deadline deadline);  // 0 = end of stream
  [[noreturn]] void timeout_error() const;

  std::string path_;
  std::string what_;
  asio::io_context ctx_;
  asio::local::stream_protocol::socket sock_;
  std::atomic<bool> cancelled_{false};
  HttpResponseParser parser_;
  std::string pending_;  // body bytes decoded while reading the headers
  bool eof_ = false;
};

// One complete request (non-streaming): status, Content-Type and the whole body.
HttpResult http_call(const std::string& socket_path, const HttpRequest& req, std::chrono::milliseconds timeout,
                     std::size_t max_body = 64 * 1024 * 1024);

}  // namespace kontena::agent::docker
