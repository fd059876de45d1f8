// The grid IPAM against FakeEtcd: slices per node, addresses per container, release, restarts,
// races, and what happens when etcd has no majority. One test runs against a real etcd member.
#include "agent/ipam/ipam.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/error.h"
#include "etcd_process.h"
#include "fake_etcd.h"

namespace kontena::agent::ipam {
namespace {

using namespace std::chrono_literals;
using etcd::FakeEtcd;

ErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no kontena::Error thrown";
  return ErrorKind::internal;
}

// A /24 grid with /28 slices: 8 slices of 14 usable addresses in 10.81.0.128/25.
// /24 slices (the default before node numbers up to 254 needed 256 slices): addresses the tests
// below spell out.
IpamConfig slash24() {
  IpamConfig config;
  config.slice_prefix = 24;
  return config;
}

IpamConfig small() {
  IpamConfig config;
  config.subnet = "10.81.0.0/24";
  config.slice_prefix = 28;
  return config;
}

TEST(IpamConfig, DefaultsCutTheUpperHalfIntoASliceForEveryNodeNumber) {
  FakeEtcd etcd;
  Ipam ipam(etcd, IpamConfig{});
  EXPECT_EQ(ipam.subnet().str(), "10.81.0.0/16");
  EXPECT_EQ(ipam.iprange().str(), "10.81.128.0/17");
  EXPECT_EQ(ipam.slice_prefix(), 25);  // 256 slices of 126 addresses: node numbers go up to 254
  IpamConfig wide;
  wide.subnet = "10.0.0.0/8";
  EXPECT_EQ(Ipam(etcd, wide).slice_prefix(), 17);
  IpamConfig narrow;
  narrow.subnet = "192.168.0.0/22";
  EXPECT_EQ(Ipam(etcd, narrow).slice_prefix(), 28);
  EXPECT_EQ(etcd.calls(), 0) << "the constructor must not talk to etcd";
}

TEST(IpamConfig, InvalidConfigIsRejected) {
  FakeEtcd etcd;
  auto with_subnet = [](std::string subnet, int slice_prefix = 0) {
    IpamConfig config;
    config.subnet = std::move(subnet);
    config.slice_prefix = slice_prefix;
    return config;
  };
  for (const char* subnet : {"10.81.0.0", "10.81.0.1/16", "10.81.0.0/33", "300.1.1.0/24", "10.81.0.0/4",
                             "10.81.0.0/25", "10.81.0/16", "10.81.0.0/x", "", "10.081.0.0/16", "10.81.0.0/16 "}) {
    std::string message;
    EXPECT_EQ(kind_of([&] { Ipam(etcd, with_subnet(subnet)); }, &message), ErrorKind::invalid) << subnet;
    EXPECT_FALSE(message.empty());
  }
  for (int prefix : {16, 8, 31, 32, -1})
    EXPECT_EQ(kind_of([&] { Ipam(etcd, with_subnet("10.81.0.0/16", prefix)); }), ErrorKind::invalid) << prefix;
  EXPECT_NO_THROW(Ipam(etcd, with_subnet("10.81.0.0/16", 17)));
  EXPECT_NO_THROW(Ipam(etcd, with_subnet("10.81.0.0/16", 30)));
  IpamConfig bad_pool;
  bad_pool.pool = "a/b";
  EXPECT_EQ(kind_of([&] { Ipam(etcd, bad_pool); }), ErrorKind::invalid);
  EXPECT_TRUE(etcd.keys().empty());
}

TEST(IpamSlices, EveryNodeNumberOfADefaultGridGetsASlice) {
  FakeEtcd etcd;
  Ipam ipam(etcd, IpamConfig{});
  std::set<std::string> slices;
  for (int n = 1; n <= 254; ++n) slices.insert(ipam.node_subnet("node-" + std::to_string(n)));
  EXPECT_EQ(slices.size(), 254u);
  EXPECT_TRUE(slices.count("10.81.128.0/25"));
  EXPECT_TRUE(slices.count("10.81.254.128/25"));
}

TEST(IpamSlices, ANewSliceNeverOverlapsAClaimOfAnotherSize) {
  FakeEtcd etcd;
  EXPECT_EQ(Ipam(etcd, slash24()).node_subnet("old-node"), "10.81.128.0/24");  // an earlier slice size
  Ipam ipam(etcd, IpamConfig{});
  EXPECT_EQ(ipam.node_subnet("new-node"), "10.81.129.0/25");
  EXPECT_EQ(ipam.node_subnet("old-node"), "10.81.128.0/24");  // kept as claimed
}

TEST(IpamSlices, ClaimsAreIdempotentAndDistinct) {
  FakeEtcd etcd;
  Ipam ipam(etcd, slash24());
  EXPECT_EQ(ipam.node_subnet("node-a"), "10.81.128.0/24");
  EXPECT_EQ(ipam.node_subnet("node-a"), "10.81.128.0/24");
  EXPECT_EQ(ipam.node_subnet("node-b"), "10.81.129.0/24");
  auto keys = etcd.keys();
  EXPECT_EQ(keys["/kontena/ipam/subnets/kontena/10.81.128.0/24"], "node-a");
  EXPECT_EQ(keys["/kontena/ipam/subnets/kontena/10.81.129.0/24"], "node-b");
  EXPECT_EQ(keys["/kontena/ipam/pool-nodes/kontena/node-a"], "10.81.128.0/24");
  auto pool = nlohmann::json::parse(keys["/kontena/ipam/pools/kontena"]);
  EXPECT_EQ(pool["subnet"], "10.81.0.0/16");
  EXPECT_EQ(pool["iprange"], "10.81.128.0/17");
  EXPECT_EQ(kind_of([&] { ipam.node_subnet(""); }), ErrorKind::invalid);
  EXPECT_EQ(kind_of([&] { ipam.node_subnet("../x"); }), ErrorKind::invalid);
}

TEST(IpamSlices, ReleasedNodeFreesItsSliceForTheNext) {
  FakeEtcd etcd;
  Ipam ipam(etcd, slash24());
  ipam.node_subnet("node-a");
  ipam.node_subnet("node-b");
  ipam.allocate("node-a", "web-1");
  ipam.allocate("node-a", "web-2");
  ipam.allocate("node-b", "db-1");
  ipam.release_node("node-a");
  ipam.release_node("node-a");  // idempotent
  auto keys = etcd.keys();
  EXPECT_FALSE(keys.count("/kontena/ipam/pool-nodes/kontena/node-a"));
  EXPECT_FALSE(keys.count("/kontena/ipam/subnets/kontena/10.81.128.0/24"));
  for (const auto& [key, value] : keys) EXPECT_EQ(value.find("\"node-a\""), std::string::npos) << key;
  EXPECT_EQ(ipam.describe()["addresses"], 1);
  EXPECT_EQ(ipam.node_subnet("node-c"), "10.81.128.0/24");
  EXPECT_EQ(ipam.node_subnet("node-b"), "10.81.129.0/24");
}

TEST(IpamSlices, FullPoolIsAConflict) {
  FakeEtcd etcd;
  Ipam ipam(etcd, small());
  std::set<std::string> slices;
  for (int i = 0; i < 8; ++i) slices.insert(ipam.node_subnet("n" + std::to_string(i)));
  EXPECT_EQ(slices.size(), 8u);
  EXPECT_TRUE(slices.count("10.81.0.128/28"));
  EXPECT_TRUE(slices.count("10.81.0.240/28"));
  auto before = etcd.keys();
  std::string message;
  EXPECT_EQ(kind_of([&] { ipam.node_subnet("n8"); }, &message), ErrorKind::conflict);
  EXPECT_NE(message.find("no free address slice"), std::string::npos) << message;
  EXPECT_NE(message.find("8 nodes already hold one"), std::string::npos) << message;
  EXPECT_EQ(etcd.keys(), before);
}

TEST(IpamSlices, ALostRaceTakesTheNextSlice) {
  FakeEtcd etcd;
  Ipam ipam(etcd, slash24());
  bool raced = false;
  etcd.set_before_call([&](const std::string& op, const std::string& key) {
    if (op == "create" && key == "/kontena/ipam/subnets/kontena/10.81.128.0/24" && !raced) {
      raced = true;  // another agent claims it between our list and our create
      etcd.put(key, "node-other");
    }
  });
  EXPECT_EQ(ipam.node_subnet("node-a"), "10.81.129.0/24");
  EXPECT_TRUE(raced);
  EXPECT_EQ(etcd.keys()["/kontena/ipam/subnets/kontena/10.81.128.0/24"], "node-other");
}

TEST(IpamSlices, AClaimWithoutItsIndexRecordIsAdopted) {
  FakeEtcd etcd;
  etcd.put("/kontena/ipam/subnets/kontena/10.81.131.0/24", "node-a");  // crashed before the index put
  Ipam ipam(etcd, IpamConfig{});
  EXPECT_EQ(ipam.node_subnet("node-a"), "10.81.131.0/24");
  EXPECT_EQ(etcd.keys()["/kontena/ipam/pool-nodes/kontena/node-a"], "10.81.131.0/24");
}

TEST(IpamSlices, APoolWithAnotherSubnetIsAConflict) {
  FakeEtcd etcd;
  Ipam(etcd, IpamConfig{}).node_subnet("node-a");
  IpamConfig other;
  other.subnet = "10.90.0.0/16";
  Ipam ipam(etcd, other);
  auto before = etcd.keys();
  std::string message;
  EXPECT_EQ(kind_of([&] { ipam.node_subnet("node-b"); }, &message), ErrorKind::conflict);
  EXPECT_NE(message.find("10.81.0.0/16"), std::string::npos) << message;
  EXPECT_EQ(etcd.keys(), before);
}

TEST(IpamAddresses, IdempotentPerOwnerAndRecorded) {
  ManualClock clock;
  FakeEtcd etcd;
  Ipam ipam(etcd, IpamConfig{}, &clock);
  auto web = ipam.allocate("node-a", "shop.web-1");
  EXPECT_EQ(web, "10.81.128.1");
  EXPECT_EQ(ipam.allocate("node-a", "shop.web-1"), web);
  EXPECT_EQ(ipam.allocate("node-a", "shop.web-2"), "10.81.128.2");
  auto record = nlohmann::json::parse(etcd.keys()["/kontena/ipam/addresses/kontena/10.81.128.1"]);
  EXPECT_EQ(record["owner"], "shop.web-1");
  EXPECT_EQ(record["node"], "node-a");
  EXPECT_EQ(record["at"], clock.now_unix_ms());
  EXPECT_EQ(kind_of([&] { ipam.allocate("node-a", ""); }), ErrorKind::invalid);
}

TEST(IpamAddresses, PreferredIsTakenWhenFreeAndInTheSlice) {
  FakeEtcd etcd;
  Ipam ipam(etcd, IpamConfig{});
  EXPECT_EQ(ipam.allocate("node-a", "a", "10.81.128.77"), "10.81.128.77");
  // Held by someone else, outside the slice, the network or broadcast address, or not an
  // address: the next free one after the last allocated instead.
  EXPECT_EQ(ipam.allocate("node-a", "b", "10.81.128.77"), "10.81.128.78");
  EXPECT_EQ(ipam.allocate("node-a", "c", "10.81.129.5"), "10.81.128.79");
  EXPECT_EQ(ipam.allocate("node-a", "d", "10.81.128.255"), "10.81.128.80");
  EXPECT_EQ(ipam.allocate("node-a", "e", "10.81.128.0"), "10.81.128.81");
  EXPECT_EQ(ipam.allocate("node-a", "f", "not-an-ip"), "10.81.128.82");
  EXPECT_EQ(ipam.allocate("node-a", "g", "10.81.128.3"), "10.81.128.3");
  // The owner's own address wins over a preferred one.
  EXPECT_EQ(ipam.allocate("node-a", "a", "10.81.128.99"), "10.81.128.77");
}

TEST(IpamAddresses, RoundRobinDoesNotReuseAJustReleasedAddress) {
  FakeEtcd etcd;
  Ipam ipam(etcd, IpamConfig{});
  EXPECT_EQ(ipam.allocate("node-a", "a"), "10.81.128.1");
  EXPECT_EQ(ipam.allocate("node-a", "b"), "10.81.128.2");
  EXPECT_EQ(ipam.allocate("node-a", "c"), "10.81.128.3");
  EXPECT_TRUE(ipam.release("10.81.128.3", "c"));
  EXPECT_TRUE(ipam.release("10.81.128.1"));
  EXPECT_EQ(ipam.allocate("node-a", "d"), "10.81.128.4");
  EXPECT_EQ(ipam.allocate("node-a", "c"), "10.81.128.5");
}

TEST(IpamAddresses, FullSliceWrapsAroundThenIsAConflictNamingTheSlice) {
  FakeEtcd etcd;
  Ipam ipam(etcd, small());
  ASSERT_EQ(ipam.node_subnet("n"), "10.81.0.128/28");
  std::set<std::string> got;
  for (int i = 0; i < 14; ++i) got.insert(ipam.allocate("n", "c" + std::to_string(i)));
  EXPECT_EQ(got.size(), 14u);
  EXPECT_FALSE(got.count("10.81.0.128")) << "network address handed out";
  EXPECT_FALSE(got.count("10.81.0.143")) << "broadcast address handed out";
  EXPECT_TRUE(got.count("10.81.0.129"));
  EXPECT_TRUE(got.count("10.81.0.142"));

  auto before = etcd.keys();
  std::string message;
  EXPECT_EQ(kind_of([&] { ipam.allocate("n", "one-too-many"); }, &message), ErrorKind::conflict);
  EXPECT_NE(message.find("10.81.0.128/28"), std::string::npos) << message;
  EXPECT_EQ(etcd.keys(), before);

  // After the last one, the search wraps to the start of the slice.
  EXPECT_TRUE(ipam.release("10.81.0.130"));
  EXPECT_EQ(ipam.allocate("n", "again"), "10.81.0.130");
}

TEST(IpamAddresses, ConcurrentAllocationsAreDistinct) {
  FakeEtcd etcd;
  Ipam ipam(etcd, IpamConfig{});
  Ipam other_agent_view(etcd, IpamConfig{});  // a second object: only etcd keeps them apart
  std::mutex mutex;
  std::vector<std::string> all;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Ipam& mine = t % 2 ? ipam : other_agent_view;
      for (int i = 0; i < 12; ++i) {
        auto ip = mine.allocate("node-a", "t" + std::to_string(t) + "-" + std::to_string(i));
        std::lock_guard lock(mutex);
        all.push_back(ip);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> distinct(all.begin(), all.end());
  EXPECT_EQ(all.size(), 96u);
  EXPECT_EQ(distinct.size(), 96u);
}

TEST(IpamAddresses, ReleaseChecksTheOwner) {
  FakeEtcd etcd;
  Ipam ipam(etcd, IpamConfig{});
  auto ip = ipam.allocate("node-a", "web-1");
  EXPECT_FALSE(ipam.release(ip, "web-2"));
  EXPECT_TRUE(etcd.keys().count("/kontena/ipam/addresses/kontena/" + ip));
  EXPECT_TRUE(ipam.release(ip, "web-1"));
  EXPECT_FALSE(etcd.keys().count("/kontena/ipam/addresses/kontena/" + ip));
  EXPECT_FALSE(ipam.release(ip, "web-1"));
  EXPECT_EQ(kind_of([&] { ipam.release("10.81.128"); }), ErrorKind::invalid);
}

TEST(IpamAddresses, AddressOfFindsTheOwnersAddressInTheNodesSlice) {
  FakeEtcd etcd;
  auto ip = Ipam(etcd, IpamConfig{}).allocate("node-a", "shop.web-1");
  Ipam restarted(etcd, IpamConfig{});  // an agent restarted: it remembers nothing itself
  EXPECT_EQ(restarted.address_of("node-a", "shop.web-1"), ip);
  EXPECT_EQ(restarted.address_of("node-a", "shop.web-2"), std::nullopt);
  EXPECT_EQ(restarted.address_of("node-b", "shop.web-1"), std::nullopt);  // another node's slice
  EXPECT_TRUE(restarted.release(ip, "shop.web-1"));
  EXPECT_EQ(restarted.address_of("node-a", "shop.web-1"), std::nullopt);
}

TEST(IpamAddresses, ReleaseUnusedKeepsOwnersInUseAndYoungAddresses) {
  ManualClock clock;
  FakeEtcd etcd;
  IpamConfig config;
  config.unused_grace = 60s;
  Ipam ipam(etcd, config, &clock);
  auto a = ipam.allocate("node-a", "a");
  auto b = ipam.allocate("node-a", "b");
  auto c = ipam.allocate("node-a", "c");
  auto elsewhere = ipam.allocate("node-b", "x");
  clock.advance(2min);
  auto young = ipam.allocate("node-a", "being-created");

  auto released = ipam.release_unused("node-a", {"a"});
  std::sort(released.begin(), released.end());
  EXPECT_EQ(released, (std::vector<std::string>{b, c}));
  auto keys = etcd.keys();
  EXPECT_TRUE(keys.count("/kontena/ipam/addresses/kontena/" + a));
  EXPECT_TRUE(keys.count("/kontena/ipam/addresses/kontena/" + young));
  EXPECT_TRUE(keys.count("/kontena/ipam/addresses/kontena/" + elsewhere));
  EXPECT_TRUE(ipam.release_unused("node-a", {"a"}).empty());
  EXPECT_TRUE(ipam.release_unused("node-unknown", {}).empty());
}

TEST(IpamAddresses, ARestartedIpamSeesTheSameState) {
  FakeEtcd etcd;
  std::string slice, web, db;
  {
    Ipam before(etcd, slash24());
    before.node_subnet("node-x");
    slice = before.node_subnet("node-a");
    web = before.allocate("node-a", "web-1");
    db = before.allocate("node-a", "db-1");
  }
  Ipam after(etcd, slash24());
  EXPECT_EQ(after.node_subnet("node-a"), slice);
  EXPECT_EQ(after.allocate("node-a", "web-1"), web);
  // Continues after the newest address rather than refilling from the start.
  auto next = after.allocate("node-a", "web-2");
  EXPECT_NE(next, web);
  EXPECT_NE(next, db);
  EXPECT_EQ(next, "10.81.129.3");
  auto described = after.describe();
  EXPECT_EQ(described["slices"]["node-a"], slice);
  EXPECT_EQ(described["slices"]["node-x"], "10.81.128.0/24");
  EXPECT_EQ(described["addresses"], 3);
  EXPECT_EQ(described["iprange"], "10.81.128.0/17");
}

TEST(IpamAddresses, NeverHandsOutARecordedAddressEvenFromAnotherNodeRecord) {
  FakeEtcd etcd;
  Ipam ipam(etcd, slash24());
  ASSERT_EQ(ipam.node_subnet("node-a"), "10.81.128.0/24");
  // Records this object did not write (another agent's, an unreadable one) count as used.
  etcd.put("/kontena/ipam/addresses/kontena/10.81.128.1", R"({"owner":"old","node":"node-a","at":1})");
  etcd.put("/kontena/ipam/addresses/kontena/10.81.128.2", "garbage");
  EXPECT_EQ(ipam.allocate("node-a", "new"), "10.81.128.3");
  // An unreadable record has no owner to compare with: release_unused keeps it.
  auto released = ipam.release_unused("node-a", {"new"});
  EXPECT_EQ(released, std::vector<std::string>{"10.81.128.1"});
  EXPECT_TRUE(etcd.keys().count("/kontena/ipam/addresses/kontena/10.81.128.2"));
}

TEST(IpamUnavailable, NoMajorityIsUnavailableAndChangesNothing) {
  FakeEtcd etcd;
  Ipam ipam(etcd, IpamConfig{});
  auto web = ipam.allocate("node-a", "web-1");
  auto before = etcd.keys();
  etcd.set_unavailable(true);

  std::string message;
  EXPECT_EQ(kind_of([&] { ipam.allocate("node-a", "web-2"); }, &message), ErrorKind::unavailable);
  EXPECT_NE(message.find("cannot get an overlay address for web-2"), std::string::npos) << message;
  EXPECT_NE(message.find("majority"), std::string::npos) << message;
  EXPECT_EQ(kind_of([&] { ipam.node_subnet("node-b"); }, &message), ErrorKind::unavailable);
  EXPECT_NE(message.find("majority"), std::string::npos) << message;
  EXPECT_EQ(kind_of([&] { ipam.release(web); }), ErrorKind::unavailable);
  EXPECT_EQ(kind_of([&] { ipam.release_unused("node-a", {}); }), ErrorKind::unavailable);
  EXPECT_EQ(kind_of([&] { ipam.release_node("node-a"); }), ErrorKind::unavailable);

  etcd.set_unavailable(false);
  EXPECT_EQ(etcd.keys(), before);
  EXPECT_EQ(ipam.allocate("node-a", "web-2"), "10.81.128.2");
}

TEST(IpamRealEtcd, AllocatesAgainstARealMember) {
  if (!etcd::testing::etcd_installed()) GTEST_SKIP() << "/usr/bin/etcd is not installed (Debian package etcd-server)";
  etcd::testing::EtcdCluster cluster(1);
  ASSERT_TRUE(cluster.wait_healthy());
  auto client = etcd::make_http_etcd_client(cluster.client_urls(), 2s);
  Ipam ipam(*client, slash24());
  EXPECT_EQ(ipam.node_subnet("node-a"), "10.81.128.0/24");
  EXPECT_EQ(ipam.node_subnet("node-b"), "10.81.129.0/24");
  auto web = ipam.allocate("node-a", "web-1");
  EXPECT_EQ(web, "10.81.128.1");
  EXPECT_EQ(ipam.allocate("node-a", "web-1"), web);
  EXPECT_EQ(ipam.allocate("node-b", "db-1", "10.81.129.9"), "10.81.129.9");
  EXPECT_TRUE(ipam.release(web, "web-1"));
  EXPECT_FALSE(client->get("/kontena/ipam/addresses/kontena/10.81.128.1"));
  ipam.release_node("node-b");
  EXPECT_EQ(ipam.describe()["slices"].size(), 1u);
}

}  // namespace
}  // namespace kontena::agent::ipam
