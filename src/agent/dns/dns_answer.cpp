#include "agent/dns/dns_answer.h"

namespace kontena::agent::dns {

Outcome answer_query(const DnsTable& table, std::string_view packet, const AnswerOptions& options, Query& q,
                     std::string& out) {
  switch (parse_query(packet, q)) {
    case ParseOutcome::drop:
      return Outcome::drop;
    case ParseOutcome::formerr:
    case ParseOutcome::notimp: {
      std::uint16_t id = 0, flags = 0;
      read_id(packet, id, flags);
      bool notimp = ((flags >> 11) & 0xF) != 0;
      encode_error(id, flags, notimp ? Rcode::notimp : Rcode::formerr, out);
      return Outcome::formerr;
    }
    case ParseOutcome::query:
      break;
  }
  if (!in_zone(q.name())) return Outcome::forward;

  Response response;
  response.ttl = options.ttl;
  response.max_size = options.over_tcp ? kMaxTcpSize : q.udp_limit();
  if (q.qclass != rrclass::in && q.qclass != rrclass::any) {
    response.rcode = Rcode::refused;
    response.authoritative = false;
    encode_response(q, response, out);
    return Outcome::refused;
  }
  auto snapshot = table.snapshot();
  const DnsTable::Record* record = snapshot->find(q.name());
  Outcome outcome = Outcome::answered;
  if (!record) {
    response.rcode = Rcode::nxdomain;
    outcome = Outcome::nxdomain;
  } else {
    response.addresses = record->addresses;
    if (!record->addresses.empty()) response.first = options.random % record->addresses.size();
  }
  encode_response(q, response, out);
  return outcome;
}

}  // namespace kontena::agent::dns
