// The one IPv4 parser of the agent's network code (common/ipv4.h).
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/ipv4.h"

namespace kontena::net {
namespace {

TEST(Ipv4, DottedQuadsOnly) {
  EXPECT_EQ(try_parse_ipv4("10.81.128.2"), (10u << 24) | (81u << 16) | (128u << 8) | 2u);
  for (const char* bad : {"", "10.81.128", "10.81.128.256", "10.81.128.02", "10.81.128.2.", "+1.2.3.4", "a.b.c.d"})
    EXPECT_EQ(try_parse_ipv4(bad), std::nullopt) << bad;
  EXPECT_EQ(format_ipv4(*try_parse_ipv4("192.168.9.44")), "192.168.9.44");
}

TEST(Ipv4, NetworksRefuseOrDropHostBits) {
  EXPECT_EQ(try_parse_cidr("10.81.0.0/16")->str(), "10.81.0.0/16");
  EXPECT_EQ(try_parse_cidr("10.81.7.9/16"), std::nullopt);
  EXPECT_EQ(try_parse_cidr("10.81.7.9/16", HostBits::drop)->str(), "10.81.0.0/16");
  for (const char* bad : {"10.81.0.0", "10.81.0.0/", "10.81.0.0/33", "10.81.0.0/x", "fd00::/64"})
    EXPECT_EQ(try_parse_cidr(bad, HostBits::drop), std::nullopt) << bad;
  auto c = parse_cidr("10.81.128.0/25", "slice");
  EXPECT_EQ(c.size(), 128u);
  EXPECT_TRUE(c.contains(*try_parse_ipv4("10.81.128.127")));
  EXPECT_FALSE(c.contains(*try_parse_ipv4("10.81.128.128")));
  try {
    parse_cidr("10.81.7.9/16", "grid subnet");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("its network is 10.81.0.0/16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kontena::net
