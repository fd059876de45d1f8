#include "agent/pods/prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#ifndef KONTENA_VERSION
#define KONTENA_VERSION "0.0.0"
#endif

namespace kontena::agent::pods {

namespace {

using Millis = std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int remaining_ms(Steady::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Steady::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

std::string timeout_text(Millis timeout) {
  return "timed out after " + std::to_string(timeout.count()) + " ms";
}

// Connects with a deadline; returns an error text (empty = connected).
std::string connect_to(Fd& s, const std::string& ip, int port, Steady::time_point deadline, Millis timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) return "bad IPv4 address \"" + ip + "\"";
  s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return std::string("socket: ") + std::strerror(errno);
  int rc = ::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc == 0) return {};
  if (errno != EINPROGRESS) return std::strerror(errno);
  pollfd p{s.fd, POLLOUT, 0};
  rc = ::poll(&p, 1, remaining_ms(deadline));
  if (rc == 0) return "connect " + timeout_text(timeout);
  if (rc < 0) return std::string("poll: ") + std::strerror(errno);
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return std::strerror(err);
  return {};
}

class SocketProber final : public Prober {
 public:
  ProbeResult tcp_connect(const std::string& ip, int port, Millis timeout) override {
    Fd s;
    std::string err = connect_to(s, ip, port, Steady::now() + timeout, timeout);
    if (!err.empty()) return {false, err};
    return {true, "connected"};
  }

  ProbeResult http_get(const std::string& ip, int port, const std::string& uri, Millis timeout) override {
    auto deadline = Steady::now() + timeout;
    Fd s;
    std::string err = connect_to(s, ip, port, deadline, timeout);
    if (!err.empty()) return {false, err};
    std::string req = "GET " + uri + " HTTP/1.1\r\nHost: " + ip + ":" + std::to_string(port) +
                      "\r\nUser-Agent: Kontena-Agent/" KONTENA_VERSION "\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    std::size_t sent = 0;
    while (sent < req.size()) {
      pollfd p{s.fd, POLLOUT, 0};
      int rc = ::poll(&p, 1, remaining_ms(deadline));
      if (rc <= 0) return {false, "send " + timeout_text(timeout)};
      ssize_t n = ::send(s.fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return {false, std::string("send: ") + std::strerror(errno)};
      }
      sent += static_cast<std::size_t>(n);
    }
    std::string head;
    char buf[1024];
    while (head.find("\r\n") == std::string::npos && head.size() < 8192) {
      pollfd p{s.fd, POLLIN, 0};
      int rc = ::poll(&p, 1, remaining_ms(deadline));
      if (rc == 0) return {false, "response " + timeout_text(timeout)};
      if (rc < 0) return {false, std::string("poll: ") + std::strerror(errno)};
      ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return {false, std::string("recv: ") + std::strerror(errno)};
      }
      if (n == 0) break;
      head.append(buf, static_cast<std::size_t>(n));
    }
    // "HTTP/1.x NNN ..."
    if (head.rfind("HTTP/", 0) != 0 || head.size() < 12) return {false, "not an HTTP response"};
    auto sp = head.find(' ');
    int status = 0;
    try {
      status = std::stoi(head.substr(sp + 1, 3));
    } catch (...) {
      return {false, "not an HTTP response"};
    }
    return {status >= 200 && status <= 399, "HTTP " + std::to_string(status)};
  }
};

}  // namespace

ProbeResult run_health_check(Prober& prober, const protocol::PodHealthCheck& check, const std::string& ip) {
  Millis timeout = std::chrono::seconds(check.timeout);
  if (check.protocol == "http") return prober.http_get(ip, check.port, check.uri, timeout);
  return prober.tcp_connect(ip, check.port, timeout);
}

std::unique_ptr<Prober> make_socket_prober() { return std::make_unique<SocketProber>(); }

namespace {

class DockerExec final : public ContainerExec {
 public:
  DockerExec(docker::DockerClient& docker, Millis timeout) : docker_(docker), timeout_(timeout) {}
  int exec(const std::string& container_id, const std::vector<std::string>& cmd) override {
    docker::ExecResult r = docker_.exec(container_id, cmd, timeout_);
    if (r.exit_code != 0) {
      auto tail = [](const std::string& s) { return s.size() > 2000 ? "..." + s.substr(s.size() - 2000) : s; };
      spdlog::warn("pods: hook command failed container={} exit_code={} stdout=\"{}\" stderr=\"{}\"",
                   container_id.substr(0, 12), r.exit_code, tail(r.stdout_data), tail(r.stderr_data));
    }
    return r.exit_code;
  }

 private:
  docker::DockerClient& docker_;
  Millis timeout_;
};

}  // namespace

std::shared_ptr<ContainerExec> make_docker_exec(docker::DockerClient& docker, std::chrono::milliseconds timeout) {
  return std::make_shared<DockerExec>(docker, timeout);
}

}  // namespace kontena::agent::pods
