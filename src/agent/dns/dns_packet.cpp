#include "agent/dns/dns_packet.h"

#include <algorithm>

#include "common/error.h"

namespace kontena::agent::dns {

namespace {

std::uint16_t get16(std::string_view p, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(p[at]) << 8) | static_cast<std::uint8_t>(p[at + 1]));
}
std::uint32_t get32(std::string_view p, std::size_t at) {
  return (std::uint32_t{get16(p, at)} << 16) | get16(p, at + 2);
}
void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Where a name's copies go; either may be null (the name is only skipped).
struct NameSink {
  std::uint8_t* wire = nullptr;  // kMaxNameWire bytes
  std::size_t* wire_len = nullptr;
  char* text = nullptr;  // 2 * kMaxNameWire bytes
  std::size_t* text_len = nullptr;
};

// Reads the name at `pos`. On success `next` is the offset just after the name where it was
// written (after the first pointer when compressed). A pointer must point before the start of
// the labels being read: every jump goes strictly backwards, so there is no loop, and it may
// not point into the header.
bool read_name(std::string_view p, std::size_t pos, std::size_t& next, const NameSink& sink) {
  std::size_t at = pos;
  std::size_t segment_start = pos;
  std::size_t wire = 0;  // bytes of the uncompressed name so far (length octets included)
  std::size_t text = 0;
  bool jumped = false;
  while (true) {
    if (at >= p.size()) return false;
    auto len = static_cast<std::uint8_t>(p[at]);
    if ((len & 0xC0) == 0xC0) {
      if (at + 1 >= p.size()) return false;
      std::size_t target = (static_cast<std::size_t>(len & 0x3F) << 8) | static_cast<std::uint8_t>(p[at + 1]);
      if (target < kHeaderSize || target >= segment_start) return false;
      if (!jumped) next = at + 2;
      jumped = true;
      at = segment_start = target;
      continue;
    }
    if ((len & 0xC0) != 0) return false;  // 0x40 / 0x80: extended and obsolete label types
    if (len == 0) {
      if (wire + 1 > kMaxNameWire) return false;
      if (sink.wire) sink.wire[wire] = 0;
      ++wire;
      if (!jumped) next = at + 1;
      if (sink.wire_len) *sink.wire_len = wire;
      if (sink.text_len) *sink.text_len = text;
      return true;
    }
    if (at + 1 + len > p.size()) return false;
    if (wire + 1 + len + 1 > kMaxNameWire) return false;  // room for this label and the root
    if (sink.wire) {
      sink.wire[wire] = len;
      std::copy_n(p.data() + at + 1, len, reinterpret_cast<char*>(sink.wire + wire + 1));
    }
    wire += 1 + len;
    if (sink.text) {
      if (text > 0) sink.text[text++] = '.';
      for (std::size_t i = 0; i < len; ++i) {
        char c = p[at + 1 + i];
        if (c == '.' || c == '\\') sink.text[text++] = '\\';
        sink.text[text++] = lower(c);
      }
    }
    at += 1 + len;
  }
}

// Skips one resource record at pos; fills type/class/ttl and the rdata's place.
bool read_record(std::string_view p, std::size_t& pos, std::uint16_t& type, std::uint16_t& klass, std::uint32_t& ttl,
                 std::size_t& rdata, std::uint16_t& rdlen, bool& root_name) {
  std::size_t next = 0;
  std::size_t wire_len = 0;
  NameSink sink;
  sink.wire_len = &wire_len;
  if (!read_name(p, pos, next, sink)) return false;
  if (next + 10 > p.size()) return false;
  root_name = wire_len == 1;
  type = get16(p, next);
  klass = get16(p, next + 2);
  ttl = get32(p, next + 4);
  rdlen = get16(p, next + 8);
  rdata = next + 10;
  if (rdata + rdlen > p.size()) return false;
  pos = rdata + rdlen;
  return true;
}

}  // namespace

std::size_t Query::udp_limit() const {
  if (!edns) return kClassicUdpSize;
  return std::clamp<std::size_t>(edns_udp_size, kClassicUdpSize, kMaxUdpSize);
}

bool read_id(std::string_view packet, std::uint16_t& id, std::uint16_t& flags) {
  if (packet.size() < kHeaderSize) return false;
  id = get16(packet, 0);
  flags = get16(packet, 2);
  return true;
}

ParseOutcome parse_query(std::string_view p, Query& q) {
  if (!read_id(p, q.id, q.flags)) return ParseOutcome::drop;
  if (q.flags & flag::qr) return ParseOutcome::drop;  // a response: answering it could start a loop
  if (((q.flags >> 11) & 0xF) != 0) return ParseOutcome::notimp;
  std::uint16_t qdcount = get16(p, 4), ancount = get16(p, 6), nscount = get16(p, 8), arcount = get16(p, 10);
  if (qdcount != 1) return ParseOutcome::formerr;

  std::size_t pos = kHeaderSize;
  NameSink sink{q.qname_wire.data(), &q.qname_wire_len, q.name_text.data(), &q.name_len};
  std::size_t next = 0;
  if (!read_name(p, pos, next, sink)) return ParseOutcome::formerr;
  if (next + 4 > p.size()) return ParseOutcome::formerr;
  q.qtype = get16(p, next);
  q.qclass = get16(p, next + 2);
  pos = next + 4;

  q.edns = false;
  q.edns_udp_size = 0;
  q.edns_version = 0;
  std::uint16_t type = 0, klass = 0, rdlen = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;
  bool root = false;
  // Answer and authority records are unusual in a query; they are skipped, but must be well formed.
  for (std::uint32_t i = 0; i < std::uint32_t{ancount} + nscount; ++i)
    if (!read_record(p, pos, type, klass, ttl, rdata, rdlen, root)) return ParseOutcome::formerr;
  for (std::uint32_t i = 0; i < arcount; ++i) {
    if (!read_record(p, pos, type, klass, ttl, rdata, rdlen, root)) return ParseOutcome::formerr;
    if (type != rrtype::opt) continue;
    if (q.edns || !root) return ParseOutcome::formerr;  // RFC 6891 6.1.1: one OPT, owner the root
    q.edns = true;
    q.edns_udp_size = klass;
    q.edns_version = static_cast<std::uint8_t>((ttl >> 16) & 0xff);
  }
  return ParseOutcome::query;  // bytes after the last record are ignored
}

void encode_error(std::uint16_t id, std::uint16_t query_flags, Rcode rcode, std::string& out) {
  out.clear();
  put16(out, id);
  // The opcode and RD come back as asked.
  put16(out, static_cast<std::uint16_t>(flag::qr | (query_flags & 0x7800) | (query_flags & flag::rd) | flag::ra |
                                        static_cast<std::uint16_t>(rcode)));
  put16(out, 0);
  put16(out, 0);
  put16(out, 0);
  put16(out, 0);
}

void encode_response(const Query& q, const Response& r, std::string& out) {
  constexpr std::size_t kOptSize = 11;
  constexpr std::size_t kARecordSize = 16;  // pointer 2, type 2, class 2, ttl 4, rdlength 2, address 4
  bool badvers = q.edns && q.edns_version != 0;
  std::size_t fixed = kHeaderSize + q.qname_wire_len + 4 + (q.edns ? kOptSize : 0);
  bool answers_a = !badvers && r.rcode == Rcode::noerror && (q.qtype == rrtype::a || q.qtype == rrtype::any);
  std::size_t count = answers_a ? r.addresses.size() : 0;
  bool truncated = false;
  if (fixed + count * kARecordSize > r.max_size) {
    count = r.max_size > fixed ? (r.max_size - fixed) / kARecordSize : 0;
    truncated = true;
  }

  out.clear();
  put16(out, q.id);
  std::uint16_t flags = flag::qr | (q.flags & flag::rd) | flag::ra;
  if (r.authoritative) flags |= flag::aa;
  if (truncated) flags |= flag::tc;
  flags |= static_cast<std::uint16_t>(badvers ? Rcode::noerror : r.rcode);
  put16(out, flags);
  put16(out, 1);
  put16(out, static_cast<std::uint16_t>(count));
  put16(out, 0);
  put16(out, q.edns ? 1 : 0);
  out.append(reinterpret_cast<const char*>(q.qname_wire.data()), q.qname_wire_len);
  put16(out, q.qtype);
  put16(out, q.qclass);
  std::size_t n = r.addresses.size();
  for (std::size_t i = 0; i < count; ++i) {
    const Ipv4& address = r.addresses[(r.first + i) % n];
    put16(out, 0xC000 | kHeaderSize);  // the question's name
    put16(out, rrtype::a);
    put16(out, rrclass::in);
    put32(out, r.ttl);
    put16(out, 4);
    out.append(reinterpret_cast<const char*>(address.data()), address.size());
  }
  if (q.edns) {
    out.push_back(0);  // root
    put16(out, rrtype::opt);
    put16(out, static_cast<std::uint16_t>(kMaxUdpSize));
    put32(out, badvers ? 0x01000000u : 0u);  // extended rcode 1 = BADVERS (16), version 0, no flags
    put16(out, 0);
  }
}

std::string encode_query(std::uint16_t id, std::string_view name, std::uint16_t qtype, bool rd,
                         std::uint16_t edns_udp_size) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string wire;
  std::size_t start = 0;
  while (!name.empty() && start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::size_t len = dot - start;
    if (len == 0 || len > kMaxLabel)
      fail(ErrorKind::invalid, "DNS name '" + std::string(name) + "': every label must be 1 to 63 characters long");
    wire.push_back(static_cast<char>(len));
    wire.append(name.substr(start, len));
    start = dot + 1;
  }
  wire.push_back(0);
  if (wire.size() > kMaxNameWire)
    fail(ErrorKind::invalid, "DNS name '" + std::string(name) + "' is longer than 255 bytes");

  std::string out;
  put16(out, id);
  put16(out, rd ? flag::rd : 0);
  put16(out, 1);
  put16(out, 0);
  put16(out, 0);
  put16(out, edns_udp_size ? 1 : 0);
  out += wire;
  put16(out, qtype);
  put16(out, rrclass::in);
  if (edns_udp_size) {
    out.push_back(0);
    put16(out, rrtype::opt);
    put16(out, edns_udp_size);
    put32(out, 0);
    put16(out, 0);
  }
  return out;
}

bool parse_response(std::string_view p, ParsedResponse& r) {
  r = ParsedResponse{};
  if (!read_id(p, r.id, r.flags)) return false;
  if (!(r.flags & flag::qr)) return false;
  r.rcode = static_cast<Rcode>(r.flags & 0xF);
  r.qdcount = get16(p, 4);
  r.ancount = get16(p, 6);
  r.nscount = get16(p, 8);
  r.arcount = get16(p, 10);
  std::size_t pos = kHeaderSize;
  for (std::uint16_t i = 0; i < r.qdcount; ++i) {
    std::array<char, 2 * kMaxNameWire> text{};
    std::size_t text_len = 0, next = 0;
    NameSink sink;
    sink.text = text.data();
    sink.text_len = &text_len;
    if (!read_name(p, pos, next, sink) || next + 4 > p.size()) return false;
    if (i == 0) {
      r.question.assign(text.data(), text_len);
      r.qtype = get16(p, next);
    }
    pos = next + 4;
  }
  std::uint32_t records = std::uint32_t{r.ancount} + r.nscount + r.arcount;
  for (std::uint32_t i = 0; i < records; ++i) {
    std::uint16_t type = 0, klass = 0, rdlen = 0;
    std::uint32_t ttl = 0;
    std::size_t rdata = 0;
    bool root = false;
    if (!read_record(p, pos, type, klass, ttl, rdata, rdlen, root)) return false;
    if (i < r.ancount && type == rrtype::a && rdlen == 4) {
      Ipv4 address;
      std::copy_n(p.data() + rdata, 4, reinterpret_cast<char*>(address.data()));
      r.addresses.push_back(address);
      r.ttls.push_back(ttl);
    }
    if (type == rrtype::opt) {
      r.has_opt = true;
      r.opt_udp_size = klass;
    }
  }
  return true;
}

std::string to_string(const Ipv4& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." + std::to_string(a[3]);
}

}  // namespace kontena::agent::dns
