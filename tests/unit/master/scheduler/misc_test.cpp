// Smaller rules: strategy names, memory-exempt instances per strategy, self affinity in plans,
// inputs that are odd but legal.
#include "fixture.h"

namespace kontena::scheduler::testing {
namespace {

const TimePoint T0{std::chrono::seconds(1'700'000'000)};

TEST(Strategy, Names) {
  EXPECT_EQ(parse_strategy("ha"), Strategy::ha);
  EXPECT_EQ(parse_strategy(""), Strategy::ha);
  EXPECT_EQ(parse_strategy("daemon"), Strategy::daemon);
  EXPECT_EQ(parse_strategy("random"), Strategy::random);
  auto e = error_of([] { parse_strategy("spread"); });
  EXPECT_EQ(e.kind(), ErrorKind::invalid);
  EXPECT_EQ(e.field(), "strategy");
  for (auto s : {Strategy::ha, Strategy::daemon, Strategy::random}) EXPECT_EQ(parse_strategy(to_string(s)), s);
}

// Node 1 is short of memory: new instances avoid it, an instance already numbered may use it.
class MemoryExempt : public ::testing::TestWithParam<Strategy> {};

TEST_P(MemoryExempt, ExistingInstancesMayStayOnANodeShortOfMemory) {
  auto ns = nodes(2);
  ns[0].has_memory_stats = true;
  ns[0].mem_used = ns[0].mem_total;  // nothing free
  auto s = service("web", GetParam() == Strategy::daemon ? 1 : 2, GetParam());
  Rng rng(1);
  auto m = by_name(ns, schedule(ns, s, on({{1, "node-1"}}), rng));
  EXPECT_EQ(m[1], "node-1");
  EXPECT_EQ(m[2], "node-2");
  Rng rng2(1);
  auto fresh = by_name(ns, schedule(ns, s, {}, rng2));
  if (GetParam() != Strategy::daemon) {
    EXPECT_EQ(fresh[1], "node-2");
    EXPECT_EQ(fresh[2], "node-2");
  } else {
    // A daemon counts only the nodes it can run on: here node-2.
    EXPECT_EQ(fresh.size(), 1u);
    EXPECT_EQ(fresh[1], "node-2");
  }
}

INSTANTIATE_TEST_SUITE_P(Scheduler, MemoryExempt, ::testing::Values(Strategy::ha, Strategy::daemon, Strategy::random),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(PlanAffinity, SelfAntiAffinityMovesTheSecondInstanceOnANode) {
  auto ns = nodes(3);
  auto s = service("web", 2);
  s.affinity = {"service!=web"};
  Rng rng(1);
  auto p = plan(ns, s, on({{1, "node-2"}, {2, "node-2"}}), T0, rng);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].instance_number, 2);
  EXPECT_EQ(p.moves[0].reason, MoveReason::node_unfit);
  EXPECT_EQ(p.moves[0].detail, "node node-2 does not match affinity service!=web");
  EXPECT_NE(p.moves[0].to_node, "id-node-2");
}

TEST(PlanAffinity, PerInstanceAffinityKeepsMatchingInstances) {
  auto ns = nodes(3);
  auto s = service("web", 3);
  s.affinity = {"node==node-%s"};
  Rng rng(1);
  auto p = plan(ns, s, on({{1, "node-1"}, {2, "node-3"}, {3, "node-3"}}), T0, rng);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].instance_number, 2);
  EXPECT_EQ(p.moves[0].to_node, "id-node-2");
}

TEST(PlanDependency, InstanceFollowsItsVolumesFrom) {
  auto ns = nodes(3);
  ns[2].instances.push_back(running("app/data", 1));
  auto s = service("web", 1);
  s.volumes_from = {"data-%s"};
  Rng rng(1);
  auto p = plan(ns, s, on({{1, "node-1"}}), T0, rng);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].to_node, "id-node-3");
  EXPECT_EQ(p.moves[0].detail, "node node-1 does not run data-1 (volumes_from data-%s)");
}

TEST(PlanStateful, WaitsWithinTheGracePeriodToo) {
  auto ns = nodes(2);
  ns[0].connected = false;
  ns[0].last_seen = T0;
  auto s = service("db", 1);
  s.stateful = true;
  Rng rng(1);
  auto p = plan(ns, s, on({{1, "node-1"}}), T0 + std::chrono::seconds(10), rng);
  ASSERT_EQ(p.waiting.size(), 1u);
  EXPECT_TRUE(p.held.empty());
  EXPECT_FALSE(p.changed());
}

TEST(PlanStateful, StaysOnItsEphemeralNode) {
  std::vector<SchedulerNode> ns{node("e", {"ephemeral=yes"}), node("f")};
  auto s = service("db", 1);
  s.stateful = true;
  Rng rng(1);
  auto p = plan(ns, s, on({{1, "e"}}), T0, rng);
  EXPECT_FALSE(p.changed());
  EXPECT_TRUE(p.held.empty());
}

TEST(Inputs, ZeroInstancesAndUnknownInstanceNumbers) {
  auto ns = nodes(2);
  Rng rng(1);
  auto p = schedule(ns, service("web", 0), on({{1, "node-1"}}), rng);
  EXPECT_EQ(p.instance_count, 0);
  EXPECT_TRUE(p.instances.empty());
  auto pl = plan(ns, service("web", 1), on({{0, "node-1"}, {-3, "node-2"}, {1, "node-1"}}), T0, rng);
  EXPECT_EQ(pl.removals.size(), 2u);
  EXPECT_TRUE(pl.moves.empty());
}

TEST(Inputs, EmptyStackIsTheNullStack) {
  auto ns = nodes(2);
  ns[0].instances.push_back(running("null/db", 1));
  auto s = service("web", 1);
  s.stack = "";
  s.affinity = {"service==db"};
  Rng rng(1);
  EXPECT_EQ(by_name(ns, schedule(ns, s, {}, rng))[1], "node-1");
  EXPECT_EQ(s.path(), "null/web");
}

TEST(Inputs, InstancesOfTheServiceItselfOnNodesAreIgnored) {
  // The service's own placement comes from `current`, not from the nodes' instance lists.
  auto ns = nodes(2);
  ns[0].instances.push_back(running("app/web", 1, {{80, 80, "tcp"}}));
  auto s = service("web", 1);
  s.ports = {{80, 80, "tcp"}};
  Rng rng(1);
  EXPECT_EQ(by_name(ns, schedule(ns, s, on({{1, "node-1"}}), rng))[1], "node-1");
}

}  // namespace
}  // namespace kontena::scheduler::testing
