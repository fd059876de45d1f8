// bench_dns: the agent's DNS server (src/agent/dns) against dnsmasq, the same names over UDP on
// loopback. bench/dns_bench.sh runs the whole comparison; this program has its three parts:
//
//   bench_dns --serve PORT [--instances N]       a DnsServer on 127.0.0.1:PORT with N synthetic
//                                                instances, on one thread as in the agent, until
//                                                SIGINT/SIGTERM
//   bench_dns --write-hosts FILE [--instances N] the same names as a hosts file (for dnsmasq)
//   bench_dns --load PORT [--instances N] [--duration 5] [--window 64] [--label NAME]
//                                                A queries for the known names, round robin, with
//                                                a fixed window of outstanding queries for a fixed
//                                                time; each answer's id, rcode and address set is
//                                                checked. Prints one line:
//       NAME qps=... p50_us=... p90_us=... p99_us=... p999_us=... errors=... timeouts=... answers=...
//   bench_dns --check PORT [--instances N]       one query for a known name: exit 0 when answered
//
// The names: N instances of N/2 services (2 each) in 10 stacks of grid "bench":
//   svc<k>-<n>.stack<k%10>.bench.kontena.local  one address
//   svc<k>.stack<k%10>.bench.kontena.local      both instances' addresses
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "agent/dns/dns_packet.h"
#include "agent/dns/dns_server.h"
#include "agent/dns/dns_table.h"

using namespace kontena::agent::dns;
using Clock = std::chrono::steady_clock;

namespace {

struct Name {
  std::string name;
  std::vector<Ipv4> addresses;  // sorted
};

std::vector<ServiceInstance> make_instances(int n) {
  std::vector<ServiceInstance> out;
  for (int i = 0; i < n; ++i) {
    ServiceInstance s;
    s.grid = "bench";
    int k = i / 2;
    s.stack = "stack" + std::to_string(k % 10);
    s.service = "svc" + std::to_string(k);
    s.instance_number = i % 2 + 1;
    s.ip = "10.81." + std::to_string(128 + i / 250) + "." + std::to_string(i % 250 + 1);
    s.node = "node-" + std::to_string(i % 3 + 1);
    out.push_back(s);
  }
  return out;
}

Ipv4 parse_ip(const std::string& ip) {
  in_addr a{};
  inet_pton(AF_INET, ip.c_str(), &a);
  Ipv4 out;
  std::memcpy(out.data(), &a.s_addr, 4);
  return out;
}

std::vector<Name> make_names(int n) {
  std::vector<Name> names;
  auto instances = make_instances(n);
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const auto& s = instances[i];
    std::string suffix = "." + s.stack + "." + s.grid + ".kontena.local";
    names.push_back({s.service + "-" + std::to_string(s.instance_number) + suffix, {parse_ip(s.ip)}});
    if (s.instance_number == 1) {
      Name service{s.service + suffix, {parse_ip(s.ip)}};
      if (i + 1 < instances.size()) service.addresses.push_back(parse_ip(instances[i + 1].ip));
      std::sort(service.addresses.begin(), service.addresses.end());
      names.push_back(service);
    }
  }
  return names;
}

int serve(int port, int instances) {
  spdlog::set_level(spdlog::level::warn);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the server's thread starts: it inherits the mask
  DnsTable table;
  table.set_instances(make_instances(instances));
  DnsServerOptions options;
  options.listen = {"127.0.0.1:" + std::to_string(port)};
  DnsServer server(table, options);
  server.start();
  std::fprintf(stderr, "bench_dns: serving %zu names on 127.0.0.1:%d\n", table.size(), port);
  int signal = 0;
  sigwait(&signals, &signal);
  server.stop();
  auto s = server.stats();
  std::fprintf(stderr, "bench_dns: stopped queries=%llu answered=%llu dropped=%llu\n",
               static_cast<unsigned long long>(s.queries), static_cast<unsigned long long>(s.answered),
               static_cast<unsigned long long>(s.dropped));
  return 0;
}

int write_hosts(const std::string& path, int instances) {
  std::ofstream f(path);
  auto list = make_instances(instances);
  for (const auto& s : list) {
    std::string suffix = "." + s.stack + "." + s.grid + ".kontena.local";
    f << s.ip << " " << s.service << "-" << s.instance_number << suffix << " " << s.service << suffix << "\n";
  }
  return f ? 0 : 1;
}

int udp_socket_to(int port, sockaddr_in& to) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  to = {};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Connected: plain send/recv, and only the server's datagrams.
  ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
  int size = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  return fd;
}

bool answer_matches(const std::string& packet, const Name& expected, std::uint16_t id) {
  ParsedResponse r;
  if (!parse_response(packet, r) || r.id != id || r.rcode != Rcode::noerror) return false;
  std::sort(r.addresses.begin(), r.addresses.end());
  return r.addresses == expected.addresses;
}

int check(int port, int instances) {
  auto names = make_names(instances);
  sockaddr_in to;
  int fd = udp_socket_to(port, to);
  std::string q = encode_query(7, names.at(0).name, rrtype::a);
  ::send(fd, q.data(), q.size(), 0);
  pollfd p{fd, POLLIN, 0};
  bool ok = false;
  if (::poll(&p, 1, 500) == 1) {
    std::string buffer(2048, '\0');
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    ok = n > 0 && answer_matches(buffer.substr(0, static_cast<std::size_t>(n)), names[0], 7);
  }
  ::close(fd);
  return ok ? 0 : 1;
}

struct Outstanding {
  bool busy = false;
  std::uint32_t name = 0;
  Clock::time_point sent;
};

int load(int port, int instances, double duration_s, int window, const std::string& label) {
  auto names = make_names(instances);
  // Every query packet built once: the generator should cost less per query than a server.
  std::vector<std::string> packets;
  packets.reserve(names.size());
  for (const auto& n : names) packets.push_back(encode_query(0, n.name, rrtype::a));
  sockaddr_in to;
  int fd = udp_socket_to(port, to);

  std::vector<Outstanding> slots(65536);
  std::uint32_t next_name = 0;
  std::uint16_t next_id = 0;
  std::uint64_t answers = 0, errors = 0, timeouts = 0, sent = 0;
  std::vector<std::uint32_t> latencies_us;
  latencies_us.reserve(2'000'000);
  int in_flight = 0;

  constexpr int kBatch = 64;
  std::vector<mmsghdr> out_msgs(kBatch), in_msgs(kBatch);
  std::vector<iovec> out_iov(kBatch), in_iov(kBatch);
  std::vector<std::string> out_buf(kBatch), in_buf(kBatch, std::string(2048, '\0'));

  auto send_some = [&](int count) {
    auto now = Clock::now();
    while (count > 0) {
      int n = std::min(count, kBatch);
      for (int i = 0; i < n; ++i) {
        while (slots[next_id].busy) ++next_id;
        Outstanding& slot = slots[next_id];
        slot.busy = true;
        slot.name = next_name;
        slot.sent = now;
        out_buf[i] = packets[next_name];
        out_buf[i][0] = static_cast<char>(next_id >> 8);
        out_buf[i][1] = static_cast<char>(next_id & 0xff);
        out_iov[i] = {out_buf[i].data(), out_buf[i].size()};
        out_msgs[i] = {};
        out_msgs[i].msg_hdr.msg_iov = &out_iov[i];
        out_msgs[i].msg_hdr.msg_iovlen = 1;
        ++next_id;
        next_name = (next_name + 1) % static_cast<std::uint32_t>(names.size());
      }
      int done = ::sendmmsg(fd, out_msgs.data(), static_cast<unsigned>(n), 0);
      if (done < 0) done = 0;
      in_flight += n;  // a datagram that did not go out counts as lost (timeout)
      sent += static_cast<std::uint64_t>(done);
      count -= n;
    }
  };

  auto start = Clock::now();
  auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  auto last_sweep = start;
  send_some(window);
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) == 1) {
      for (int i = 0; i < kBatch; ++i) {
        in_iov[i] = {in_buf[i].data(), in_buf[i].size()};
        in_msgs[i] = {};
        in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
        in_msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int got = ::recvmmsg(fd, in_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
      auto now = Clock::now();
      int replaced = 0;
      for (int i = 0; i < got; ++i) {
        std::string_view packet(in_buf[i].data(), in_msgs[i].msg_len);
        std::uint16_t id = 0, flags = 0;
        if (!read_id(packet, id, flags) || !slots[id].busy) {
          ++errors;  // an answer to nothing we asked (or asked and gave up on)
          continue;
        }
        Outstanding& slot = slots[id];
        slot.busy = false;
        --in_flight;
        ++replaced;
        ++answers;
        latencies_us.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - slot.sent).count()));
        if (!answer_matches(std::string(packet), names[slot.name], id)) ++errors;
      }
      if (replaced > 0) send_some(replaced);
    }
    auto now = Clock::now();
    if (now - last_sweep > std::chrono::milliseconds(100)) {
      last_sweep = now;
      int lost = 0;
      for (auto& slot : slots)
        if (slot.busy && now - slot.sent > std::chrono::seconds(1)) {
          slot.busy = false;
          ++lost;
        }
      if (lost > 0) {
        timeouts += static_cast<std::uint64_t>(lost);
        in_flight -= lost;
        send_some(lost);
      }
    }
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) -> std::uint32_t {
    if (latencies_us.empty()) return 0;
    return latencies_us[std::min(latencies_us.size() - 1, static_cast<std::size_t>(p * latencies_us.size()))];
  };
  std::printf("%s qps=%.0f p50_us=%u p90_us=%u p99_us=%u p999_us=%u errors=%llu timeouts=%llu answers=%llu sent=%llu\n",
              label.c_str(), static_cast<double>(answers) / elapsed, pct(0.50), pct(0.90), pct(0.99), pct(0.999),
              static_cast<unsigned long long>(errors),
              static_cast<unsigned long long>(timeouts), static_cast<unsigned long long>(answers),
              static_cast<unsigned long long>(sent));
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: bench_dns --serve PORT | --write-hosts FILE | --load PORT | --check PORT\n"
               "                 [--instances N] [--duration S] [--window W] [--label NAME]\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode, target, label = "server";
  int instances = 1000, window = 64;
  double duration = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--serve" || a == "--write-hosts" || a == "--load" || a == "--check") {
      mode = a;
      target = value();
    } else if (a == "--instances") {
      instances = std::stoi(value());
    } else if (a == "--duration") {
      duration = std::stod(value());
    } else if (a == "--window") {
      window = std::stoi(value());
    } else if (a == "--label") {
      label = value();
    } else {
      usage();
      return 2;
    }
  }
  if (instances < 2 || window < 1 || window > 4096 || duration <= 0) {
    std::fprintf(stderr, "bench_dns: --instances must be at least 2, --window 1..4096, --duration above 0\n");
    return 2;
  }
  try {
    if (mode == "--serve") return serve(std::stoi(target), instances);
    if (mode == "--write-hosts") return write_hosts(target, instances);
    if (mode == "--load") return load(std::stoi(target), instances, duration, window, label);
    if (mode == "--check") return check(std::stoi(target), instances);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dns: %s\n", e.what());
    return 1;
  }
  usage();
  return 2;
}
