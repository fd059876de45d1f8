// What the server does with one query packet, UDP or TCP: the decision and the answer when it is
// ours to give. Free of sockets and of Asio, so that the fuzz target (tests/fuzz/dns_fuzz.cpp)
// runs exactly what the server runs.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/dns/dns_packet.h"
#include "agent/dns/dns_table.h"

namespace kontena::agent::dns {

enum class Outcome {
  answered,  // in zone, the name exists: NOERROR (with the addresses for A / ANY)
  nxdomain,  // in zone, no such name
  refused,   // in zone, a class other than IN / ANY
  formerr,   // malformed (FORMERR) or another opcode (NOTIMP)
  forward,   // not in kontena.local: `query` is filled in, out is untouched
  drop,      // unreadable, or a response: send nothing
};

struct AnswerOptions {
  std::uint32_t ttl = 5;
  bool over_tcp = false;     // no size limit but the 64 KiB of the framing
  std::uint64_t random = 0;  // picks the address answered first
};

// Parses packet into query and, unless the outcome is forward or drop, writes the answer to out.
Outcome answer_query(const DnsTable& table, std::string_view packet, const AnswerOptions& options, Query& query,
                     std::string& out);

}  // namespace kontena::agent::dns
