#include <gtest/gtest.h>

#include "agent/node_info.h"
#include "fake_docker.h"

using namespace kontena::agent;

namespace {

const char* kRoute =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    "eth1\t00000000\t0100000A\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
    "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    "eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";

std::vector<Ipv4Interface> interfaces() {
  return {{"lo", "127.0.0.1", true, true},
          {"docker0", "172.17.0.1", false, true},
          {"eth0", "192.168.1.20", false, true},
          {"eth1", "10.0.0.5", false, true}};
}

}  // namespace

TEST(NodeInfo, DefaultRouteInterfaceLowestMetric) {
  EXPECT_EQ("eth0", default_route_interface(kRoute));
  EXPECT_EQ("", default_route_interface("Iface\tDestination\n"));
  EXPECT_EQ("", default_route_interface(""));
}

TEST(NodeInfo, OptionsWin) {
  NodeAddresses a = choose_addresses({"1.2.3.4", "10.9.9.9", "eth1"}, interfaces(), "eth0");
  EXPECT_EQ("1.2.3.4", a.public_ip);
  EXPECT_EQ("10.9.9.9", a.private_ip);
}

TEST(NodeInfo, PeerInterfaceThenDefaultRoute) {
  NodeAddresses a = choose_addresses({"", "", "eth1"}, interfaces(), "eth0");
  EXPECT_EQ("10.0.0.5", a.private_ip);
  EXPECT_EQ("10.0.0.5", a.public_ip) << "public defaults to private";
  NodeAddresses b = choose_addresses({"", "", ""}, interfaces(), "eth0");
  EXPECT_EQ("192.168.1.20", b.private_ip);
  NodeAddresses c = choose_addresses({"", "", "wg0"}, interfaces(), "eth0");
  EXPECT_EQ("192.168.1.20", c.private_ip) << "an unknown peer interface falls back to the default route";
}

TEST(NodeInfo, NoDefaultRouteSkipsLoopbackAndContainerBridges) {
  NodeAddresses a = choose_addresses({}, interfaces(), "");
  EXPECT_EQ("192.168.1.20", a.private_ip);
  NodeAddresses b = choose_addresses({}, {{"lo", "127.0.0.1", true, true}, {"docker0", "172.17.0.1", false, true}}, "");
  EXPECT_EQ("172.17.0.1", b.private_ip);
  NodeAddresses c = choose_addresses({}, {{"lo", "127.0.0.1", true, true}}, "");
  EXPECT_EQ("127.0.0.1", c.private_ip);
}

TEST(NodeInfo, RealInterfacesGiveSomeAddress) {
  NodeAddresses a = resolve_addresses({});
  EXPECT_FALSE(a.private_ip.empty());
  EXPECT_EQ(a.private_ip, a.public_ip);
}

TEST(NodeInfo, PayloadFromFakeDocker) {
  fakes::FakeDocker docker;
  auto info = docker.info();
  auto payload = build_node_info(info, {"5.6.7.8", "10.0.0.5", "x"}, {"region=eu", "ssd"}, "0.1.0");
  EXPECT_EQ(info["ID"], payload["ID"]);
  EXPECT_EQ("fake-node", payload["Name"]);
  EXPECT_EQ(2, payload["NCPU"]);
  EXPECT_EQ("20.10.24", payload["ServerVersion"]);
  EXPECT_EQ("5.6.7.8", payload["PublicIp"]);
  EXPECT_EQ("10.0.0.5", payload["PrivateIp"]);
  EXPECT_EQ("0.1.0", payload["AgentVersion"]);
  EXPECT_EQ((nlohmann::json{"region=eu", "ssd"}), payload["Labels"]) << "the agent's labels replace the engine's";
  EXPECT_EQ(nlohmann::json::array(), build_node_info(info, {}, {}, "0.1.0")["Labels"]);
}
