// The socket prober (src/agent/pods/prober.h) against tiny local servers: TCP connect, HTTP
// status classes (3xx healthy, redirects not followed), timeouts, refused connections.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <tuple>
#include <vector>
#include <string>
#include <thread>

#include "agent/pods/prober.h"

using namespace kontena::agent::pods;
using namespace std::chrono_literals;

namespace {

// Listens on 127.0.0.1:<ephemeral>; answers each connection with `reply` (nothing if empty),
// after reading the request head. Records the last request.
class TinyServer {
 public:
  explicit TinyServer(std::string reply, bool answer = true) : reply_(std::move(reply)), answer_(answer) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) {
          if (c >= 0) ::close(c);
          return;
        }
        std::string req;
        char buf[1024];
        while (req.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          req.append(buf, static_cast<std::size_t>(n));
        }
        {
          std::lock_guard l(mu_);
          request_ = req;
        }
        if (answer_) {
          (void)::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
          ::close(c);
        } else {
          held_ = c;  // never answers
        }
      }
    });
  }
  ~TinyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    // Wake accept() by connecting once.
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::close(s);
    thread_.join();
    ::close(fd_);
    if (held_ >= 0) ::close(held_);
  }
  int port() const { return port_; }
  std::string request() const {
    std::lock_guard l(mu_);
    return request_;
  }

 private:
  std::string reply_;
  bool answer_;
  int fd_ = -1;
  int port_ = 0;
  int held_ = -1;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::string request_;
  std::thread thread_;
};

int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

TEST(SocketProber, HttpStatusClasses) {
  auto p = make_socket_prober();
  for (auto [reply, healthy, detail] :
       std::vector<std::tuple<std::string, bool, std::string>>{
           {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, "HTTP 200"},
           {"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n", true, "HTTP 302"},
           {"HTTP/1.0 399 Odd\r\n\r\n", true, "HTTP 399"},
           {"HTTP/1.1 404 Not Found\r\n\r\n", false, "HTTP 404"},
           {"HTTP/1.1 500 Internal Server Error\r\n\r\n", false, "HTTP 500"},
           {"SSH-2.0-OpenSSH\r\n", false, "not an HTTP response"}}) {
    TinyServer s(reply);
    auto r = p->http_get("127.0.0.1", s.port(), "/health?x=1", 2s);
    EXPECT_EQ(r.healthy, healthy) << reply;
    EXPECT_EQ(r.detail, detail);
    EXPECT_EQ(s.request().rfind("GET /health?x=1 HTTP/1.1\r\n", 0), 0u) << s.request();
    EXPECT_NE(s.request().find("User-Agent: Kontena-Agent/"), std::string::npos);
  }
}

TEST(SocketProber, HttpTimeoutAndRefused) {
  auto p = make_socket_prober();
  {
    TinyServer s("", false);
    auto t0 = std::chrono::steady_clock::now();
    auto r = p->http_get("127.0.0.1", s.port(), "/", 200ms);
    EXPECT_FALSE(r.healthy);
    EXPECT_EQ(r.detail, "response timed out after 200 ms");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  }
  auto r = p->http_get("127.0.0.1", closed_port(), "/", 1s);
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.detail, "Connection refused");
  EXPECT_EQ(p->http_get("not-an-ip", 80, "/", 1s).detail, "bad IPv4 address \"not-an-ip\"");
}

TEST(SocketProber, Tcp) {
  auto p = make_socket_prober();
  TinyServer s("", true);
  EXPECT_TRUE(p->tcp_connect("127.0.0.1", s.port(), 1s).healthy);
  auto r = p->tcp_connect("127.0.0.1", closed_port(), 1s);
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.detail, "Connection refused");
}

TEST(SocketProber, RunHealthCheckPicksTheProtocol) {
  auto p = make_socket_prober();
  TinyServer s("HTTP/1.1 204 No Content\r\n\r\n");
  kontena::protocol::PodHealthCheck http{"http", s.port(), "/ping", 1, 1, 0};
  EXPECT_EQ(run_health_check(*p, http, "127.0.0.1").detail, "HTTP 204");
  EXPECT_EQ(s.request().rfind("GET /ping ", 0), 0u);
  kontena::protocol::PodHealthCheck tcp{"tcp", s.port(), "/", 1, 1, 0};
  EXPECT_EQ(run_health_check(*p, tcp, "127.0.0.1").detail, "connected");
}
