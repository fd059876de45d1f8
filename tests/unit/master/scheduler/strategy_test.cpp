// Strategies (reference §5.3): ha spreads over availability zones then nodes, daemon runs
// instances on every node, random draws; stateful instances stay on their node.
#include "fixture.h"

namespace kontena::scheduler::testing {
namespace {

Placement place(const std::vector<SchedulerNode>& ns, const ServiceSpec& s, const std::vector<CurrentInstance>& cur = {},
                std::uint64_t seed = 3) {
  Rng rng(seed);
  return schedule(ns, s, cur, rng);
}

std::vector<SchedulerNode> zoned() {
  // 3 nodes in az a, 1 in az b, 2 in az c.
  return {node("a1", {"az=a"}), node("a2", {"az=a"}), node("a3", {"az=a"}),
          node("b1", {"az=b"}), node("c1", {"az=c"}), node("c2", {"az=c"})};
}

std::map<std::string, int> per_zone(const std::vector<SchedulerNode>& ns, const Placement& p) {
  std::map<std::string, int> m;
  for (const auto& a : p.instances) ++m[ns[a.node_index].labels.empty() ? "default" : ns[a.node_index].labels[0]];
  return m;
}

TEST(Ha, SpreadsOverZonesFirst) {
  auto ns = zoned();
  auto p = place(ns, service("web", 3));
  EXPECT_EQ(per_zone(ns, p), (std::map<std::string, int>{{"az=a", 1}, {"az=b", 1}, {"az=c", 1}}));
  p = place(ns, service("web", 6));
  EXPECT_EQ(per_zone(ns, p), (std::map<std::string, int>{{"az=a", 2}, {"az=b", 2}, {"az=c", 2}}));
  // Within a zone, over its nodes: the 2 in az c are on c1 and c2.
  auto m = per_node(ns, p.instances);
  EXPECT_EQ(m["c1"], 1);
  EXPECT_EQ(m["c2"], 1);
  EXPECT_EQ(m["b1"], 2);
}

TEST(Ha, NodesWithoutAzLabelShareTheDefaultZone) {
  std::vector<SchedulerNode> ns{node("x"), node("y"), node("z", {"az=b"})};
  auto p = place(ns, service("web", 2));
  EXPECT_EQ(per_zone(ns, p), (std::map<std::string, int>{{"az=b", 1}, {"default", 1}}));
}

TEST(Ha, SpreadsOverNodesWithinAZoneEvenly) {
  auto ns = nodes(5);
  for (int count : {5, 10, 23}) {
    auto m = per_node(ns, place(ns, service("web", count)).instances);
    int lo = 1 << 30, hi = 0;
    for (auto& [n, c] : m) lo = std::min(lo, c), hi = std::max(hi, c);
    EXPECT_EQ(m.size(), 5u);
    EXPECT_LE(hi - lo, 1) << count;
  }
}

TEST(Ha, PrefersTheLessUsedMemoryAmongEquals) {
  auto ns = nodes(3);
  for (auto& n : ns) n.has_memory_stats = true;
  ns[0].mem_used = 6 * GiB;
  ns[1].mem_used = 1 * GiB;
  ns[2].mem_used = 4 * GiB;
  auto m = by_name(ns, place(ns, service("web", 3)));
  EXPECT_EQ(m[1], "node-2");
  EXPECT_EQ(m[2], "node-3");
  EXPECT_EQ(m[3], "node-1");
}

TEST(Ha, KeepsAnInstanceOnItsNodeAmongEqualCandidates) {
  auto ns = nodes(4);
  for (auto& n : ns) n.has_memory_stats = true;
  ns[3].mem_used = 7 * GiB;  // the most loaded node: instance 1 stays there anyway
  auto m = by_name(ns, place(ns, service("web", 2), on({{1, "node-4"}, {2, "node-3"}})));
  EXPECT_EQ(m[1], "node-4");
  EXPECT_EQ(m[2], "node-3");
}

TEST(Ha, StickinessDoesNotBeatSpreading) {
  auto ns = zoned();
  // Both instances in az a now: the second one moves to another zone.
  auto p = place(ns, service("web", 2), on({{1, "a1"}, {2, "a2"}}));
  auto m = by_name(ns, p);
  EXPECT_EQ(m[1], "a1");
  EXPECT_NE(m[2].substr(0, 1), "a");
}

TEST(Ha, TiesAreBrokenByTheInjectedRng) {
  auto ns = nodes(50);
  auto a = place(ns, service("web", 1), {}, 1);
  auto b = place(ns, service("web", 1), {}, 1);
  EXPECT_EQ(a.instances, b.instances);
  std::set<std::string> picks;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) picks.insert(by_name(ns, place(ns, service("web", 1), {}, seed))[1]);
  EXPECT_GT(picks.size(), 10u);
}

TEST(Daemon, InstancesTimesFittingNodes) {
  auto ns = nodes(4);
  ns[3].labels = {"role=edge"};
  auto s = service("agent", 2, Strategy::daemon);
  auto p = place(ns, s);
  EXPECT_EQ(p.instance_count, 8);
  auto m = per_node(ns, p.instances);
  for (auto& [n, c] : m) EXPECT_EQ(c, 2) << n;
  s.affinity = {"label!=role=edge"};
  p = place(ns, s);
  EXPECT_EQ(p.instance_count, 6);
  EXPECT_EQ(per_node(ns, p.instances).count("node-4"), 0u);
}

TEST(Daemon, FillsNodesInNodeNumberOrder) {
  std::vector<SchedulerNode> ns{node("c", {}, 3), node("a", {}, 1), node("b", {}, 2)};
  auto m = by_name(ns, place(ns, service("agent", 1, Strategy::daemon)));
  EXPECT_EQ(m[1], "a");
  EXPECT_EQ(m[2], "b");
  EXPECT_EQ(m[3], "c");
}

TEST(Daemon, KeepsInstancesWhereTheyAre) {
  auto ns = nodes(3);
  auto m = by_name(ns, place(ns, service("agent", 1, Strategy::daemon), on({{1, "node-3"}, {2, "node-1"}})));
  EXPECT_EQ(m[1], "node-3");
  EXPECT_EQ(m[2], "node-1");
  EXPECT_EQ(m[3], "node-2");
}

TEST(Daemon, NewNodeGetsTheNewInstance) {
  auto ns = nodes(3);
  auto p = place(ns, service("agent", 1, Strategy::daemon), on({{1, "node-1"}, {2, "node-2"}}));
  EXPECT_EQ(by_name(ns, p)[3], "node-3");
}

TEST(Random, KeepsThePreviousNodeWhenItStillFits) {
  auto ns = nodes(10);
  auto m = by_name(ns, place(ns, service("w", 3, Strategy::random), on({{1, "node-7"}, {2, "node-7"}, {3, "node-2"}})));
  EXPECT_EQ(m[1], "node-7");
  EXPECT_EQ(m[2], "node-7");
  EXPECT_EQ(m[3], "node-2");
  ns[6].availability = Availability::drain;
  m = by_name(ns, place(ns, service("w", 3, Strategy::random), on({{1, "node-7"}})));
  EXPECT_NE(m[1], "node-7");
}

TEST(Random, DrawsOverAllFittingNodesDeterministically) {
  auto ns = nodes(8);
  auto s = service("w", 4000, Strategy::random);
  s.affinity = {"node!=node-1"};
  auto p = place(ns, s, {}, 9);
  EXPECT_EQ(p.instances, place(ns, s, {}, 9).instances);
  auto m = per_node(ns, p.instances);
  EXPECT_EQ(m.count("node-1"), 0u);
  EXPECT_EQ(m.size(), 7u);
  for (auto& [n, c] : m) {
    EXPECT_GT(c, 400) << n;  // about 571 each
    EXPECT_LT(c, 750) << n;
  }
  EXPECT_NE(place(ns, s, {}, 10).instances, p.instances);
}

TEST(Stateful, StaysOnItsNode) {
  auto ns = nodes(3);
  auto s = service("db", 2);
  s.stateful = true;
  auto m = by_name(ns, place(ns, s, on({{1, "node-3"}, {2, "node-3"}})));
  EXPECT_EQ(m[1], "node-3");
  EXPECT_EQ(m[2], "node-3");
}

TEST(Stateful, NeverMovesAutomatically) {
  auto ns = nodes(3);
  auto s = service("db", 1);
  s.stateful = true;
  ns[2].connected = false;
  auto e = error_of([&] { place(ns, s, on({{1, "node-3"}})); });
  EXPECT_EQ(e.kind(), ErrorKind::conflict);
  EXPECT_EQ(e.field(), "stateful");
  EXPECT_EQ(std::string(e.what()),
            "cannot place instance 1 of service app/db: it is stateful and stays on node node-3, but node node-3 is "
            "offline (stateful instances are not moved automatically)");
  ns[2].connected = true;
  ns[2].availability = Availability::drain;
  EXPECT_NE(std::string(error_of([&] { place(ns, s, on({{1, "node-3"}})); }).what()).find("node node-3 is drained"),
            std::string::npos);
  ns[2].availability = Availability::active;
  s.affinity = {"node!=node-3"};
  EXPECT_NE(std::string(error_of([&] { place(ns, s, on({{1, "node-3"}})); }).what())
                .find("node node-3 does not match affinity node!=node-3"),
            std::string::npos);
}

TEST(Stateful, RemovedNodeGetsANewOne) {
  auto ns = nodes(3);
  auto s = service("db", 2);
  s.stateful = true;
  auto m = by_name(ns, place(ns, s, on({{1, ""}, {2, "gone"}})));  // no node, unknown node
  EXPECT_EQ(m.size(), 2u);
  EXPECT_NE(m[1], m[2]);
}

}  // namespace
}  // namespace kontena::scheduler::testing
