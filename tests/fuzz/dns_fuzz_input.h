// Runs one fuzz input through the agent's DNS code: the query parser, the encoder of the answer
// we would send, the response reader, and the server's decision (answer_query) with a small table.
// Shared by the libFuzzer target (dns_fuzz.cpp) and the unit test that replays the corpus
// (tests/unit/agent/dns). A crash, a sanitizer report, an exception or an answer over the
// client's size limit is a bug.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "agent/dns/dns_packet.h"
#include "agent/dns/dns_answer.h"
#include "agent/dns/dns_table.h"

namespace kontena::agent::dns::fuzz {

inline const DnsTable& fuzz_table() {
  static DnsTable table;
  static const bool filled = [] {
    ServiceInstance web{"demo", "shop", "web", 1, "10.81.128.1", true, true, "node-1"};
    ServiceInstance web2{"demo", "shop", "web", 2, "10.81.128.2", false, true, "node-1"};
    ServiceInstance redis{"demo", "null", "redis", 1, "10.81.128.3", std::nullopt, false, "node-2"};
    table.set_instances({web, web2, redis});
    return true;
  }();
  (void)filled;
  return table;
}

// The server's answer to packet over UDP (nullopt: forwarded or dropped).
inline std::optional<std::string> fuzz_answer(std::string_view packet, std::uint64_t random = 0) {
  Query query;
  std::string out;
  AnswerOptions options;
  options.random = random;
  Outcome outcome = answer_query(fuzz_table(), packet, options, query, out);
  if (outcome == Outcome::forward || outcome == Outcome::drop) return std::nullopt;
  return out;
}

// The outcome of the parser, for the corpus test's statistics.
inline ParseOutcome run_dns_input(const std::uint8_t* data, std::size_t size) {
  std::string_view packet(reinterpret_cast<const char*>(data), size);
  Query query;
  ParseOutcome outcome = parse_query(packet, query);
  if (outcome == ParseOutcome::query) {
    static const Ipv4 addresses[3] = {{10, 0, 0, 1}, {10, 0, 0, 2}, {10, 0, 0, 3}};
    Response response;
    response.addresses = addresses;
    response.first = size % 3;
    response.max_size = query.udp_limit();
    std::string out;
    encode_response(query, response, out);
    ParsedResponse back;
    if (out.size() > query.udp_limit() || !parse_response(out, back) || back.id != query.id) std::abort();
  }
  ParsedResponse parsed;
  parse_response(packet, parsed);
  auto answer = fuzz_answer(packet, size);
  if (answer && answer->size() > kMaxUdpSize) std::abort();
  return outcome;
}

}  // namespace kontena::agent::dns::fuzz
