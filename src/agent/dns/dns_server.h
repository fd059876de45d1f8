// The agent's DNS server (DESIGN §5): containers resolve through it (Docker's embedded DNS at
// 127.0.0.11 forwards to the node's bridge address). Names under kontena.local are answered from
// the DnsTable (never forwarded: an unknown one is NXDOMAIN); everything else goes to the node's
// upstream resolvers.
//
//   in-zone     A / ANY → the addresses, a random one first, TTL 5 s (authoritative); any other
//               type of a known name → NOERROR without data; unknown → NXDOMAIN; class other
//               than IN → REFUSED
//   forwarding  over UDP from a fresh socket with a random id, 2 s per try, one retry on the next
//               upstream; no answer → SERVFAIL. A truncated upstream answer is passed on to a UDP
//               client (which retries over TCP) and retried over TCP for a TCP client. At most
//               max_forwards in flight: queries beyond are dropped (the client retries).
//   malformed   FORMERR when the header could be read, else dropped; responses are never answered.
//   UDP answers over the client's size (512, or its EDNS size up to 1232) carry as many addresses
//   as fit and TC. UDP is served in batches (recvmmsg/sendmmsg, up to 32 datagrams a call, no
//   allocation per in-zone query); a datagram over 4 KiB (never a real query) gets FORMERR. TCP: 2-byte length framing, several queries per connection, idle timeout, at
//   most max_tcp_connections (more are closed at once).
//
// start() binds (UDP and TCP on each listen address) and serves on one internal thread; stop()
// ends it. answer() is the socket-free core for names we answer, usable from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/dns/dns_table.h"

namespace kontena::agent::dns {

struct DnsServerOptions {
  // "10.81.0.3:53", "127.0.0.1:5353"; port 0 = a free port (TCP then takes the same port as UDP).
  std::vector<std::string> listen;
  // "10.0.0.2", "10.0.0.2:5353", "[fd00::1]:53"; see resolv_conf_nameservers().
  std::vector<std::string> upstreams;
  std::chrono::seconds ttl{5};
  std::chrono::milliseconds upstream_timeout{2000};
  std::size_t max_forwards = 512;
  std::size_t max_tcp_connections = 128;
  std::chrono::milliseconds tcp_idle_timeout{10000};
};

struct DnsStats {
  std::uint64_t queries = 0;    // packets received (UDP datagrams and TCP messages)
  std::uint64_t answered = 0;   // in-zone answers with the name found (NOERROR)
  std::uint64_t nxdomain = 0;   // in-zone names not found
  std::uint64_t forwarded = 0;  // sent upstream
  std::uint64_t servfail = 0;   // forwards no upstream answered
  std::uint64_t formerr = 0;    // malformed or unsupported queries answered FORMERR / NOTIMP / REFUSED
  std::uint64_t dropped = 0;    // no answer sent: unreadable, a response, over the forward bound
};

class DnsServer {
 public:
  DnsServer(const DnsTable& table, DnsServerOptions options);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Throws kontena::Error: invalid for a bad listen or upstream address, unavailable when an
  // address cannot be bound (the message names it and the reason).
  void start();
  void stop();  // idempotent; the server can be started again
  bool running() const;

  // The answer to one query packet as sent over UDP, when it is ours to give: an in-zone name, a
  // malformed query (FORMERR / NOTIMP), or a class we refuse. nullopt: forward it (not in
  // kontena.local) or drop it (unreadable, a response).
  std::optional<std::string> answer(std::string_view query_packet);

  // Replaces the upstream resolvers (takes effect for the next forward). Addresses equal to one
  // of our listen endpoints are left out (never forward to ourselves). Throws invalid.
  void set_upstreams(const std::vector<std::string>& upstreams);
  std::vector<std::string> upstreams() const;

  // The bound port of each listen entry, in order (after start()).
  std::vector<std::uint16_t> ports() const;
  DnsStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The nameservers of a resolv.conf, in order, without Docker's embedded DNS (127.0.0.11), the
// addresses in `exclude` (our own listen addresses), duplicates and lines that are not an IP
// address. A missing file gives an empty list.
std::vector<std::string> resolv_conf_nameservers(const std::string& path = "/etc/resolv.conf",
                                                 const std::vector<std::string>& exclude = {});

}  // namespace kontena::agent::dns
