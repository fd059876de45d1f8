#include "agent/docker/http_unix.h"

#include <array>

#include "common/error.h"

namespace kontena::agent::docker {

std::string serialize_request(const HttpRequest& req) {
  std::string out;
  out.reserve(256 + req.body.size());
  out += req.method + " " + req.target + " HTTP/1.1\r\n";
  out += "Host: docker\r\n";
  out += "User-Agent: kontena-agent\r\n";
  out += "Connection: close\r\n";
  bool has_content_type = false;
  for (const auto& [k, v] : req.headers) {
    out += k + ": " + v + "\r\n";
    if (k == "Content-Type") has_content_type = true;
  }
  if (!req.body.empty() && !has_content_type) out += "Content-Type: application/json\r\n";
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  }
  out += "\r\n";
  out += req.body;
  return out;
}

UnixHttpExchange::UnixHttpExchange(std::string socket_path) : path_(std::move(socket_path)), sock_(ctx_) {}

template <class Start>
boost::system::error_code UnixHttpExchange::run(Start&& start, Deadline deadline, std::size_t* bytes,
                                                 bool* timed_out) {
  *timed_out = false;
  if (cancelled_) return asio::error::operation_aborted;
  bool done = false;
  boost::system::error_code result;
  ctx_.restart();
  start([&](const boost::system::error_code& ec, std::size_t n) {
    done = true;
    result = ec;
    if (bytes) *bytes = n;
  });
  if (deadline) {
    while (!done && std::chrono::steady_clock::now() < *deadline) {
      if (ctx_.run_one_until(*deadline) == 0 && ctx_.stopped()) break;
    }
  } else {
    while (!done) {
      if (ctx_.run_one() == 0) break;
    }
  }
  if (!done) {
    // Deadline passed (or nothing left to run): abort the operation and let its handler run.
    boost::system::error_code ignored;
    sock_.close(ignored);
    ctx_.restart();
    while (!done && ctx_.run_one() > 0) {
    }
    *timed_out = true;
    if (!done) return asio::error::timed_out;
  }
  if (cancelled_ && result) return asio::error::operation_aborted;
  return result;
}

void UnixHttpExchange::cancel() {
  cancelled_ = true;
  asio::post(ctx_, [this] {
    boost::system::error_code ignored;
    sock_.close(ignored);
  });
}

void UnixHttpExchange::timeout_error() const {
  fail(ErrorKind::unavailable, "the Docker Engine at " + path_ + " did not answer " + what_ + " in time");
}

void UnixHttpExchange::start(const HttpRequest& req, Deadline deadline) {
  what_ = req.method + " " + req.target;
  bool timed_out = false;
  auto ec = run(
      [&](auto handler) {
        sock_.async_connect(asio::local::stream_protocol::endpoint(path_),
                            [handler](const boost::system::error_code& e) mutable { handler(e, 0); });
      },
      deadline, nullptr, &timed_out);
  if (timed_out) timeout_error();
  if (cancelled_) fail(ErrorKind::unavailable, "request to the Docker Engine cancelled: " + what_);
  if (ec) {
    fail(ErrorKind::unavailable,
         "cannot reach the Docker Engine at " + path_ + ": " + ec.message() + " (is dockerd running?)");
  }
  std::string wire = serialize_request(req);
  ec = run([&](auto handler) { asio::async_write(sock_, asio::buffer(wire), handler); }, deadline, nullptr,
           &timed_out);
  if (timed_out) timeout_error();
  if (cancelled_) fail(ErrorKind::unavailable, "request to the Docker Engine cancelled: " + what_);
  if (ec) {
    fail(ErrorKind::unavailable, "lost the connection to the Docker Engine at " + path_ + " while sending " + what_ +
                                     ": " + ec.message());
  }
  std::array<char, 16384> buf;
  while (!parser_.headers_done()) {
    std::size_t n = read_some(buf.data(), buf.size(), deadline);
    if (n == 0) {
      if (cancelled_) fail(ErrorKind::unavailable, "request to the Docker Engine cancelled: " + what_);
      parser_.eof();  // throws: no complete answer
      break;
    }
    parser_.feed(std::string_view(buf.data(), n), pending_);
  }
}

std::size_t UnixHttpExchange::read_some(char* buf, std::size_t n, Deadline deadline) {
  if (eof_) return 0;
  std::size_t got = 0;
  bool timed_out = false;
  auto ec = run([&](auto handler) { sock_.async_read_some(asio::buffer(buf, n), handler); }, deadline, &got,
                &timed_out);
  if (timed_out) timeout_error();
  if (cancelled_) {
    eof_ = true;
    return 0;
  }
  if (ec == asio::error::eof) {
    eof_ = true;
    return 0;
  }
  if (ec) {
    fail(ErrorKind::unavailable, "lost the connection to the Docker Engine at " + path_ + " during " + what_ + ": " +
                                     ec.message());
  }
  return got;
}

bool UnixHttpExchange::read_body(std::string& out, Deadline deadline) {
  if (!pending_.empty()) {
    out += pending_;
    pending_.clear();
    return !parser_.complete();
  }
  std::array<char, 16384> buf;
  std::size_t before = out.size();
  while (!parser_.complete() && out.size() == before) {
    std::size_t n = read_some(buf.data(), buf.size(), deadline);
    if (n == 0) {
      if (cancelled_) return false;
      parser_.eof();  // throws when the body is incomplete
      return false;
    }
    parser_.feed(std::string_view(buf.data(), n), out);
  }
  return !parser_.complete();
}

std::string UnixHttpExchange::read_all(Deadline deadline, std::size_t max_bytes) {
  std::string body;
  while (true) {
    bool more = read_body(body, deadline);
    if (body.size() > max_bytes) {
      fail(ErrorKind::internal, "the Docker Engine's answer to " + what_ + " is larger than " +
                                    std::to_string(max_bytes) + " bytes");
    }
    if (!more) break;
  }
  if (cancelled_) fail(ErrorKind::unavailable, "request to the Docker Engine cancelled: " + what_);
  return body;
}

HttpResult http_call(const std::string& socket_path, const HttpRequest& req, std::chrono::milliseconds timeout,
                     std::size_t max_body) {
  UnixHttpExchange ex(socket_path);
  Deadline deadline = std::chrono::steady_clock::now() + timeout;
  ex.start(req, deadline);
  HttpResult r;
  r.status = ex.status();
  r.content_type = ex.response().header("content-type");
  r.body = ex.read_all(deadline, max_body);
  return r;
}

}  // namespace kontena::agent::docker
