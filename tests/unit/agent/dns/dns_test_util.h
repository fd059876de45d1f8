// Helpers of the DNS tests: packets from byte lists, blocking UDP/TCP clients on loopback, and a
// tiny upstream resolver the forwarding tests run (answers every A query with 192.0.2.1, or stays
// silent, or answers UDP truncated and TCP in full).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/dns/dns_packet.h"
#include "agent/dns/dns_table.h"

namespace kontena::agent::dns::test {

inline std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

inline bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// One UDP exchange with 127.0.0.1:port; nullopt when nothing came back in time.
inline std::optional<std::string> udp_ask(std::uint16_t port, const std::string& packet,
                                          std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  auto to = loopback(port);
  ::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::optional<std::string> out;
  if (wait_readable(fd, timeout)) {
    std::string buffer(65536, '\0');
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n >= 0) out = buffer.substr(0, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

inline int tcp_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto to = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

inline std::string framed(const std::string& packet) {
  std::string out;
  out.push_back(static_cast<char>(packet.size() >> 8));
  out.push_back(static_cast<char>(packet.size() & 0xff));
  return out + packet;
}

// Reads exactly n bytes; false on EOF, error or timeout.
inline bool read_exact(int fd, std::string& out, std::size_t n,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  out.assign(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    if (!wait_readable(fd, timeout)) return false;
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

inline std::optional<std::string> tcp_read_message(int fd, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  std::string length, message;
  if (!read_exact(fd, length, 2, timeout)) return std::nullopt;
  std::size_t size = (static_cast<std::uint8_t>(length[0]) << 8) | static_cast<std::uint8_t>(length[1]);
  if (!read_exact(fd, message, size, timeout)) return std::nullopt;
  return message;
}

// true when the peer closed the connection (EOF) within the timeout.
inline bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  if (!wait_readable(fd, timeout)) return false;
  char c;
  return ::recv(fd, &c, 1, 0) <= 0;
}

// The upstream the forwarding tests run on 127.0.0.1 (UDP and TCP on one port).
class FakeUpstream {
 public:
  enum class Mode { answer, silent, truncate_udp };

  explicit FakeUpstream(Mode mode) : mode_(mode) {
    udp_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    auto any = loopback(0);
    ::bind(udp_, reinterpret_cast<sockaddr*>(&any), sizeof any);
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    ::getsockname(udp_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.sin_port);
    tcp_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto same = loopback(port_);
    ::bind(tcp_, reinterpret_cast<sockaddr*>(&same), sizeof same);
    ::listen(tcp_, 8);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
    ::close(udp_);
    ::close(tcp_);
  }
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int udp_queries() const { return udp_queries_; }
  int tcp_queries() const { return tcp_queries_; }
  static constexpr Ipv4 kAnswer = {192, 0, 2, 1};

 private:
  std::string reply(const std::string& packet, bool truncated) {
    Query q;
    if (parse_query(packet, q) != ParseOutcome::query) return {};
    std::vector<Ipv4> addresses = {kAnswer};
    Response r;
    r.authoritative = false;
    r.addresses = addresses;
    r.max_size = truncated ? kHeaderSize + q.qname_wire_len + 4 + (q.edns ? 11 : 0) : kMaxTcpSize;
    std::string out;
    encode_response(q, r, out);
    return out;
  }

  void run() {
    while (!stop_) {
      pollfd fds[2] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}};
      if (::poll(fds, 2, 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        std::string buffer(65536, '\0');
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(udp_, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0) {
          ++udp_queries_;
          if (mode_ != Mode::silent) {
            std::string out = reply(buffer.substr(0, static_cast<std::size_t>(n)), mode_ == Mode::truncate_udp);
            ::sendto(udp_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
          }
        }
      }
      if (fds[1].revents & POLLIN) {
        int fd = ::accept(tcp_, nullptr, nullptr);
        if (fd >= 0) {
          auto message = tcp_read_message(fd);
          if (message) {
            ++tcp_queries_;
            send_all(fd, framed(reply(*message, false)));
          }
          ::close(fd);
        }
      }
    }
  }

  Mode mode_;
  int udp_ = -1, tcp_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> udp_queries_{0}, tcp_queries_{0};
  std::thread thread_;
};

inline ServiceInstance instance(std::string stack, std::string service, int n, std::string ip,
                                std::optional<bool> healthy = std::nullopt, bool exposed = false,
                                std::string node = "node-1", std::string grid = "demo") {
  ServiceInstance i;
  i.grid = std::move(grid);
  i.stack = std::move(stack);
  i.service = std::move(service);
  i.instance_number = n;
  i.ip = std::move(ip);
  i.healthy = healthy;
  i.exposed = exposed;
  i.node = std::move(node);
  return i;
}

}  // namespace kontena::agent::dns::test
