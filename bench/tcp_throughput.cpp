// tcp_throughput: a bulk TCP sender and receiver, for bench/overlay_throughput.sh.
//
//   tcp_throughput serve PORT              accepts connections one after another on 0.0.0.0:PORT;
//                                          reads each to its end, then closes it
//   tcp_throughput send HOST PORT SECONDS  writes 1 MiB buffers for SECONDS, shuts its side down,
//                                          waits until the receiver has read everything and closed,
//                                          prints "MB/s <rate> bytes <n> seconds <t>" (MB = 10^6 bytes)
// No dependencies beyond libc, so it runs with nsenter in any network namespace (a container's).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBuffer = 1 << 20;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "tcp_throughput: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

int serve(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind port " + std::to_string(port));
  if (::listen(fd, 4) != 0) die("listen");
  std::fprintf(stdout, "listening on port %d\n", port);
  std::fflush(stdout);
  std::vector<char> buf(kBuffer);
  for (;;) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) {
      if (errno == EINTR) continue;
      die("accept");
    }
    auto t0 = Clock::now();
    std::uint64_t total = 0;
    for (;;) {
      ssize_t n = ::read(c, buf.data(), buf.size());
      if (n > 0) {
        total += static_cast<std::uint64_t>(n);
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    ::close(c);
    std::fprintf(stdout, "received bytes %llu seconds %.3f MB/s %.1f\n", static_cast<unsigned long long>(total), secs,
                 secs > 0 ? static_cast<double>(total) / secs / 1e6 : 0.0);
    std::fflush(stdout);
  }
}

int send(const std::string& host, int port, double seconds) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    std::fprintf(stderr, "tcp_throughput: cannot resolve %s: %s\n", host.c_str(), ::gai_strerror(rc));
    return 1;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (::connect(fd, res->ai_addr, res->ai_addrlen) != 0) die("connect to " + host + ":" + std::to_string(port));
  ::freeaddrinfo(res);
  std::vector<char> buf(kBuffer, 'x');
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::uint64_t total = 0;
  while (Clock::now() < end) {
    ssize_t n = ::write(fd, buf.data(), buf.size());
    if (n > 0) {
      total += static_cast<std::uint64_t>(n);
    } else if (errno != EINTR) {
      die("write");
    }
  }
  // The figure counts until the receiver has read everything: its close is the acknowledgement.
  ::shutdown(fd, SHUT_WR);
  char tail[256];
  while (::read(fd, tail, sizeof tail) > 0) {
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  std::printf("MB/s %.1f bytes %llu seconds %.3f\n", static_cast<double>(total) / secs / 1e6,
              static_cast<unsigned long long>(total), secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve" && argc == 3) return serve(std::atoi(argv[2]));
  if (mode == "send" && argc == 5) return send(argv[2], std::atoi(argv[3]), std::atof(argv[4]));
  std::fprintf(stderr, "usage: tcp_throughput serve PORT | tcp_throughput send HOST PORT SECONDS\n");
  return 2;
}
