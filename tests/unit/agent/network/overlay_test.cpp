// The overlay's convergence against a fake kernel (fake_kernel.h): from nothing, from a partly
// built or damaged state, peers added and removed, a changed private IP, the iptables filter, and
// the messages of the failures. The real kernel is covered by tests/e2e/overlay_test.sh.
#include <gtest/gtest.h>

#include "agent/network/overlay.h"
#include "common/error.h"
#include "fake_kernel.h"

using namespace kontena::agent::network;
using namespace kontena::agent::network::testing;
using kontena::Error;
using kontena::ErrorKind;

namespace {

OverlayConfig config(std::vector<std::string> peers = {"10.99.51.12", "10.99.51.13"}) {
  OverlayConfig c;
  c.address = "10.81.0.1/16";
  c.local_ip = "10.99.51.11";
  c.peers = std::move(peers);
  return c;
}

template <class F>
Error error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no kontena::Error thrown";
  return Error(ErrorKind::internal, "none");
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool any_contains(const std::vector<std::string>& lines, const std::string& part) {
  for (const auto& l : lines)
    if (contains(l, part)) return true;
  return false;
}

std::vector<std::string> chain_for(std::vector<std::string> peers) {
  std::vector<std::string> rules;
  for (const auto& p : peers) rules.push_back("-A KONTENA-OVERLAY -s " + p + "/32 -j ACCEPT");
  rules.push_back("-A KONTENA-OVERLAY -j DROP");
  return rules;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The ACCEPT rules in any order, then exactly one DROP at the end.
void expect_chain(const FakeKernel& k, const std::vector<std::string>& peers) {
  ASSERT_TRUE(k.chains.count("KONTENA-OVERLAY"));
  auto rules = k.chains.at("KONTENA-OVERLAY");
  ASSERT_FALSE(rules.empty());
  EXPECT_EQ(rules.back(), "-A KONTENA-OVERLAY -j DROP");
  auto want = chain_for(peers);
  EXPECT_EQ(sorted(rules), sorted(want));
}

}  // namespace

TEST(Overlay, ConvergesFromNothing) {
  FakeKernel k;
  Overlay overlay(k);
  auto changes = overlay.ensure(config());
  EXPECT_TRUE(any_contains(changes, "bridge kontena0 created"));
  EXPECT_TRUE(any_contains(changes, "vxlan vxkontena created"));
  EXPECT_TRUE(any_contains(changes, "peer 10.99.51.12 added"));

  ASSERT_TRUE(k.links.count("kontena0"));
  const auto& br = k.links["kontena0"];
  EXPECT_EQ(br.kind, "bridge");
  EXPECT_EQ(br.mtu, 1450);
  EXPECT_TRUE(br.up);
  EXPECT_EQ(br.addrs, std::vector<std::string>{"10.81.0.1/16"});
  EXPECT_EQ(br.mac, "02:4b:0a:51:00:01");

  ASSERT_TRUE(k.links.count("vxkontena"));
  const auto& vx = k.links["vxkontena"];
  EXPECT_EQ(vx.kind, "vxlan");
  EXPECT_EQ(vx.id, 81);
  EXPECT_EQ(vx.local, "10.99.51.11");
  EXPECT_EQ(vx.dev, "eth0");
  EXPECT_EQ(vx.port, 4789);
  EXPECT_TRUE(vx.learning);
  EXPECT_EQ(vx.mtu, 1450);
  EXPECT_EQ(vx.master, "kontena0");
  EXPECT_TRUE(vx.up);
  EXPECT_EQ(sorted(vx.flood), (std::vector<std::string>{"10.99.51.12", "10.99.51.13"}));
  EXPECT_TRUE(k.ran("ip link add vxkontena type vxlan id 81 local 10.99.51.11 dev eth0 dstport 4789 learning"));

  expect_chain(k, {"10.99.51.12", "10.99.51.13"});
  EXPECT_EQ(k.chains["INPUT"], std::vector<std::string>{"-A INPUT -p udp -m udp --dport 4789 -j KONTENA-OVERLAY"});

  EXPECT_EQ(overlay.peers(), (std::vector<std::string>{"10.99.51.12", "10.99.51.13"}));
}

TEST(Overlay, SecondRunChangesNothingAndOnlyReads) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config());
  k.log.clear();
  EXPECT_EQ(overlay.ensure(config()), std::vector<std::string>{});
  EXPECT_EQ(k.changing_commands(), std::vector<std::string>{});
  // A fresh Overlay (an agent restart) sees the same: nothing to do.
  Overlay again(k);
  EXPECT_EQ(again.ensure(config()), std::vector<std::string>{});
  EXPECT_EQ(k.changing_commands(), std::vector<std::string>{});
}

TEST(Overlay, FixesAPartlyBuiltBridge) {
  FakeKernel k;
  FakeLink br;
  br.kind = "bridge";
  br.mtu = 1500;
  br.up = false;
  br.addrs = {"10.81.0.9/16", "192.168.5.1/24"};
  k.links["kontena0"] = br;
  Overlay overlay(k);
  auto changes = overlay.ensure(config());
  EXPECT_FALSE(k.ran("ip link add kontena0 type bridge"));
  EXPECT_TRUE(k.ran("ip addr del 10.81.0.9/16 dev kontena0"));
  EXPECT_TRUE(k.ran("ip addr del 192.168.5.1/24 dev kontena0"));
  EXPECT_EQ(k.links["kontena0"].addrs, std::vector<std::string>{"10.81.0.1/16"});
  EXPECT_EQ(k.links["kontena0"].mtu, 1450);
  EXPECT_TRUE(k.links["kontena0"].up);
  EXPECT_TRUE(any_contains(changes, "bridge kontena0 MTU 1500 -> 1450"));
  EXPECT_TRUE(any_contains(changes, "address 10.81.0.9/16 removed"));
  EXPECT_TRUE(any_contains(changes, "bridge kontena0 set up"));
  EXPECT_TRUE(any_contains(changes, "vxlan vxkontena created"));
}

TEST(Overlay, RepairsADetachedDownVxlanWithoutRecreatingIt) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config());
  k.links["vxkontena"].master.clear();
  k.links["vxkontena"].up = false;
  k.links["vxkontena"].mtu = 1500;
  k.log.clear();
  auto changes = overlay.ensure(config());
  EXPECT_EQ(changes, (std::vector<std::string>{"vxlan vxkontena MTU 1500 -> 1450", "vxlan vxkontena attached to kontena0",
                                               "vxlan vxkontena set up"}));
  EXPECT_FALSE(any_contains(k.log, "ip link del"));
  EXPECT_EQ(k.links["vxkontena"].master, "kontena0");
}

TEST(Overlay, VxlanDeletedByHandIsMadeAgainWithItsPeers) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config());
  k.links.erase("vxkontena");
  auto changes = overlay.ensure(config());
  EXPECT_TRUE(any_contains(changes, "vxlan vxkontena created"));
  EXPECT_EQ(sorted(k.links["vxkontena"].flood), (std::vector<std::string>{"10.99.51.12", "10.99.51.13"}));
  EXPECT_EQ(k.links["vxkontena"].master, "kontena0");
}

TEST(Overlay, PeersAddedAndRemovedOtherEntriesUntouched) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config({"10.99.51.12", "10.99.51.13"}));
  // A learned unicast entry and its own MAC: not flood entries, never touched.
  k.links["vxkontena"].entries.push_back({"aa:bb:cc:dd:ee:ff", "10.99.51.12"});
  k.log.clear();
  auto changes = overlay.ensure(config({"10.99.51.13", "10.99.51.14"}));
  EXPECT_EQ(sorted(k.links["vxkontena"].flood), (std::vector<std::string>{"10.99.51.13", "10.99.51.14"}));
  EXPECT_TRUE(k.ran("bridge fdb append 00:00:00:00:00:00 dev vxkontena dst 10.99.51.14"));
  EXPECT_TRUE(k.ran("bridge fdb del 00:00:00:00:00:00 dev vxkontena dst 10.99.51.12"));
  EXPECT_FALSE(any_contains(k.log, "dst 10.99.51.13"));
  EXPECT_EQ(k.links["vxkontena"].entries.size(), 1u);
  EXPECT_TRUE(any_contains(changes, "peer 10.99.51.14 added"));
  EXPECT_TRUE(any_contains(changes, "peer 10.99.51.12 removed"));
  expect_chain(k, {"10.99.51.13", "10.99.51.14"});
  // The DROP rule stayed where it was all along (no window for other senders).
  EXPECT_FALSE(any_contains(k.log, "-A KONTENA-OVERLAY -j DROP"));

  overlay.ensure(config({}));
  EXPECT_EQ(k.links["vxkontena"].flood, std::vector<std::string>{});
  expect_chain(k, {});
  EXPECT_EQ(overlay.peers(), std::vector<std::string>{});
}

TEST(Overlay, DuplicatePeersCountOnce) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config({"10.99.51.12", "10.99.51.12"}));
  EXPECT_EQ(k.links["vxkontena"].flood, std::vector<std::string>{"10.99.51.12"});
}

TEST(Overlay, ChangedLocalIpRecreatesTheVxlan) {
  FakeKernel k;
  k.links["eth1"] = iface({"10.99.52.11/24"});
  Overlay overlay(k);
  overlay.ensure(config());
  k.log.clear();
  auto c = config();
  c.local_ip = "10.99.52.11";
  auto changes = overlay.ensure(c);
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.front(), "vxlan vxkontena re-created (local 10.99.51.11 -> 10.99.52.11, dev eth0 -> eth1)");
  EXPECT_TRUE(k.ran("ip link del dev vxkontena"));
  EXPECT_TRUE(k.ran("ip link add vxkontena type vxlan id 81 local 10.99.52.11 dev eth1 dstport 4789 learning"));
  EXPECT_EQ(k.links["vxkontena"].local, "10.99.52.11");
  EXPECT_EQ(k.links["vxkontena"].master, "kontena0");
  EXPECT_EQ(sorted(k.links["vxkontena"].flood), (std::vector<std::string>{"10.99.51.12", "10.99.51.13"}));
  EXPECT_FALSE(k.ran("ip link add kontena0 type bridge"));
}

TEST(Overlay, ChangedVniOrPortRecreatesTheVxlan) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config());
  auto c = config();
  c.vni = 82;
  c.port = 8472;
  auto changes = overlay.ensure(c);
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.front(), "vxlan vxkontena re-created (vni 81 -> 82, port 4789 -> 8472)");
  EXPECT_EQ(k.links["vxkontena"].id, 82);
  EXPECT_EQ(k.links["vxkontena"].port, 8472);
  // The filter follows the port: the old jump is gone, the new one is there.
  EXPECT_EQ(k.chains["INPUT"], std::vector<std::string>{"-A INPUT -p udp -m udp --dport 8472 -j KONTENA-OVERLAY"});
}

// A Linux bridge takes the lowest MAC of its ports: a container's veth joining or leaving changes
// it unless it was set. The overlay sets it, and sets it back if anything changed it.
TEST(Overlay, TheBridgeMacIsFixedAndRestored) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config());
  ASSERT_EQ(k.links["kontena0"].mac, "02:4b:0a:51:00:01");
  k.links["kontena0"].mac = "02:42:0A:51:80:05";  // as if the kernel had taken a port's MAC
  auto changes = overlay.ensure(config());
  EXPECT_EQ(k.links["kontena0"].mac, "02:4b:0a:51:00:01");
  EXPECT_TRUE(any_contains(changes, "bridge kontena0 MAC 02:42:0a:51:80:05 -> 02:4b:0a:51:00:01"));
  // The same MAC in upper case (as some tools print it) is no change.
  k.links["kontena0"].mac = "02:4B:0A:51:00:01";
  EXPECT_TRUE(overlay.ensure(config()).empty());
}

TEST(BridgeMac, FollowsTheOverlayIp) {
  EXPECT_EQ(bridge_mac("10.81.0.3"), "02:4b:0a:51:00:03");
  EXPECT_EQ(bridge_mac("192.168.255.254"), "02:4b:c0:a8:ff:fe");
  EXPECT_EQ(error_of([] { bridge_mac("10.81.0"); }).kind(), ErrorKind::invalid);
  EXPECT_EQ(error_of([] { bridge_mac("10.81.0.3/16"); }).kind(), ErrorKind::invalid);
}

TEST(Overlay, ChangedAddressReplacesTheOldOne) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config());
  auto c = config();
  c.address = "10.81.0.1/24";
  auto changes = overlay.ensure(c);
  EXPECT_EQ(changes, (std::vector<std::string>{"bridge kontena0 address 10.81.0.1/16 removed", "bridge kontena0 address 10.81.0.1/24 added"}));
  EXPECT_EQ(k.links["kontena0"].addrs, std::vector<std::string>{"10.81.0.1/24"});
}

TEST(Overlay, DamagedChainIsRepaired) {
  FakeKernel k;
  k.chains["KONTENA-OVERLAY"] = {"-A KONTENA-OVERLAY -j DROP", "-A KONTENA-OVERLAY -s 10.99.51.12/32 -j ACCEPT",
                                 "-A KONTENA-OVERLAY -s 10.99.51.99/32 -j ACCEPT", "-A KONTENA-OVERLAY -s 10.99.51.12/32 -j ACCEPT"};
  k.chains["INPUT"] = {"-A INPUT -i lo -j ACCEPT", "-A INPUT -p udp -m udp --dport 4789 -j KONTENA-OVERLAY",
                       "-A INPUT -p udp -m udp --dport 4789 -j KONTENA-OVERLAY"};
  Overlay overlay(k);
  overlay.ensure(config());
  EXPECT_EQ(k.chains["KONTENA-OVERLAY"],
            (std::vector<std::string>{"-A KONTENA-OVERLAY -s 10.99.51.13/32 -j ACCEPT", "-A KONTENA-OVERLAY -s 10.99.51.12/32 -j ACCEPT",
                                      "-A KONTENA-OVERLAY -j DROP"}));
  // Someone else's INPUT rule stays; the duplicate jump goes.
  EXPECT_EQ(k.chains["INPUT"],
            (std::vector<std::string>{"-A INPUT -i lo -j ACCEPT", "-A INPUT -p udp -m udp --dport 4789 -j KONTENA-OVERLAY"}));
  k.log.clear();
  EXPECT_EQ(overlay.ensure(config()), std::vector<std::string>{});
}

TEST(Overlay, WithoutIptablesTheOverlayStillWorks) {
  FakeKernel k;
  k.iptables_installed = false;
  Overlay overlay(k);
  auto changes = overlay.ensure(config());
  EXPECT_FALSE(any_contains(changes, "iptables"));
  EXPECT_EQ(sorted(k.links["vxkontena"].flood), (std::vector<std::string>{"10.99.51.12", "10.99.51.13"}));
  overlay.ensure(config({"10.99.51.12"}));
  int probes = 0;
  for (const auto& l : k.log) probes += l.rfind("iptables", 0) == 0 ? 1 : 0;
  EXPECT_EQ(probes, 1);  // asked once, then left alone (and logged once)
  EXPECT_NO_THROW(overlay.teardown(config()));
}

TEST(Overlay, FailingCommandIsUnavailableWithTheCommandAndItsError) {
  FakeKernel k;
  k.fail_on("ip link add vxkontena", 2, "RTNETLINK answers: Operation not permitted\n");
  Overlay overlay(k);
  auto e = error_of([&] { overlay.ensure(config()); });
  EXPECT_EQ(e.kind(), ErrorKind::unavailable);
  EXPECT_EQ(std::string(e.what()),
            "cannot set up the overlay network: `ip link add vxkontena type vxlan id 81 local 10.99.51.11 dev eth0 dstport 4789 "
            "learning` failed (exit code 2): RTNETLINK answers: Operation not permitted");
  // The next run picks up where it stopped.
  overlay.ensure(config());
  EXPECT_EQ(k.links["vxkontena"].master, "kontena0");
}

TEST(Overlay, FailingReadIsUnavailableToo) {
  FakeKernel k;
  k.fail_on("ip -j addr show", 1, "Cannot open netlink socket: Permission denied\n");
  Overlay overlay(k);
  auto e = error_of([&] { overlay.ensure(config()); });
  EXPECT_EQ(e.kind(), ErrorKind::unavailable);
  EXPECT_TRUE(contains(e.what(), "`ip -j addr show`")) << e.what();
  EXPECT_TRUE(contains(e.what(), "Permission denied")) << e.what();
}

TEST(Overlay, BadConfigIsInvalid) {
  FakeKernel k;
  Overlay overlay(k);
  auto bad = [&](auto change, const std::string& field, const std::string& part) {
    auto c = config();
    change(c);
    auto e = error_of([&] { overlay.ensure(c); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_TRUE(contains(e.what(), part)) << e.what();
  };
  bad([](OverlayConfig& c) { c.address = "10.81.0.1"; }, "address", "like 10.81.0.3/16");
  bad([](OverlayConfig& c) { c.address = "10.81.0.300/16"; }, "address", "10.81.0.300/16");
  bad([](OverlayConfig& c) { c.local_ip = "node-1"; }, "local_ip", "is not an IPv4 address");
  bad([](OverlayConfig& c) { c.local_ip = "10.99.51.77"; }, "local_ip", "is on no interface");
  bad([](OverlayConfig& c) { c.peers = {"10.99.51.11"}; }, "peers", "this node's own private IP");
  bad([](OverlayConfig& c) { c.peers = {"10.99.51.x"}; }, "peers", "10.99.51.x");
  bad([](OverlayConfig& c) { c.vni = 0; }, "vni", "1-16777215");
  bad([](OverlayConfig& c) { c.port = 70000; }, "port", "1-65535");
  bad([](OverlayConfig& c) { c.mtu = 10; }, "mtu", "68-65535");
  bad([](OverlayConfig& c) { c.bridge = "a bridge"; }, "bridge", "not a valid interface name");
  bad([](OverlayConfig& c) { c.vxlan = "averyveryverylongname"; }, "vxlan", "not a valid interface name");
  EXPECT_EQ(k.changing_commands(), std::vector<std::string>{});  // nothing was touched
}

TEST(Overlay, ADeviceOfAnotherKindIsAConflict) {
  FakeKernel k;
  k.links["kontena0"] = iface({});
  Overlay overlay(k);
  auto e = error_of([&] { overlay.ensure(config()); });
  EXPECT_EQ(e.kind(), ErrorKind::conflict);
  EXPECT_TRUE(contains(e.what(), "kontena0 exists and is a veth, not a bridge")) << e.what();
  EXPECT_TRUE(contains(e.what(), "ip link del kontena0")) << e.what();
}

TEST(Overlay, TeardownRemovesEverythingAndIsIdempotent) {
  FakeKernel k;
  Overlay overlay(k);
  overlay.ensure(config());
  overlay.teardown(config());
  EXPECT_FALSE(k.links.count("kontena0"));
  EXPECT_FALSE(k.links.count("vxkontena"));
  EXPECT_TRUE(k.links.count("eth0"));
  EXPECT_FALSE(k.chains.count("KONTENA-OVERLAY"));
  EXPECT_EQ(k.chains["INPUT"], std::vector<std::string>{});
  EXPECT_EQ(overlay.peers(), std::vector<std::string>{});
  k.log.clear();
  EXPECT_NO_THROW(overlay.teardown(config()));
  EXPECT_EQ(k.changing_commands(), std::vector<std::string>{});
}

TEST(Overlay, InterfaceOf) {
  FakeKernel k;
  k.links["eth1"] = iface({"10.99.52.11/24", "10.99.53.11/24"});
  EXPECT_EQ(interface_of(k, "10.99.51.11"), "eth0");
  EXPECT_EQ(interface_of(k, "10.99.53.11"), "eth1");
  EXPECT_EQ(interface_of(k, "10.99.51.1"), "");
}

namespace kontena::agent::network {
namespace {

// A cloud VM's 1400-byte link cannot carry 1450-byte frames plus VXLAN's 50 bytes of headers.
TEST(OverlayMtu, FollowsTheUnderlayLink) {
  FakeKernel k;
  EXPECT_EQ(overlay_mtu(k, "10.99.51.11"), 1450);
  k.links["eth0"].mtu = 1400;
  EXPECT_EQ(overlay_mtu(k, "10.99.51.11"), 1350);
  k.links["eth0"].mtu = 9000;
  EXPECT_EQ(overlay_mtu(k, "10.99.51.11"), 1450);  // never above what was asked
  EXPECT_EQ(overlay_mtu(k, "10.99.51.11", 8950), 8950);
  EXPECT_EQ(overlay_mtu(k, "192.0.2.1"), 1450);    // an address on no interface: the default
}

}  // namespace
}  // namespace kontena::agent::network
