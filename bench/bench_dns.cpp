// bench_dns: the agent's DNS server (src/agent/dns) against dnsmasq, the same names over UDP on
// loopback. bench/dns_bench.sh runs the whole comparison; this program has its three parts:
//
//   bench_dns --serve PORT [--instances N]       a DnsServer on 127.0.0.1:PORT with N synthetic
//                                                instances, on one thread as in the agent, until
//                                                SIGINT/SIGTERM
//   bench_dns --write-hosts FILE [--instances N] the same names as a hosts file (for dnsmasq)
//   bench_dns --load PORT [--instances N] [--duration 5] [--warmup 0.5] [--window 64 | --rate QPS]
//             [--server-pid PID] [--label NAME]
//                                                A queries for the known names, round robin: closed
//                                                loop (a fixed window of outstanding queries) or
//                                                open loop (--rate: paced sends), for --duration
//                                                after --warmup; each answer's id, rcode and address
//                                                set is checked. Latency per query: from its send
//                                                call to the kernel's receive timestamp of the
//                                                answer. With --server-pid, the server's CPU time
//                                                per answer. Prints one line:
//       NAME mode=window|rate qps=... p50_us=... p90_us=... p99_us=... p999_us=... max_us=...
//            server_cpu_us=... errors=... timeouts=... skipped=... answers=... sent=... stamps=...
//   bench_dns --check PORT [--instances N]       one query for a known name: exit 0 when answered
//
// The names: N instances of N/2 services (2 each) in 10 stacks of grid "bench":
//   svc<k>-<n>.stack<k%10>.bench.kontena.local  one address
//   svc<k>.stack<k%10>.bench.kontena.local      both instances' addresses
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
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
  bool measured = false;  // sent after the warm-up: its latency counts
  std::uint32_t name = 0;
  std::int64_t sent_ns = 0;     // CLOCK_REALTIME, taken just before the send call
  Clock::time_point sent_mono;  // for the 1 s timeout
};

std::int64_t realtime_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// utime + stime of a process (all its threads), in clock ticks; -1 when unreadable.
long long process_cpu_ticks(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return utime + stime;
}

struct LoadOptions {
  int port = 0;
  int instances = 1000;
  double duration_s = 5;
  double warmup_s = 0.5;
  int window = 64;   // closed loop: this many queries outstanding
  double rate = 0;   // > 0: open loop, this many queries/s paced evenly (window ignored)
  int server_pid = 0;
  std::string label = "server";
};

// Two ways to load a server:
//  - closed loop (--window W): W queries outstanding, each answer replaced by a new query: the
//    most the server does (queries/s); its latency is mostly the queue of W (Little's law).
//  - open loop (--rate R): R queries/s sent on a fixed schedule whatever the answers, below what
//    either server can do: the latency of one query with little queueing, where the p99 shows
//    the server's own stalls. Sends that fall more than 1 ms behind schedule (the generator was
//    descheduled) are skipped, not sent in a burst, and counted as `skipped`.
// Latency of each query: from just before its send call to the kernel's receive timestamp of its
// answer (SO_TIMESTAMPNS), so that the generator's own delays after the answer arrived (wake-up,
// batch processing) are not charged to the server. A query unanswered after 1 s is a timeout and
// counts in the percentiles as its time until then.
int load(const LoadOptions& o) {
  auto names = make_names(o.instances);
  // Every query packet built once: the generator should cost less per query than a server.
  std::vector<std::string> packets;
  packets.reserve(names.size());
  for (const auto& n : names) packets.push_back(encode_query(0, n.name, rrtype::a));
  sockaddr_in to;
  int fd = udp_socket_to(o.port, to);
  int on = 1;
  bool kernel_stamps = ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0;
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // wake up on time for the paced sends

  std::vector<Outstanding> slots(65536);
  std::uint32_t next_name = 0;
  std::uint16_t next_id = 0;
  std::uint64_t answers = 0, errors = 0, timeouts = 0, sent = 0, skipped = 0;
  std::vector<std::uint32_t> latencies_ns;
  latencies_ns.reserve(4'000'000);
  int in_flight = 0;
  bool measuring = false;
  const bool open_loop = o.rate > 0;
  const int max_in_flight = open_loop ? 4096 : o.window;

  constexpr int kBatch = 64;
  std::vector<mmsghdr> out_msgs(kBatch), in_msgs(kBatch);
  std::vector<iovec> out_iov(kBatch), in_iov(kBatch);
  std::vector<std::string> out_buf(kBatch), in_buf(kBatch, std::string(2048, '\0'));
  constexpr std::size_t kControl = CMSG_SPACE(sizeof(timespec)) + 64;
  std::vector<std::array<char, kControl>> in_control(kBatch);
  ParsedResponse parsed;

  auto send_some = [&](int count) {
    while (count > 0 && in_flight < 65000) {
      int n = std::min(count, kBatch);
      std::uint16_t ids[kBatch];
      for (int i = 0; i < n; ++i) {
        while (slots[next_id].busy) ++next_id;
        ids[i] = next_id;
        Outstanding& slot = slots[next_id];
        slot.busy = true;
        slot.measured = measuring;
        slot.name = next_name;
        std::string& b = out_buf[i];
        b.assign(packets[next_name]);
        b[0] = static_cast<char>(next_id >> 8);
        b[1] = static_cast<char>(next_id & 0xff);
        out_iov[i] = {b.data(), b.size()};
        out_msgs[i] = {};
        out_msgs[i].msg_hdr.msg_iov = &out_iov[i];
        out_msgs[i].msg_hdr.msg_iovlen = 1;
        ++next_id;
        next_name = (next_name + 1) % static_cast<std::uint32_t>(names.size());
      }
      auto mono = Clock::now();
      std::int64_t stamp = realtime_ns();
      for (int i = 0; i < n; ++i) {
        slots[ids[i]].sent_ns = stamp;
        slots[ids[i]].sent_mono = mono;
      }
      int done = ::sendmmsg(fd, out_msgs.data(), static_cast<unsigned>(n), 0);
      if (done < 0) done = 0;
      in_flight += n;  // a datagram that did not go out counts as lost (timeout)
      sent += static_cast<std::uint64_t>(done);
      count -= n;
    }
  };

  // Returns how many outstanding queries were answered.
  auto receive_some = [&]() -> int {
    for (int i = 0; i < kBatch; ++i) {
      in_iov[i] = {in_buf[i].data(), in_buf[i].size()};
      in_msgs[i] = {};
      in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
      in_msgs[i].msg_hdr.msg_iovlen = 1;
      in_msgs[i].msg_hdr.msg_control = in_control[i].data();
      in_msgs[i].msg_hdr.msg_controllen = in_control[i].size();
    }
    int got = ::recvmmsg(fd, in_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) return 0;
    std::int64_t fallback = realtime_ns();
    int replaced = 0;
    for (int i = 0; i < got; ++i) {
      std::string_view packet(in_buf[i].data(), in_msgs[i].msg_len);
      std::uint16_t id = 0, flags = 0;
      if (!read_id(packet, id, flags) || !slots[id].busy) {
        if (measuring) ++errors;  // an answer to nothing we asked (or asked and gave up on)
        continue;
      }
      std::int64_t arrived = fallback;
      for (cmsghdr* c = CMSG_FIRSTHDR(&in_msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&in_msgs[i].msg_hdr, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec t{};
          std::memcpy(&t, CMSG_DATA(c), sizeof t);
          arrived = std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
        }
      Outstanding& slot = slots[id];
      slot.busy = false;
      --in_flight;
      ++replaced;
      if (!measuring) continue;
      ++answers;
      if (slot.measured)
        latencies_ns.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(arrived - slot.sent_ns, 0, 4'000'000'000)));
      const Name& expected = names[slot.name];
      bool ok = parse_response(packet, parsed) && parsed.id == id && parsed.rcode == Rcode::noerror;
      if (ok) {
        std::sort(parsed.addresses.begin(), parsed.addresses.end());
        ok = parsed.addresses == expected.addresses;
      }
      if (!ok) ++errors;
    }
    return replaced;
  };

  const auto warmup = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s));
  const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  const auto interval = open_loop ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.rate))
                                  : Clock::duration::zero();
  const auto begin = Clock::now();
  auto measure_start = begin + warmup;
  const auto end = measure_start + duration;
  long long cpu_start = -1;
  auto last_sweep = begin;
  auto next_send = begin;
  if (warmup == Clock::duration::zero()) {
    measuring = true;
    cpu_start = process_cpu_ticks(o.server_pid);
  }
  if (!open_loop) send_some(o.window);
  while (true) {
    auto now = Clock::now();
    if (now >= end) break;
    if (!measuring && now >= measure_start) {
      measuring = true;
      measure_start = now;
      cpu_start = process_cpu_ticks(o.server_pid);
    }
    timespec timeout{0, 50'000'000};
    if (open_loop) {
      if (now - next_send > std::chrono::milliseconds(1)) {
        auto behind = (now - next_send) / interval;
        if (measuring) skipped += static_cast<std::uint64_t>(behind);
        next_send += behind * interval;
      }
      int due = 0;
      while (next_send <= now && in_flight + due < max_in_flight) {
        ++due;
        next_send += interval;
      }
      if (due > 0) send_some(due);
      auto wait = std::max(Clock::duration::zero(), next_send - Clock::now());
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      timeout = {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    }
    pollfd p{fd, POLLIN, 0};
    if (::ppoll(&p, 1, &timeout, nullptr) == 1) {
      int replaced = 0, got = 0;
      do {
        got = receive_some();
        replaced += got;
      } while (got == kBatch);
      if (!open_loop && replaced > 0) send_some(replaced);
    }
    now = Clock::now();
    if (now - last_sweep > std::chrono::milliseconds(100)) {
      last_sweep = now;
      int lost = 0;
      for (auto& slot : slots)
        if (slot.busy && now - slot.sent_mono > std::chrono::seconds(1)) {
          slot.busy = false;
          if (measuring) ++timeouts;
          // A lost query is slower than any answer: it stays in the percentiles (as the time it
          // was given up after), so that a server that drops does not look faster.
          if (slot.measured)
            latencies_ns.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(realtime_ns() - slot.sent_ns, 0, 4'000'000'000)));
          ++lost;
        }
      in_flight -= lost;
      if (lost > 0 && !open_loop) send_some(lost);
    }
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - measure_start).count();
  long long cpu_end = process_cpu_ticks(o.server_pid);
  ::close(fd);
  std::sort(latencies_ns.begin(), latencies_ns.end());
  auto pct = [&](double p) -> double {
    if (latencies_ns.empty()) return 0;
    return latencies_ns[std::min(latencies_ns.size() - 1, static_cast<std::size_t>(p * latencies_ns.size()))] / 1000.0;
  };
  double cpu_us_per_query = 0;
  if (cpu_start >= 0 && cpu_end >= 0 && answers > 0)
    cpu_us_per_query = static_cast<double>(cpu_end - cpu_start) * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK)) /
                       static_cast<double>(answers);
  std::printf(
      "%s mode=%s qps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f server_cpu_us=%.2f "
      "errors=%llu timeouts=%llu skipped=%llu answers=%llu sent=%llu stamps=%s\n",
      o.label.c_str(), open_loop ? "rate" : "window", static_cast<double>(answers) / elapsed, pct(0.50), pct(0.90),
      pct(0.99), pct(0.999), latencies_ns.empty() ? 0.0 : latencies_ns.back() / 1000.0, cpu_us_per_query,
      static_cast<unsigned long long>(errors), static_cast<unsigned long long>(timeouts),
      static_cast<unsigned long long>(skipped), static_cast<unsigned long long>(answers),
      static_cast<unsigned long long>(sent), kernel_stamps ? "kernel" : "user");
  std::fflush(stdout);
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: bench_dns --serve PORT | --write-hosts FILE | --load PORT | --check PORT\n"
               "                 [--instances N] [--duration S] [--warmup S] [--window W | --rate QPS]\n"
               "                 [--server-pid PID] [--label NAME]\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode, target;
  LoadOptions o;
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
      o.instances = std::stoi(value());
    } else if (a == "--duration") {
      o.duration_s = std::stod(value());
    } else if (a == "--warmup") {
      o.warmup_s = std::stod(value());
    } else if (a == "--window") {
      o.window = std::stoi(value());
    } else if (a == "--rate") {
      o.rate = std::stod(value());
    } else if (a == "--server-pid") {
      o.server_pid = std::stoi(value());
    } else if (a == "--label") {
      o.label = value();
    } else {
      usage();
      return 2;
    }
  }
  if (o.instances < 2 || o.window < 1 || o.window > 4096 || o.duration_s <= 0 || o.warmup_s < 0 || o.rate < 0 ||
      o.rate > 1e6) {
    std::fprintf(stderr,
                 "bench_dns: --instances must be at least 2, --window 1..4096, --duration above 0, --warmup 0 or "
                 "more, --rate 0..1000000 (0: closed loop)\n");
    return 2;
  }
  try {
    if (mode == "--serve") return serve(std::stoi(target), o.instances);
    if (mode == "--write-hosts") return write_hosts(target, o.instances);
    if (mode == "--load") {
      o.port = std::stoi(target);
      return load(o);
    }
    if (mode == "--check") return check(std::stoi(target), o.instances);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dns: %s\n", e.what());
    return 1;
  }
  usage();
  return 2;
}
