// The agent's DNS server (src/agent/dns/dns_server.h): the socket-free core, then real sockets on
// 127.0.0.1 (ephemeral ports) with a fake upstream the test runs.
#include "agent/dns/dns_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/error.h"
#include "dns_test_util.h"

namespace kontena::agent::dns {
namespace {

using namespace std::chrono_literals;
using test::FakeUpstream;
using test::instance;

class DnsServerCore : public ::testing::Test {
 protected:
  void SetUp() override {
    table.set_instances({instance("shop", "api", 1, "10.81.128.1"), instance("shop", "api", 2, "10.81.128.2"),
                         instance("shop", "api", 3, "10.81.128.3"), instance("shop", "sick", 1, "10.81.128.4", false)});
  }
  ParsedResponse ask(const std::string& packet) {
    auto out = server.answer(packet);
    EXPECT_TRUE(out.has_value());
    ParsedResponse parsed;
    if (out) {
      EXPECT_TRUE(parse_response(*out, parsed));
    }
    return parsed;
  }
  DnsTable table;
  DnsServer server{table, DnsServerOptions{}};
};

TEST_F(DnsServerCore, KnownNameAnswersEveryHealthyAddressWithTtl5) {
  auto r = ask(encode_query(42, "API.shop.demo.kontena.local", rrtype::a));
  EXPECT_EQ(r.id, 42);
  EXPECT_EQ(r.rcode, Rcode::noerror);
  EXPECT_TRUE(r.flags & flag::aa);
  std::set<std::string> ips;
  for (const auto& a : r.addresses) ips.insert(to_string(a));
  EXPECT_EQ(ips, (std::set<std::string>{"10.81.128.1", "10.81.128.2", "10.81.128.3"}));
  for (auto ttl : r.ttls) EXPECT_EQ(ttl, 5u);
  auto stats = server.stats();
  EXPECT_EQ(stats.queries, 1u);
  EXPECT_EQ(stats.answered, 1u);
}

TEST_F(DnsServerCore, TheFirstAddressIsRandom) {
  std::set<std::string> firsts;
  for (int i = 0; i < 300; ++i) {
    auto r = ask(encode_query(1, "api.shop.demo.kontena.local", rrtype::a));
    ASSERT_EQ(r.addresses.size(), 3u);
    firsts.insert(to_string(r.addresses[0]));
  }
  EXPECT_EQ(firsts.size(), 3u);
}

TEST_F(DnsServerCore, OtherTypesUnknownNamesAndUnhealthyServices) {
  auto aaaa = ask(encode_query(1, "api.shop.demo.kontena.local", rrtype::aaaa));
  EXPECT_EQ(aaaa.rcode, Rcode::noerror);
  EXPECT_EQ(aaaa.ancount, 0);
  auto unknown = ask(encode_query(2, "nope.shop.demo.kontena.local", rrtype::a));
  EXPECT_EQ(unknown.rcode, Rcode::nxdomain);
  EXPECT_TRUE(unknown.flags & flag::aa);
  auto sick = ask(encode_query(3, "sick.shop.demo.kontena.local", rrtype::a));
  EXPECT_EQ(sick.rcode, Rcode::noerror);
  EXPECT_EQ(sick.ancount, 0);
  auto sick1 = ask(encode_query(4, "sick-1.shop.demo.kontena.local", rrtype::a));
  ASSERT_EQ(sick1.addresses.size(), 1u);
  EXPECT_EQ(to_string(sick1.addresses[0]), "10.81.128.4");
  EXPECT_EQ(server.stats().nxdomain, 1u);
}

TEST_F(DnsServerCore, OutOfZoneAndResponsesAreNotAnsweredHere) {
  EXPECT_FALSE(server.answer(encode_query(1, "example.com", rrtype::a)));
  std::string response;
  encode_error(1, 0, Rcode::noerror, response);
  EXPECT_FALSE(server.answer(response));
  EXPECT_FALSE(server.answer("short"));
  EXPECT_EQ(server.stats().dropped, 2u);
}

TEST_F(DnsServerCore, MalformedQueriesGetFormerrAndOtherClassesRefused) {
  std::string packet = encode_query(7, "api.shop.demo.kontena.local", rrtype::a);
  packet.resize(packet.size() - 3);
  auto formerr = ask(packet);
  EXPECT_EQ(formerr.id, 7);
  EXPECT_EQ(formerr.rcode, Rcode::formerr);

  std::string chaos = encode_query(8, "api.shop.demo.kontena.local", rrtype::a);
  chaos[chaos.size() - 1] = 3;  // class CH
  auto refused = ask(chaos);
  EXPECT_EQ(refused.rcode, Rcode::refused);
  EXPECT_EQ(refused.qdcount, 1);
}

TEST(DnsResolvConf, SkipsDockerOurselvesDuplicatesAndJunk) {
  auto path = std::filesystem::temp_directory_path() / ("dns_resolv_" + std::to_string(::getpid()));
  {
    std::ofstream f(path);
    f << "# generated\nsearch example.com\nnameserver 127.0.0.11\nnameserver 10.0.0.2\n; comment\n"
         "nameserver 10.81.0.3\nnameserver not-an-ip\nnameserver 10.0.0.2\nnameserver fd00::53\n"
         "options ndots:0\n  nameserver   1.1.1.1  \n";
  }
  EXPECT_EQ(resolv_conf_nameservers(path.string(), {"10.81.0.3"}),
            (std::vector<std::string>{"10.0.0.2", "fd00::53", "1.1.1.1"}));
  std::filesystem::remove(path);
  EXPECT_TRUE(resolv_conf_nameservers(path.string()).empty());
}

TEST(DnsServerOptionsCheck, BadAddressesAreRejectedWithAClearError) {
  DnsTable table;
  DnsServerOptions options;
  options.upstreams = {"10.0.0.1:99999"};
  EXPECT_THROW(DnsServer(table, options), Error);
  options.upstreams = {"dns.example.com"};
  try {
    DnsServer server(table, options);
    FAIL() << "a host name is not an upstream";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("dns.example.com"), std::string::npos);
  }
  options.upstreams = {"10.0.0.1", "10.0.0.2:5353", "[fd00::1]:53", "fd00::2"};
  DnsServer server(table, options);
  EXPECT_EQ(server.upstreams(),
            (std::vector<std::string>{"10.0.0.1:53", "10.0.0.2:5353", "[fd00::1]:53", "[fd00::2]:53"}));
  options.upstreams.clear();
  options.listen = {"nowhere:53"};
  DnsServer bad_listen(table, options);
  EXPECT_THROW(bad_listen.start(), Error);
  EXPECT_FALSE(bad_listen.running());
}

// --- over real sockets

class DnsServerSockets : public ::testing::Test {
 protected:
  void start(DnsServerOptions options) {
    if (options.listen.empty()) options.listen = {"127.0.0.1:0"};
    table.set_instances({instance("shop", "api", 1, "10.81.128.1"), instance("shop", "api", 2, "10.81.128.2")});
    server = std::make_unique<DnsServer>(table, options);
    server->start();
    port = server->ports().at(0);
  }
  void TearDown() override {
    if (server) server->stop();
  }
  DnsTable table;
  std::unique_ptr<DnsServer> server;
  std::uint16_t port = 0;
};

TEST_F(DnsServerSockets, AnswersInZoneOverUdp) {
  start({});
  auto out = test::udp_ask(port, encode_query(99, "api-2.shop.demo.kontena.local", rrtype::a));
  ASSERT_TRUE(out);
  ParsedResponse r;
  ASSERT_TRUE(parse_response(*out, r));
  EXPECT_EQ(r.id, 99);
  ASSERT_EQ(r.addresses.size(), 1u);
  EXPECT_EQ(to_string(r.addresses[0]), "10.81.128.2");
  // The table changes: the next answer shows it.
  table.set_instances({instance("shop", "api", 2, "10.81.128.20")});
  out = test::udp_ask(port, encode_query(100, "api-2.shop.demo.kontena.local", rrtype::a));
  ASSERT_TRUE(out && parse_response(*out, r));
  EXPECT_EQ(to_string(r.addresses.at(0)), "10.81.128.20");
}

TEST_F(DnsServerSockets, ForwardsOtherNamesToTheUpstream) {
  FakeUpstream upstream(FakeUpstream::Mode::answer);
  DnsServerOptions options;
  options.upstreams = {upstream.address()};
  start(options);
  auto out = test::udp_ask(port, encode_query(0x4242, "www.example.com", rrtype::a));
  ASSERT_TRUE(out);
  ParsedResponse r;
  ASSERT_TRUE(parse_response(*out, r));
  EXPECT_EQ(r.id, 0x4242);  // the client's id, not the one we used upstream
  EXPECT_EQ(r.rcode, Rcode::noerror);
  EXPECT_EQ(r.question, "www.example.com");
  ASSERT_EQ(r.addresses.size(), 1u);
  EXPECT_EQ(r.addresses[0], FakeUpstream::kAnswer);
  EXPECT_EQ(upstream.udp_queries(), 1);
  // In-zone names never go upstream, known or not.
  test::udp_ask(port, encode_query(1, "nope.kontena.local", rrtype::a));
  EXPECT_EQ(upstream.udp_queries(), 1);
  EXPECT_EQ(server->stats().forwarded, 1u);
}

TEST_F(DnsServerSockets, SilentUpstreamGivesServfailWithinTheTimeout) {
  FakeUpstream upstream(FakeUpstream::Mode::silent);
  DnsServerOptions options;
  options.upstreams = {upstream.address()};
  options.upstream_timeout = 300ms;
  start(options);
  auto begin = std::chrono::steady_clock::now();
  auto out = test::udp_ask(port, encode_query(5, "www.example.com", rrtype::a), 3000ms);
  auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(out);
  ParsedResponse r;
  ASSERT_TRUE(parse_response(*out, r));
  EXPECT_EQ(r.id, 5);
  EXPECT_EQ(r.rcode, Rcode::servfail);
  EXPECT_EQ(r.qdcount, 1);  // the question is echoed: stub resolvers ignore answers without it
  EXPECT_GE(took, 550ms);   // two tries of 300 ms
  EXPECT_LT(took, 1500ms);
  EXPECT_EQ(upstream.udp_queries(), 2);
  EXPECT_EQ(server->stats().servfail, 1u);
}

TEST_F(DnsServerSockets, RetriesOnTheNextUpstream) {
  FakeUpstream silent(FakeUpstream::Mode::silent);
  FakeUpstream good(FakeUpstream::Mode::answer);
  DnsServerOptions options;
  options.upstreams = {silent.address(), good.address()};
  options.upstream_timeout = 200ms;
  start(options);
  auto out = test::udp_ask(port, encode_query(5, "www.example.com", rrtype::a));
  ParsedResponse r;
  ASSERT_TRUE(out && parse_response(*out, r));
  EXPECT_EQ(r.rcode, Rcode::noerror);
  EXPECT_EQ(silent.udp_queries(), 1);
  EXPECT_EQ(good.udp_queries(), 1);
}

TEST_F(DnsServerSockets, NoUpstreamGivesServfailAtOnceAndSetUpstreamsTakesEffect) {
  start({});
  auto out = test::udp_ask(port, encode_query(5, "www.example.com", rrtype::a), 1000ms);
  ParsedResponse r;
  ASSERT_TRUE(out && parse_response(*out, r));
  EXPECT_EQ(r.rcode, Rcode::servfail);

  FakeUpstream upstream(FakeUpstream::Mode::answer);
  server->set_upstreams({upstream.address()});
  out = test::udp_ask(port, encode_query(6, "www.example.com", rrtype::a));
  ASSERT_TRUE(out && parse_response(*out, r));
  EXPECT_EQ(r.rcode, Rcode::noerror);
  // Never ourselves.
  server->set_upstreams({"127.0.0.1:" + std::to_string(port), upstream.address()});
  EXPECT_EQ(server->upstreams(), std::vector<std::string>{upstream.address()});
}

TEST_F(DnsServerSockets, TcpSeveralQueriesOnOneConnection) {
  start({});
  int fd = test::tcp_connect(port);
  ASSERT_GE(fd, 0);
  // Two queries written at once, then one more: three answers in order.
  ASSERT_TRUE(test::send_all(fd, test::framed(encode_query(1, "api-1.shop.demo.kontena.local", rrtype::a)) +
                                     test::framed(encode_query(2, "nope.shop.demo.kontena.local", rrtype::a))));
  ParsedResponse r;
  auto first = test::tcp_read_message(fd);
  ASSERT_TRUE(first && parse_response(*first, r));
  EXPECT_EQ(r.id, 1);
  EXPECT_EQ(to_string(r.addresses.at(0)), "10.81.128.1");
  auto second = test::tcp_read_message(fd);
  ASSERT_TRUE(second && parse_response(*second, r));
  EXPECT_EQ(r.id, 2);
  EXPECT_EQ(r.rcode, Rcode::nxdomain);
  ASSERT_TRUE(test::send_all(fd, test::framed(encode_query(3, "api.shop.demo.kontena.local", rrtype::a))));
  auto third = test::tcp_read_message(fd);
  ASSERT_TRUE(third && parse_response(*third, r));
  EXPECT_EQ(r.addresses.size(), 2u);
  ::close(fd);
}

TEST_F(DnsServerSockets, TcpAnswersAreNotTruncated) {
  std::vector<ServiceInstance> many;
  start({});
  for (int i = 1; i <= 100; ++i) many.push_back(instance("shop", "big", i, "10.81.129." + std::to_string(i)));
  table.set_instances(many);
  auto udp = test::udp_ask(port, encode_query(1, "big.shop.demo.kontena.local", rrtype::a));
  ParsedResponse r;
  ASSERT_TRUE(udp && parse_response(*udp, r));
  EXPECT_TRUE(r.flags & flag::tc);
  EXPECT_LT(r.addresses.size(), 100u);
  int fd = test::tcp_connect(port);
  ASSERT_TRUE(test::send_all(fd, test::framed(encode_query(1, "big.shop.demo.kontena.local", rrtype::a))));
  auto tcp = test::tcp_read_message(fd);
  ASSERT_TRUE(tcp && parse_response(*tcp, r));
  EXPECT_FALSE(r.flags & flag::tc);
  EXPECT_EQ(r.addresses.size(), 100u);
  ::close(fd);
}

TEST_F(DnsServerSockets, TcpForwardRetriesATruncatedUpstreamAnswerOverTcp) {
  FakeUpstream upstream(FakeUpstream::Mode::truncate_udp);
  DnsServerOptions options;
  options.upstreams = {upstream.address()};
  start(options);
  // Over UDP the truncated answer is passed on (the client retries over TCP).
  auto udp = test::udp_ask(port, encode_query(1, "www.example.com", rrtype::a));
  ParsedResponse r;
  ASSERT_TRUE(udp && parse_response(*udp, r));
  EXPECT_TRUE(r.flags & flag::tc);
  // Over TCP we ask the upstream over TCP and answer in full.
  int fd = test::tcp_connect(port);
  ASSERT_TRUE(test::send_all(fd, test::framed(encode_query(2, "www.example.com", rrtype::a))));
  auto tcp = test::tcp_read_message(fd);
  ASSERT_TRUE(tcp && parse_response(*tcp, r));
  EXPECT_EQ(r.id, 2);
  EXPECT_FALSE(r.flags & flag::tc);
  ASSERT_EQ(r.addresses.size(), 1u);
  EXPECT_EQ(upstream.tcp_queries(), 1);
  ::close(fd);
}

TEST_F(DnsServerSockets, TcpIdleConnectionsAreClosedAndConnectionsBounded) {
  DnsServerOptions options;
  options.tcp_idle_timeout = 200ms;
  options.max_tcp_connections = 2;
  start(options);
  int a = test::tcp_connect(port), b = test::tcp_connect(port), c = test::tcp_connect(port);
  ASSERT_GE(c, 0);
  // The third is over the bound: closed at once.
  EXPECT_TRUE(test::closed_by_peer(c, 1000ms));
  // The others are closed once idle.
  EXPECT_TRUE(test::closed_by_peer(a, 2000ms));
  EXPECT_TRUE(test::closed_by_peer(b, 2000ms));
  ::close(a);
  ::close(b);
  ::close(c);
  // A slot is free again.
  int d = test::tcp_connect(port);
  ASSERT_TRUE(test::send_all(d, test::framed(encode_query(1, "api-1.shop.demo.kontena.local", rrtype::a))));
  EXPECT_TRUE(test::tcp_read_message(d));
  ::close(d);
}

TEST_F(DnsServerSockets, ForwardsBeyondTheBoundAreDropped) {
  FakeUpstream upstream(FakeUpstream::Mode::silent);
  DnsServerOptions options;
  options.upstreams = {upstream.address()};
  options.upstream_timeout = 500ms;
  options.max_forwards = 1;
  start(options);
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  auto to = test::loopback(port);
  for (int i = 0; i < 3; ++i) {
    std::string q = encode_query(static_cast<std::uint16_t>(i), "www.example.com", rrtype::a);
    ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // One SERVFAIL (after two tries) comes back; the other two were dropped.
  ASSERT_TRUE(test::wait_readable(fd, 3000ms));
  std::string buffer(512, '\0');
  ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
  ParsedResponse r;
  ASSERT_TRUE(parse_response(buffer.substr(0, static_cast<std::size_t>(n)), r));
  EXPECT_EQ(r.rcode, Rcode::servfail);
  EXPECT_FALSE(test::wait_readable(fd, 300ms));
  ::close(fd);
  EXPECT_EQ(server->stats().dropped, 2u);
  EXPECT_EQ(server->stats().forwarded, 1u);
}

TEST_F(DnsServerSockets, MalformedPacketsOverTheWire) {
  start({});
  std::string bad = encode_query(77, "api.shop.demo.kontena.local", rrtype::a);
  bad[kHeaderSize] = 64;  // label type 0x40
  auto out = test::udp_ask(port, bad);
  ParsedResponse r;
  ASSERT_TRUE(out && parse_response(*out, r));
  EXPECT_EQ(r.rcode, Rcode::formerr);
  EXPECT_EQ(r.id, 77);
  EXPECT_FALSE(test::udp_ask(port, "tiny", 300ms));
  // The server still answers.
  EXPECT_TRUE(test::udp_ask(port, encode_query(1, "api.shop.demo.kontena.local", rrtype::a)));
}

// Many datagrams queued at once are answered in batches (recvmmsg/sendmmsg): each answer is
// right for its own query and goes back to the socket that asked, forwarded ones included.
TEST_F(DnsServerSockets, ABurstFromSeveralClientsIsAnsweredEachToItsSender) {
  FakeUpstream upstream(FakeUpstream::Mode::answer);
  DnsServerOptions options;
  options.upstreams = {upstream.address()};
  start(options);
  constexpr int kClients = 3;
  constexpr int kPerClient = 400;  // more than one wake-up's worth of batches
  struct Expect {
    Rcode rcode;
    std::vector<Ipv4> addresses;
  };
  auto query_for = [](int i, std::string& name, Expect& e) {
    if (i % 10 == 9) {
      name = "host" + std::to_string(i) + ".example.com";  // forwarded
      e = {Rcode::noerror, {FakeUpstream::kAnswer}};
    } else if (i % 10 == 8) {
      name = "nope" + std::to_string(i) + ".shop.demo.kontena.local";
      e = {Rcode::nxdomain, {}};
    } else if (i % 2 == 0) {
      name = "api-1.shop.demo.kontena.local";
      e = {Rcode::noerror, {Ipv4{10, 81, 128, 1}}};
    } else {
      name = "api.shop.demo.kontena.local";
      e = {Rcode::noerror, {Ipv4{10, 81, 128, 1}, Ipv4{10, 81, 128, 2}}};
    }
  };
  auto to = test::loopback(port);
  std::vector<int> fds;
  for (int c = 0; c < kClients; ++c) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    int size = 1 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    fds.push_back(fd);
  }
  // answered[c][i]: how many answers client c got for its query i (ids are per client).
  std::vector<std::vector<int>> answered(kClients, std::vector<int>(kPerClient, 0));
  int wrong = 0;
  auto drain = [&](int c) {
    std::string buffer(2048, '\0');
    while (true) {
      ssize_t n = ::recv(fds[c], buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n <= 0) return;
      ParsedResponse r;
      if (!parse_response(buffer.substr(0, static_cast<std::size_t>(n)), r) || r.id >= kPerClient) {
        ++wrong;
        continue;
      }
      std::string name;
      Expect e;
      query_for(r.id + c * kPerClient, name, e);
      std::sort(r.addresses.begin(), r.addresses.end());
      if (r.rcode != e.rcode || r.addresses != e.addresses || r.question != name) ++wrong;
      ++answered[c][r.id];
    }
  };
  auto send = [&](int c, int i) {
    std::string name;
    Expect e;
    query_for(i + c * kPerClient, name, e);
    std::string q = encode_query(static_cast<std::uint16_t>(i), name, rrtype::a);
    ::sendto(fds[c], q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  };
  for (int i = 0; i < kPerClient; ++i)
    for (int c = 0; c < kClients; ++c) send(c, i);
  auto missing = [&] {
    int m = 0;
    for (auto& list : answered) m += static_cast<int>(std::count(list.begin(), list.end(), 0));
    return m;
  };
  auto collect = [&](std::chrono::milliseconds within) {
    auto until = std::chrono::steady_clock::now() + within;
    while (missing() > 0 && std::chrono::steady_clock::now() < until) {
      std::vector<pollfd> polls;
      for (int fd : fds) polls.push_back({fd, POLLIN, 0});
      ::poll(polls.data(), polls.size(), 50);
      for (int c = 0; c < kClients; ++c) drain(c);
    }
  };
  collect(3s);
  // A datagram the kernel dropped (a full buffer on a loaded machine) is asked again, once, as a
  // client would; what must never happen is a wrong answer or one to the wrong sender.
  for (int c = 0; c < kClients; ++c)
    for (int i = 0; i < kPerClient; ++i)
      if (answered[c][i] == 0) send(c, i);
  collect(3s);
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(missing(), 0);
  int duplicated = 0;
  for (auto& list : answered) duplicated += static_cast<int>(std::count_if(list.begin(), list.end(), [](int n) { return n > 1; }));
  EXPECT_EQ(duplicated, 0);
  auto s = server->stats();
  EXPECT_GE(s.queries, static_cast<std::uint64_t>(kClients * kPerClient));
  EXPECT_EQ(s.dropped, 0u);
}

// A datagram longer than the server reads at once (4 KiB) is FORMERR, with its id; a long
// response is dropped like any response.
TEST_F(DnsServerSockets, OversizedDatagramsGetFormerr) {
  start({});
  std::string big = encode_query(4242, "api.shop.demo.kontena.local", rrtype::a) + std::string(5000, 'x');
  auto out = test::udp_ask(port, big);
  ParsedResponse r;
  ASSERT_TRUE(out && parse_response(*out, r));
  EXPECT_EQ(r.id, 4242);
  EXPECT_EQ(r.rcode, Rcode::formerr);
  std::string response = big;
  response[2] = static_cast<char>(response[2] | 0x80);  // QR
  EXPECT_FALSE(test::udp_ask(port, response, 300ms));
  EXPECT_TRUE(test::udp_ask(port, encode_query(1, "api.shop.demo.kontena.local", rrtype::a)));
  EXPECT_EQ(server->stats().formerr, 1u);
}

TEST_F(DnsServerSockets, StopAndStartAgain) {
  start({});
  server->stop();
  EXPECT_FALSE(server->running());
  EXPECT_FALSE(test::udp_ask(port, encode_query(1, "api.shop.demo.kontena.local", rrtype::a), 200ms));
  server->start();
  port = server->ports().at(0);
  EXPECT_TRUE(test::udp_ask(port, encode_query(1, "api.shop.demo.kontena.local", rrtype::a)));
}

TEST_F(DnsServerSockets, AddressInUseIsAClearError) {
  start({});
  DnsServerOptions options;
  options.listen = {"127.0.0.1:" + std::to_string(port)};
  DnsServer second(table, options);
  try {
    second.start();
    FAIL() << "the port is taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kontena::agent::dns
