#include "common/ipv4.h"

#include <charconv>

#include "common/error.h"

namespace kontena::net {

namespace {

std::uint32_t mask_of(int prefix) { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }

// The prefix length after the slash: 0..32, digits only.
std::optional<int> parse_prefix(const std::string& bits) {
  int prefix = -1;
  auto [next, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
  if (ec != std::errc() || next != bits.data() + bits.size() || bits.empty() || prefix < 0 || prefix > 32)
    return std::nullopt;
  return prefix;
}

}  // namespace

std::string format_ipv4(std::uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." + std::to_string((ip >> 8) & 0xff) +
         "." + std::to_string(ip & 0xff);
}

std::string Cidr::str() const { return format_ipv4(base) + "/" + std::to_string(prefix); }

std::optional<std::uint32_t> try_parse_ipv4(const std::string& text) {
  std::uint32_t ip = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    // 1 to 3 digits, no sign, no leading zero (010 is octal to some tools).
    const char* start = p;
    unsigned value = 0;
    auto [next, ec] = std::from_chars(p, end, value);
    if (ec != std::errc() || next == start || next - start > 3 || value > 255 || (next - start > 1 && *start == '0'))
      return std::nullopt;
    if (*start < '0' || *start > '9') return std::nullopt;
    p = next;
    ip = (ip << 8) | value;
  }
  if (p != end) return std::nullopt;
  return ip;
}

std::optional<Cidr> try_parse_cidr(const std::string& text, HostBits host_bits) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto base = try_parse_ipv4(text.substr(0, slash));
  auto prefix = parse_prefix(text.substr(slash + 1));
  if (!base || !prefix) return std::nullopt;
  const std::uint32_t mask = mask_of(*prefix);
  if ((*base & ~mask) != 0 && host_bits == HostBits::refuse) return std::nullopt;
  return Cidr{*base & mask, *prefix};
}

std::uint32_t parse_ipv4(const std::string& text, const std::string& what) {
  auto ip = try_parse_ipv4(text);
  if (!ip) fail(ErrorKind::invalid, what + " \"" + text + "\" is not an IPv4 address (e.g. 10.81.128.2)");
  return *ip;
}

Cidr parse_cidr(const std::string& text, const std::string& what, HostBits host_bits) {
  auto slash = text.find('/');
  if (slash == std::string::npos)
    fail(ErrorKind::invalid, what + " \"" + text + "\" is not in CIDR form (e.g. 10.81.0.0/16)");
  const std::uint32_t base = parse_ipv4(text.substr(0, slash), what);
  const std::string bits = text.substr(slash + 1);
  auto prefix = parse_prefix(bits);
  if (!prefix) fail(ErrorKind::invalid, what + " \"" + text + "\" has no prefix length from 0 to 32");
  const std::uint32_t mask = mask_of(*prefix);
  if ((base & ~mask) != 0 && host_bits == HostBits::refuse)
    fail(ErrorKind::invalid, what + " \"" + text + "\" has host bits set; its network is " + format_ipv4(base & mask) +
                                 "/" + bits);
  return Cidr{base & mask, *prefix};
}

}  // namespace kontena::net
