// A scripted HTTP server on a unix socket in a temp dir, standing in for the Docker Engine in
// unit tests. Each connection runs on its own thread: the request is read (headers and
// Content-Length body), recorded, and handed to the test's handler, which writes whatever bytes
// it likes (in pieces, slowly, malformed) and returns; the connection is then closed.
#pragma once
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace kontena::agent::docker::testing {

struct FakeRequest {
  std::string method;
  std::string target;
  std::string headers;  // raw header lines
  std::string body;
};

class FakeConn {
 public:
  explicit FakeConn(int fd) : fd_(fd) {}
  // false when the client has gone away.
  bool write(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Waits until the client closes its end (or the timeout); true if it did.
  bool wait_client_close(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    char buf[256];
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, 20);
      if (r > 0) {
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return true;
      }
    }
    return false;
  }

 private:
  int fd_;
};

class FakeEngine {
 public:
  using Handler = std::function<void(const FakeRequest&, FakeConn&)>;

  FakeEngine() {
    char tmpl[] = "/tmp/kontena-fake-engine.XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    path_ = dir_ + "/docker.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
      throw std::runtime_error("fake engine: cannot listen on " + path_);
    }
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~FakeEngine() {
    stop_ = true;
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(conn_threads_);
    }
    for (auto& t : threads) t.join();
    ::close(listen_fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& socket_path() const { return path_; }
  const std::string& dir() const { return dir_; }

  void on(Handler h) {
    std::lock_guard lock(mu_);
    handler_ = std::move(h);
  }

  std::vector<FakeRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  FakeRequest last_request() const {
    std::lock_guard lock(mu_);
    return requests_.empty() ? FakeRequest{} : requests_.back();
  }

  std::atomic<bool> stop_{false};

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      conn_threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    FakeRequest req;
    std::string buf;
    char tmp[4096];
    std::size_t header_end = std::string::npos;
    while (header_end == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(tmp, static_cast<std::size_t>(n));
      header_end = buf.find("\r\n\r\n");
    }
    std::string head = buf.substr(0, header_end);
    std::string rest = buf.substr(header_end + 4);
    auto line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    auto sp1 = first.find(' ');
    auto sp2 = first.find(' ', sp1 + 1);
    req.method = first.substr(0, sp1);
    req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
    req.headers = line_end == std::string::npos ? "" : head.substr(line_end + 2);
    std::size_t length = 0;
    auto cl = req.headers.find("Content-Length: ");
    if (cl != std::string::npos) length = std::stoul(req.headers.substr(cl + 16));
    while (rest.size() < length) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) break;
      rest.append(tmp, static_cast<std::size_t>(n));
    }
    req.body = rest;
    Handler h;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
      h = handler_;
    }
    FakeConn conn(fd);
    if (h) h(req, conn);
    ::close(fd);
  }

  std::string dir_;
  std::string path_;
  int listen_fd_ = -1;
  std::thread accept_thread_;
  mutable std::mutex mu_;
  Handler handler_;
  std::vector<FakeRequest> requests_;
  std::vector<std::thread> conn_threads_;
};

// Response helpers.
inline std::string http_response(int status, const std::string& body,
                                 const std::string& content_type = "application/json") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nServer: Docker/20.10.24 (linux)\r\n\r\n" + body;
}

inline std::string chunk(const std::string& data) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx\r\n", data.size());
  return buf + data + "\r\n";
}

// content_type empty: no Content-Type header (what Engine API 1.41 sends for logs).
inline std::string chunked_head(int status = 200, const std::string& content_type = "application/json") {
  std::string ct = content_type.empty() ? "" : "Content-Type: " + content_type + "\r\n";
  return "HTTP/1.1 " + std::to_string(status) + " OK\r\n" + ct + "Transfer-Encoding: chunked\r\n\r\n";
}

inline const char* kLastChunk = "0\r\n\r\n";

}  // namespace kontena::agent::docker::testing
