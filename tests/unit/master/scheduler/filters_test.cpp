// The filters of reference §5.1, each alone, and the errors naming them.
#include "fixture.h"

namespace kontena::scheduler::testing {
namespace {

Placement place(const std::vector<SchedulerNode>& ns, const ServiceSpec& s, const std::vector<CurrentInstance>& cur = {}) {
  Rng rng(7);
  return schedule(ns, s, cur, rng);
}

TEST(Filters, OnlyConnectedNodesReceiveInstances) {
  auto ns = nodes(3);
  ns[0].connected = false;
  ns[2].connected = false;
  auto p = place(ns, service("web", 3));
  for (const auto& a : p.instances) EXPECT_EQ(ns[a.node_index].name, "node-2");
}

TEST(Filters, NoConnectedNodes) {
  auto ns = nodes(2);
  for (auto& n : ns) n.connected = false;
  auto e = error_of([&] { place(ns, service("web")); });
  EXPECT_EQ(e.kind(), ErrorKind::conflict);
  EXPECT_EQ(e.field(), "nodes");
  EXPECT_EQ(std::string(e.what()), "cannot place instance 1 of service app/web: no connected nodes");
  auto none = error_of([&] { place({}, service("web")); });
  EXPECT_EQ(none.field(), "nodes");
}

TEST(Filters, AvailabilityDropsDrainedNodes) {
  auto ns = nodes(3);
  ns[0].availability = Availability::drain;
  ns[1].availability = Availability::drain;
  auto p = place(ns, service("web", 4));
  for (const auto& a : p.instances) EXPECT_EQ(ns[a.node_index].name, "node-3");
  ns[2].availability = Availability::drain;
  auto e = error_of([&] { place(ns, service("web")); });
  EXPECT_EQ(e.field(), "availability");
  EXPECT_NE(std::string(e.what()).find("every connected node is drained"), std::string::npos);
}

TEST(Filters, EphemeralNodesOnlyForStatelessServices) {
  std::vector<SchedulerNode> ns{node("a", {"ephemeral=yes"}), node("b", {"ephemeral"}), node("c")};
  auto db = service("db", 3);
  db.stateful = true;
  for (const auto& a : place(ns, db).instances) EXPECT_EQ(ns[a.node_index].name, "c");
  auto web = service("web", 3);
  EXPECT_EQ(per_node(ns, place(ns, web).instances).size(), 3u);
  ns.pop_back();
  auto e = error_of([&] { place(ns, db); });
  EXPECT_EQ(e.field(), "ephemeral");
  EXPECT_NE(std::string(e.what()).find("every candidate node is ephemeral"), std::string::npos);
}

TEST(Filters, EphemeralNodeKeepsAStatefulInstanceAlreadyThere) {
  std::vector<SchedulerNode> ns{node("a", {"ephemeral=true"}), node("b")};
  auto db = service("db", 1);
  db.stateful = true;
  auto p = place(ns, db, on({{1, "a"}}));
  EXPECT_EQ(by_name(ns, p)[1], "a");
}

TEST(Filters, PortInUseByAnotherServiceExcludesTheNode) {
  auto ns = nodes(3);
  ns[0].instances.push_back(running("other/lb", 1, {{80, 80, "tcp"}}));
  ns[1].instances.push_back(running("other/dns", 1, {{80, 53, "udp"}}));  // 80/udp: no conflict with 80/tcp
  auto web = service("web", 2);
  web.ports = {{80, 8080, "tcp"}};
  auto p = place(ns, web);
  auto m = per_node(ns, p.instances);
  EXPECT_EQ(m.count("node-1"), 0u);
  EXPECT_EQ(m["node-2"], 1);
  EXPECT_EQ(m["node-3"], 1);
}

TEST(Filters, TwoInstancesWithTheSameNodePortNeverShareANode) {
  auto ns = nodes(3);
  auto web = service("web", 3);
  web.ports = {{80, 80, "tcp"}};
  auto p = place(ns, web);
  EXPECT_EQ(per_node(ns, p.instances).size(), 3u);
  web.instances = 4;
  auto e = error_of([&] { place(ns, web); });
  EXPECT_EQ(e.field(), "port");
  EXPECT_EQ(std::string(e.what()), "cannot place instance 4 of service app/web: port 80/tcp is in use on every candidate node");
  web.ports.push_back({443, 443, "tcp"});
  auto e2 = error_of([&] { place(ns, web); });
  EXPECT_NE(std::string(e2.what()).find("ports 80/tcp, 443/tcp: every candidate node has one of them in use"),
            std::string::npos);
}

TEST(Filters, CpuNeedsEnoughCores) {
  auto ns = nodes(3);
  ns[0].cpus = 1;
  ns[1].cpus = 2;
  ns[2].cpus = 8;
  auto s = service("calc", 3);
  s.cpus = 2;
  auto m = per_node(ns, place(ns, s).instances);
  EXPECT_EQ(m.count("node-1"), 0u);
  s.cpus = 16;
  auto e = error_of([&] { place(ns, s); });
  EXPECT_EQ(e.field(), "cpu");
  EXPECT_NE(std::string(e.what()).find("no candidate node has 16 CPUs (the most is 8)"), std::string::npos);
}

TEST(Filters, MemoryFreeIsTotalMinusUsedPlusCacheAndBuffers) {
  auto ns = nodes(3);
  ns[0].mem_total = 1 * GiB;  // too small
  ns[1].has_memory_stats = true;  // 8 GiB, 7.5 used of which 1 cached + 0.5 buffers: 2 GiB free
  ns[1].mem_used = 7 * GiB + GiB / 2;
  ns[1].mem_cached = GiB;
  ns[1].mem_buffers = GiB / 2;
  ns[2].has_memory_stats = true;  // 8 GiB, 7.5 used, no cache: 0.5 GiB free
  ns[2].mem_used = 7 * GiB + GiB / 2;
  auto s = service("big", 2);
  s.memory = 2 * GiB;
  for (const auto& a : place(ns, s).instances) EXPECT_EQ(ns[a.node_index].name, "node-2");
  s.memory = 3 * GiB;
  auto e = error_of([&] { place(ns, s); });
  EXPECT_EQ(e.field(), "memory");
  EXPECT_NE(std::string(e.what()).find("no candidate node has 3.0 GiB of free memory"), std::string::npos);
}

TEST(Filters, MemoryDefaultsTo256MiBAndMemorySwap) {
  auto ns = nodes(2);
  ns[0].mem_total = 128 * 1024 * 1024;
  for (const auto& a : place(ns, service("small", 2)).instances) EXPECT_EQ(ns[a.node_index].name, "node-2");
  auto s = service("swap", 1);
  s.memory_swap = 16 * GiB;
  auto e = error_of([&] { place(ns, s); });
  EXPECT_EQ(e.field(), "memory");
}

TEST(Filters, MemoryDoesNotApplyToExistingInstances) {
  auto ns = nodes(1);
  ns[0].mem_total = 128 * 1024 * 1024;
  auto s = service("web", 2);
  auto p = place(ns, s, on({{1, "node-1"}, {2, ""}}));
  EXPECT_EQ(p.instances.size(), 2u);
  s.instances = 3;
  EXPECT_EQ(error_of([&] { place(ns, s, on({{1, "node-1"}})); }).field(), "memory");
}

TEST(Filters, VolumesFromCoLocatesWithTheSameNumberedInstanceOfTheStack) {
  auto ns = nodes(3);
  ns[0].instances.push_back(running("app/data", 2));
  ns[1].instances.push_back(running("app/data", 1));
  ns[2].instances.push_back(running("other/data", 1));  // another stack: no match
  auto s = service("web", 2);
  s.volumes_from = {"data-%s"};
  auto m = by_name(ns, place(ns, s));
  EXPECT_EQ(m[1], "node-2");
  EXPECT_EQ(m[2], "node-1");
  s.instances = 3;
  auto e = error_of([&] { place(ns, s); });
  EXPECT_EQ(e.field(), "dependency");
  EXPECT_EQ(std::string(e.what()),
            "cannot place instance 3 of service app/web: no candidate node runs data-3 of stack app "
            "(volumes_from data-%s)");
}

TEST(Filters, NetContainerCoLocates) {
  auto ns = nodes(3);
  ns[2].instances.push_back(running("app/vpn", 1));
  auto s = service("web", 1);
  s.net = "container:vpn-%s";
  EXPECT_EQ(by_name(ns, place(ns, s))[1], "node-3");
  s.net = "host";  // not a container dependency
  EXPECT_EQ(place(ns, s).instances.size(), 1u);
  s.net = "container:vpn-9";
  auto e = error_of([&] { place(ns, s); });
  EXPECT_EQ(e.field(), "dependency");
  EXPECT_NE(std::string(e.what()).find("runs vpn-9 of stack app (net container:vpn-9)"), std::string::npos);
}

TEST(Filters, TheFirstFilterThatLeavesNothingIsReported) {
  auto ns = nodes(2);
  auto s = service("web", 1);
  s.affinity = {"label==az=b"};
  s.cpus = 64;  // would fail too, but affinity comes first
  auto e = error_of([&] { place(ns, s); });
  EXPECT_EQ(e.field(), "affinity");
  EXPECT_EQ(std::string(e.what()), "cannot place instance 1 of service app/web: no nodes match affinity label==az=b");
}

TEST(Filters, InstanceCountOfDaemonCountsFittingNodes) {
  auto ns = nodes(4);
  ns[3].connected = false;
  ns[2].cpus = 1;
  auto s = service("agent", 2, Strategy::daemon);
  s.cpus = 2;
  EXPECT_EQ(instance_count(ns, s), 4);  // 2 fitting connected nodes x 2
  EXPECT_EQ(instance_count(ns, service("web", 5)), 5);
}

}  // namespace
}  // namespace kontena::scheduler::testing
