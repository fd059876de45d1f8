// IPv4 addresses and networks as the agent's network code needs them (IPAM slices, node overlay
// addresses, etcd member URLs): one strict parser (dotted quads without leading zeros, CIDR
// prefixes 0..32), host byte order.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace kontena::net {

// An IPv4 network, host order.
struct Cidr {
  std::uint32_t base = 0;
  int prefix = 0;
  std::uint32_t size() const { return prefix == 0 ? 0 : (std::uint32_t{1} << (32 - prefix)); }
  std::uint32_t last() const { return base + (size() - 1); }
  bool contains(std::uint32_t ip) const { return ip >= base && ip <= last(); }
  std::string str() const;
};

// What a network written with host bits set ("10.81.7.9/16") means: an error, or its network.
enum class HostBits { refuse, drop };

std::optional<std::uint32_t> try_parse_ipv4(const std::string& text);
std::optional<Cidr> try_parse_cidr(const std::string& text, HostBits host_bits = HostBits::refuse);
// Error(invalid) naming `what` for text that is not a dotted quad / a network in CIDR form (whose
// host bits are zero unless host_bits is drop).
std::uint32_t parse_ipv4(const std::string& text, const std::string& what);
Cidr parse_cidr(const std::string& text, const std::string& what, HostBits host_bits = HostBits::refuse);
std::string format_ipv4(std::uint32_t ip);

}  // namespace kontena::net
