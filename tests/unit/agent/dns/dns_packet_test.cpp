// DNS message parsing and encoding (src/agent/dns/dns_packet.h): round trips, every class of
// malformed input, and a randomized mutation run (no crash, no out-of-bounds read under ASan).
#include "agent/dns/dns_packet.h"

#include <gtest/gtest.h>

#include <random>

#include "common/error.h"
#include "dns_test_util.h"

namespace kontena::agent::dns {
namespace {

using test::bytes;

TEST(DnsPacket, QueryRoundTrip) {
  std::string packet = encode_query(0x1234, "Web.MyStack.Demo.Kontena.Local.", rrtype::a);
  Query q;
  ASSERT_EQ(parse_query(packet, q), ParseOutcome::query);
  EXPECT_EQ(q.id, 0x1234);
  EXPECT_TRUE(q.rd());
  EXPECT_EQ(q.qtype, rrtype::a);
  EXPECT_EQ(q.qclass, rrclass::in);
  EXPECT_EQ(q.name(), "web.mystack.demo.kontena.local");
  EXPECT_FALSE(q.edns);
  EXPECT_EQ(q.udp_limit(), kClassicUdpSize);
}

TEST(DnsPacket, RootName) {
  std::string packet = encode_query(1, ".", rrtype::ns);
  Query q;
  ASSERT_EQ(parse_query(packet, q), ParseOutcome::query);
  EXPECT_EQ(q.name(), "");
  EXPECT_EQ(q.qname_wire_len, 1u);
}

TEST(DnsPacket, ResponseEchoesTheQuestionInItsCaseWithAddressesInTurn) {
  std::string packet = encode_query(77, "API-1.Stack.Grid.kontena.local", rrtype::a);
  Query q;
  ASSERT_EQ(parse_query(packet, q), ParseOutcome::query);
  std::vector<Ipv4> addresses = {{10, 81, 128, 1}, {10, 81, 128, 2}, {10, 81, 128, 3}};
  Response r;
  r.addresses = addresses;
  r.first = 1;
  r.ttl = 5;
  std::string out;
  encode_response(q, r, out);
  // The question is echoed byte for byte (case kept: 0x20 randomisation in resolvers needs it).
  EXPECT_EQ(out.substr(kHeaderSize, q.qname_wire_len), packet.substr(kHeaderSize, q.qname_wire_len));
  ParsedResponse parsed;
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_EQ(parsed.id, 77);
  EXPECT_EQ(parsed.rcode, Rcode::noerror);
  EXPECT_TRUE(parsed.flags & flag::aa);
  EXPECT_TRUE(parsed.flags & flag::rd);
  EXPECT_FALSE(parsed.flags & flag::tc);
  EXPECT_EQ(parsed.question, "api-1.stack.grid.kontena.local");
  ASSERT_EQ(parsed.addresses.size(), 3u);
  EXPECT_EQ(to_string(parsed.addresses[0]), "10.81.128.2");
  EXPECT_EQ(to_string(parsed.addresses[1]), "10.81.128.3");
  EXPECT_EQ(to_string(parsed.addresses[2]), "10.81.128.1");
  EXPECT_EQ(parsed.ttls[0], 5u);
  EXPECT_FALSE(parsed.has_opt);
}

TEST(DnsPacket, NxdomainAndNoDataCarryNoAddress) {
  Query q;
  ASSERT_EQ(parse_query(encode_query(5, "x.kontena.local", rrtype::a), q), ParseOutcome::query);
  std::vector<Ipv4> addresses = {{1, 2, 3, 4}};
  Response r;
  r.rcode = Rcode::nxdomain;
  r.addresses = addresses;
  std::string out;
  encode_response(q, r, out);
  ParsedResponse parsed;
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_EQ(parsed.rcode, Rcode::nxdomain);
  EXPECT_EQ(parsed.ancount, 0);

  // AAAA for a name with A records: NOERROR, no data.
  ASSERT_EQ(parse_query(encode_query(6, "x.kontena.local", rrtype::aaaa), q), ParseOutcome::query);
  r.rcode = Rcode::noerror;
  encode_response(q, r, out);
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_EQ(parsed.rcode, Rcode::noerror);
  EXPECT_EQ(parsed.ancount, 0);
  EXPECT_EQ(parsed.qtype, rrtype::aaaa);
}

TEST(DnsPacket, EdnsIsEchoedWithOurPayloadSize) {
  Query q;
  ASSERT_EQ(parse_query(encode_query(9, "a.kontena.local", rrtype::a, true, 4096), q), ParseOutcome::query);
  EXPECT_TRUE(q.edns);
  EXPECT_EQ(q.edns_udp_size, 4096);
  EXPECT_EQ(q.udp_limit(), kMaxUdpSize);
  std::string out;
  encode_response(q, Response{}, out);
  ParsedResponse parsed;
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_TRUE(parsed.has_opt);
  EXPECT_EQ(parsed.opt_udp_size, kMaxUdpSize);
  EXPECT_EQ(parsed.arcount, 1);

  // A payload size under 512 counts as 512 (RFC 6891 6.2.3).
  ASSERT_EQ(parse_query(encode_query(9, "a.kontena.local", rrtype::a, true, 100), q), ParseOutcome::query);
  EXPECT_EQ(q.udp_limit(), kClassicUdpSize);
}

TEST(DnsPacket, UnknownEdnsVersionGetsBadvers) {
  std::string packet = encode_query(9, "a.kontena.local", rrtype::a, true, 1232);
  packet[packet.size() - 5] = 1;  // the OPT's version byte
  Query q;
  ASSERT_EQ(parse_query(packet, q), ParseOutcome::query);
  EXPECT_EQ(q.edns_version, 1);
  std::vector<Ipv4> addresses = {{1, 2, 3, 4}};
  Response r;
  r.addresses = addresses;
  std::string out;
  encode_response(q, r, out);
  ParsedResponse parsed;
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_EQ(parsed.ancount, 0);
  // Extended rcode 1 in the OPT's TTL: BADVERS (16).
  EXPECT_EQ(static_cast<std::uint8_t>(out[out.size() - 6]), 1);
}

TEST(DnsPacket, UdpAnswersOverTheLimitAreTruncatedToWhatFits) {
  std::vector<Ipv4> addresses;
  for (int i = 0; i < 200; ++i) addresses.push_back({10, 81, static_cast<std::uint8_t>(i / 250), static_cast<std::uint8_t>(i % 250)});
  Query q;
  ASSERT_EQ(parse_query(encode_query(1, "many.grid.kontena.local", rrtype::a), q), ParseOutcome::query);
  Response r;
  r.addresses = addresses;
  std::string out;
  encode_response(q, r, out);
  EXPECT_LE(out.size(), kClassicUdpSize);
  ParsedResponse parsed;
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_TRUE(parsed.flags & flag::tc);
  EXPECT_EQ(parsed.addresses.size(), (kClassicUdpSize - kHeaderSize - q.qname_wire_len - 4) / 16);

  ASSERT_EQ(parse_query(encode_query(1, "many.grid.kontena.local", rrtype::a, true, 4096), q), ParseOutcome::query);
  r.max_size = q.udp_limit();
  encode_response(q, r, out);
  EXPECT_LE(out.size(), kMaxUdpSize);
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_TRUE(parsed.flags & flag::tc);
  EXPECT_TRUE(parsed.has_opt);

  r.max_size = kMaxTcpSize;
  encode_response(q, r, out);
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_FALSE(parsed.flags & flag::tc);
  EXPECT_EQ(parsed.addresses.size(), 200u);
}

TEST(DnsPacket, ErrorResponsesKeepIdOpcodeAndRd) {
  std::string out;
  encode_error(0xBEEF, flag::rd | (2 << 11), Rcode::notimp, out);
  ASSERT_EQ(out.size(), kHeaderSize);
  ParsedResponse parsed;
  ASSERT_TRUE(parse_response(out, parsed));
  EXPECT_EQ(parsed.id, 0xBEEF);
  EXPECT_EQ(parsed.rcode, Rcode::notimp);
  EXPECT_EQ((parsed.flags >> 11) & 0xF, 2);
  EXPECT_TRUE(parsed.flags & flag::rd);
  EXPECT_EQ(parsed.qdcount, 0);
}

TEST(DnsPacket, EncodeQueryRejectsNamesThatCannotBeEncoded) {
  EXPECT_THROW(encode_query(1, std::string(64, 'a') + ".kontena.local", rrtype::a), Error);
  EXPECT_THROW(encode_query(1, "a..kontena.local", rrtype::a), Error);
  std::string longname;
  for (int i = 0; i < 5; ++i) longname += std::string(60, 'b') + ".";
  EXPECT_THROW(encode_query(1, longname, rrtype::a), Error);
}

// --- malformed input: FORMERR when a header can be read, else dropped

TEST(DnsPacketMalformed, ShortHeaderIsDropped) {
  Query q;
  EXPECT_EQ(parse_query("", q), ParseOutcome::drop);
  EXPECT_EQ(parse_query(std::string(11, '\0'), q), ParseOutcome::drop);
}

TEST(DnsPacketMalformed, ResponsesAreDropped) {
  std::string packet = encode_query(1, "a.kontena.local", rrtype::a);
  packet[2] = static_cast<char>(packet[2] | 0x80);
  Query q;
  EXPECT_EQ(parse_query(packet, q), ParseOutcome::drop);
}

TEST(DnsPacketMalformed, OtherOpcodesAreNotImplemented) {
  std::string packet = encode_query(1, "a.kontena.local", rrtype::a);
  packet[2] = static_cast<char>(packet[2] | (5 << 3));  // UPDATE
  Query q;
  EXPECT_EQ(parse_query(packet, q), ParseOutcome::notimp);
}

TEST(DnsPacketMalformed, QuestionCountMustBeOne) {
  Query q;
  std::string none = bytes({0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(parse_query(none, q), ParseOutcome::formerr);
  std::string two = encode_query(1, "a.kontena.local", rrtype::a);
  two[5] = 2;
  two += two.substr(kHeaderSize);  // a second question, well formed
  EXPECT_EQ(parse_query(two, q), ParseOutcome::formerr);
}

TEST(DnsPacketMalformed, LabelOver63) {
  // A length byte of 64 has the 0x40 bit set: an extended label type, not allowed.
  std::string packet = bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64});
  packet += std::string(64, 'a');
  packet += bytes({0, 0, 1, 0, 1});
  Query q;
  EXPECT_EQ(parse_query(packet, q), ParseOutcome::formerr);
  // 0x80 (reserved label type) as well.
  packet[kHeaderSize] = static_cast<char>(0x80);
  EXPECT_EQ(parse_query(packet, q), ParseOutcome::formerr);
}

TEST(DnsPacketMalformed, NameOver255) {
  std::string packet = bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0});
  for (int i = 0; i < 5; ++i) {  // 5 * 51 = 255 bytes of labels, plus the root: 256
    packet.push_back(50);
    packet += std::string(50, 'x');
  }
  packet += bytes({0, 0, 1, 0, 1});
  Query q;
  EXPECT_EQ(parse_query(packet, q), ParseOutcome::formerr);
  // One byte less fits exactly (255).
  std::string fits = bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0});
  for (int i = 0; i < 4; ++i) {
    fits.push_back(50);
    fits += std::string(50, 'x');
  }
  fits.push_back(49);
  fits += std::string(49, 'x');
  fits += bytes({0, 0, 1, 0, 1});
  ASSERT_EQ(parse_query(fits, q), ParseOutcome::query);
  EXPECT_EQ(q.qname_wire_len, 255u);
}

TEST(DnsPacketMalformed, CompressionPointers) {
  Query q;
  // A pointer to itself (offset 12): a loop.
  EXPECT_EQ(parse_query(bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}), q), ParseOutcome::formerr);
  // Two labels pointing at each other: "a" then a pointer back to offset 12.
  EXPECT_EQ(parse_query(bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xC0, 12, 0, 1, 0, 1}), q),
            ParseOutcome::formerr);
  // A forward pointer (to offset 20, after the pointer).
  EXPECT_EQ(parse_query(bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 20, 0, 1, 0, 1, 0, 0, 1, 'a', 0}), q),
            ParseOutcome::formerr);
  // Out of range.
  EXPECT_EQ(parse_query(bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 1, 0, 1}), q), ParseOutcome::formerr);
  // Into the header.
  EXPECT_EQ(parse_query(bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 2, 0, 1, 0, 1}), q), ParseOutcome::formerr);
  // A pointer cut in half.
  EXPECT_EQ(parse_query(bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0}), q), ParseOutcome::formerr);
}

TEST(DnsPacketMalformed, ValidBackwardPointerInALaterRecordIsFine) {
  // A question, then one answer record whose owner is a pointer to the question's name.
  std::string packet = encode_query(1, "a.kontena.local", rrtype::a);
  packet[7] = 1;  // ancount
  packet += bytes({0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4});
  Query q;
  EXPECT_EQ(parse_query(packet, q), ParseOutcome::query);
  // The same record cut short is malformed.
  packet.resize(packet.size() - 2);
  EXPECT_EQ(parse_query(packet, q), ParseOutcome::formerr);
}

TEST(DnsPacketMalformed, TruncatedQuestion) {
  std::string packet = encode_query(1, "a.kontena.local", rrtype::a);
  Query q;
  for (std::size_t size = kHeaderSize; size < packet.size(); ++size)
    EXPECT_EQ(parse_query(packet.substr(0, size), q), ParseOutcome::formerr) << size;
  EXPECT_EQ(parse_query(packet, q), ParseOutcome::query);
}

TEST(DnsPacketMalformed, OptRules) {
  Query q;
  std::string packet = encode_query(1, "a.kontena.local", rrtype::a, true, 1232);
  // Two OPT records.
  std::string twice = packet + packet.substr(packet.size() - 11);
  twice[11] = 2;
  EXPECT_EQ(parse_query(twice, q), ParseOutcome::formerr);
  // OPT whose owner is not the root.
  std::string owner = packet.substr(0, packet.size() - 11) + bytes({1, 'x', 0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(parse_query(owner, q), ParseOutcome::formerr);
  // arcount says 1 but the record is missing.
  std::string missing = packet.substr(0, packet.size() - 11);
  EXPECT_EQ(parse_query(missing, q), ParseOutcome::formerr);
}

TEST(DnsPacketMalformed, GarbageNeverParsesBeyondItsBounds) {
  std::mt19937 random(12345);
  Query q;
  std::size_t outcomes[4] = {};
  for (int i = 0; i < 20000; ++i) {
    std::string garbage(random() % 64, '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    auto outcome = parse_query(garbage, q);
    ++outcomes[static_cast<int>(outcome)];
    if (garbage.size() < kHeaderSize) {
      EXPECT_EQ(outcome, ParseOutcome::drop);
    }
    ParsedResponse parsed;
    parse_response(garbage, parsed);
  }
  EXPECT_GT(outcomes[static_cast<int>(ParseOutcome::formerr)], 0u);
  EXPECT_GT(outcomes[static_cast<int>(ParseOutcome::drop)], 0u);
}

TEST(DnsPacketMalformed, EscapedDotsInLabelsNeverMatchZoneNames) {
  // One label "web.grid" (with a dot in it) then kontena.local.
  std::string packet = bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 8, 'w', 'e', 'b', '.', 'g', 'r', 'i', 'd', 7, 'k', 'o',
                              'n', 't', 'e', 'n', 'a', 5, 'l', 'o', 'c', 'a', 'l', 0, 0, 1, 0, 1});
  Query q;
  ASSERT_EQ(parse_query(packet, q), ParseOutcome::query);
  EXPECT_EQ(q.name(), "web\\.grid.kontena.local");
}

// 200,000 mutations of valid queries (fixed seed): bit flips, byte changes, cuts, insertions,
// pointers. Every outcome is one of the four; responses we would send parse back.
TEST(DnsPacketFuzz, MutatedQueriesNeverCrash) {
  std::vector<std::string> seeds = {
      encode_query(1, "web.stack.grid.kontena.local", rrtype::a),
      encode_query(2, "Web-1.Grid.Kontena.Local", rrtype::aaaa, true, 1232),
      encode_query(3, "example.com", rrtype::any, false, 4096),
      encode_query(4, ".", rrtype::ns),
  };
  {
    std::string compressed = encode_query(5, "a.kontena.local", rrtype::a);
    compressed[7] = 1;
    compressed += bytes({0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4});
    seeds.push_back(compressed);
  }
  std::mt19937 random(20240601);
  Query q;
  std::string out;
  std::size_t queries = 0, errors = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string packet = seeds[random() % seeds.size()];
    int mutations = 1 + random() % 4;
    for (int m = 0; m < mutations; ++m) {
      switch (random() % 6) {
        case 0:
          if (!packet.empty()) packet[random() % packet.size()] ^= static_cast<char>(1 << (random() % 8));
          break;
        case 1:
          if (!packet.empty()) packet[random() % packet.size()] = static_cast<char>(random());
          break;
        case 2:
          packet.resize(random() % (packet.size() + 1));
          break;
        case 3:
          packet.insert(packet.begin() + static_cast<long>(random() % (packet.size() + 1)), static_cast<char>(random()));
          break;
        case 4:
          if (packet.size() > 2) {
            std::size_t at = random() % (packet.size() - 1);
            packet[at] = static_cast<char>(0xC0 | (random() % 4));
            packet[at + 1] = static_cast<char>(random());
          }
          break;
        case 5:
          packet += packet.substr(random() % (packet.size() + 1));
          break;
      }
    }
    switch (parse_query(packet, q)) {
      case ParseOutcome::query: {
        ++queries;
        ASSERT_LE(q.qname_wire_len, kMaxNameWire);
        std::vector<Ipv4> addresses = {{10, 0, 0, 1}};
        Response r;
        r.addresses = addresses;
        r.max_size = q.udp_limit();
        encode_response(q, r, out);
        ASSERT_LE(out.size(), q.udp_limit());
        ParsedResponse parsed;
        ASSERT_TRUE(parse_response(out, parsed)) << i;
        ASSERT_EQ(parsed.id, q.id);
        break;
      }
      case ParseOutcome::formerr:
      case ParseOutcome::notimp:
        ++errors;
        break;
      case ParseOutcome::drop:
        break;
    }
  }
  EXPECT_GT(queries, 1000u);
  EXPECT_GT(errors, 1000u);
}

}  // namespace
}  // namespace kontena::agent::dns
