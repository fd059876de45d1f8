// DNS messages (RFC 1035), only what the agent's resolver needs: a query's header, its one
// question and its EDNS0 OPT record (RFC 6891) in; A answers, NXDOMAIN, NOERROR without data,
// SERVFAIL, FORMERR, NOTIMP, REFUSED out.
//
// Parsing reads every byte through bounds checks and never allocates: names are copied into fixed
// buffers (a name is at most 255 bytes on the wire), compression pointers must point backwards
// (so a name cannot loop), and any packet, however broken, gives one of three outcomes — a query,
// a FORMERR/NOTIMP to send back (the header could be read), or nothing (drop it).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kontena::agent::dns {

enum class Rcode : std::uint8_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
};

namespace rrtype {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ns = 2;
inline constexpr std::uint16_t cname = 5;
inline constexpr std::uint16_t soa = 6;
inline constexpr std::uint16_t ptr = 12;
inline constexpr std::uint16_t mx = 15;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t srv = 33;
inline constexpr std::uint16_t opt = 41;
inline constexpr std::uint16_t any = 255;
}  // namespace rrtype

namespace rrclass {
inline constexpr std::uint16_t in = 1;
inline constexpr std::uint16_t any = 255;
}  // namespace rrclass

namespace flag {
inline constexpr std::uint16_t qr = 0x8000;
inline constexpr std::uint16_t aa = 0x0400;
inline constexpr std::uint16_t tc = 0x0200;
inline constexpr std::uint16_t rd = 0x0100;
inline constexpr std::uint16_t ra = 0x0080;
}  // namespace flag

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxNameWire = 255;     // RFC 1035 2.3.4, length octets included
inline constexpr std::size_t kMaxLabel = 63;
inline constexpr std::size_t kClassicUdpSize = 512;  // without EDNS
inline constexpr std::size_t kMaxUdpSize = 1232;     // the most we send over UDP (DNS flag day 2020)
inline constexpr std::size_t kMaxTcpSize = 65535;    // 2-byte length framing

using Ipv4 = std::array<std::uint8_t, 4>;

// A parsed query. name() is the question name as used for lookups: lowercase ASCII, labels joined
// by '.', no trailing dot ("" = the root). A '.' or '\' inside a label is escaped with '\', so
// such a label never matches a name of ours.
struct Query {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;  // as received
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  bool edns = false;                // the query had an OPT record
  std::uint16_t edns_udp_size = 0;  // its requester's payload size
  std::uint8_t edns_version = 0;

  std::array<std::uint8_t, kMaxNameWire> qname_wire{};  // uncompressed, the case as received
  std::size_t qname_wire_len = 0;
  std::array<char, 2 * kMaxNameWire> name_text{};
  std::size_t name_len = 0;

  std::string_view name() const { return {name_text.data(), name_len}; }
  bool rd() const { return (flags & flag::rd) != 0; }
  // The largest response this client takes over UDP.
  std::size_t udp_limit() const;
};

enum class ParseOutcome {
  query,    // `query` is filled in
  formerr,  // malformed after a readable header: answer FORMERR (encode_error)
  notimp,   // not a standard query (opcode != 0): answer NOTIMP (encode_error)
  drop,     // no header, or a response (QR set): send nothing
};

ParseOutcome parse_query(std::string_view packet, Query& query);

// Header fields of any packet of at least 12 bytes (for encode_error and for matching upstream
// answers). false when shorter.
bool read_id(std::string_view packet, std::uint16_t& id, std::uint16_t& flags);

struct Response {
  Rcode rcode = Rcode::noerror;
  bool authoritative = true;               // our own zone
  std::span<const Ipv4> addresses;         // A records (only for qtype A / ANY)
  std::size_t first = 0;                   // the address answered first; the others follow in turn
  std::uint32_t ttl = 5;
  std::size_t max_size = kClassicUdpSize;  // over it: as many addresses as fit, and TC set
};

// Writes the response to `query` into out (replacing its content; no allocation once out has
// the capacity). The question is echoed; an OPT record is added when the query had one
// (BADVERS when the query's EDNS version is not 0).
void encode_response(const Query& query, const Response& response, std::string& out);

// A header-only response (FORMERR, NOTIMP, SERVFAIL) to a packet whose header could be read.
void encode_error(std::uint16_t id, std::uint16_t query_flags, Rcode rcode, std::string& out);

// Builders for tests, tools and the benchmark: a query for name (dotted, trailing dot optional).
// Throws kontena::Error(invalid) for a name that cannot be encoded (label over 63, name over 255).
std::string encode_query(std::uint16_t id, std::string_view name, std::uint16_t qtype, bool rd = true,
                         std::uint16_t edns_udp_size = 0 /* 0 = no OPT */);

// Reads the A records of a response (any section order of ours and of common servers): for
// tests and the benchmark. false when the packet is not a well-formed response.
struct ParsedResponse {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  Rcode rcode = Rcode::noerror;
  std::uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  std::string question;  // lowercase dotted
  std::uint16_t qtype = 0;
  std::vector<Ipv4> addresses;
  std::vector<std::uint32_t> ttls;
  bool has_opt = false;
  std::uint16_t opt_udp_size = 0;
};
bool parse_response(std::string_view packet, ParsedResponse& out);

std::string to_string(const Ipv4& address);

}  // namespace kontena::agent::dns
