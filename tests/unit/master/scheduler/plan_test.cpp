// Rescheduling (reference §5.5, §5.6): grace periods driven by explicit `now` values, drain,
// stateful instances, nodes coming back without churn.
#include "fixture.h"

namespace kontena::scheduler::testing {
namespace {

using namespace std::chrono_literals;
const TimePoint T0{std::chrono::seconds(1'700'000'000)};

Plan make_plan(const std::vector<SchedulerNode>& ns, const ServiceSpec& s, const std::vector<CurrentInstance>& cur,
               TimePoint now, const PlanOptions& o = {}) {
  Rng rng(5);
  return plan(ns, s, cur, now, rng, o);
}

std::vector<SchedulerNode> cluster() {
  auto ns = nodes(4);
  for (auto& n : ns) n.last_seen = T0;
  return ns;
}

void go_offline(SchedulerNode& n, TimePoint at) {
  n.connected = false;
  n.last_seen = at;
}

std::map<int, std::string> desired(const std::vector<SchedulerNode>& ns, const Plan& p) {
  std::map<int, std::string> m;
  for (const auto& a : p.desired) m[a.instance_number] = ns[a.node_index].name;
  return m;
}

TEST(Plan, NothingToDoWhenEverythingFits) {
  auto ns = cluster();
  auto p = make_plan(ns, service("web", 3), on({{1, "node-1"}, {2, "node-2"}, {3, "node-3"}}), T0);
  EXPECT_FALSE(p.changed());
  EXPECT_EQ(p.desired.size(), 3u);
  EXPECT_TRUE(p.moves.empty());
  EXPECT_FALSE(p.next_check);
}

TEST(Plan, HaWaitsTwoMinutesForAnOfflineNode) {
  auto ns = cluster();
  go_offline(ns[0], T0);
  auto cur = on({{1, "node-1"}, {2, "node-2"}});
  auto s = service("web", 2);
  auto p = make_plan(ns, s, cur, T0 + 119s);
  EXPECT_FALSE(p.changed());
  ASSERT_EQ(p.waiting.size(), 1u);
  EXPECT_EQ(p.waiting[0].instance_number, 1);
  EXPECT_EQ(p.waiting[0].until, T0 + 120s);
  EXPECT_EQ(p.next_check, T0 + 120s);
  EXPECT_EQ(desired(ns, p)[1], "node-1");

  p = make_plan(ns, s, cur, T0 + 120s);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].instance_number, 1);
  EXPECT_EQ(p.moves[0].from_node, "id-node-1");
  EXPECT_EQ(p.moves[0].reason, MoveReason::node_offline);
  EXPECT_NE(p.moves[0].to_node, "id-node-1");
  EXPECT_NE(p.moves[0].to_node, "id-node-2");  // spread: not on the node of instance 2
  EXPECT_EQ(desired(ns, p)[2], "node-2");
  EXPECT_TRUE(p.waiting.empty());
}

TEST(Plan, GracePeriodsPerStrategyAndConfigurable) {
  auto ns = cluster();
  go_offline(ns[0], T0);
  auto cur = on({{1, "node-1"}});
  auto random = service("w", 1, Strategy::random);
  EXPECT_FALSE(make_plan(ns, random, cur, T0 + 29s).changed());
  EXPECT_TRUE(make_plan(ns, random, cur, T0 + 30s).changed());

  auto daemon = service("d", 1, Strategy::daemon);
  auto dcur = on({{1, "node-1"}, {2, "node-2"}, {3, "node-3"}, {4, "node-4"}});
  auto p = make_plan(ns, daemon, dcur, T0 + 9min);
  EXPECT_EQ(p.instance_count, 4);  // the offline node still counts within its grace
  EXPECT_FALSE(p.changed());
  EXPECT_EQ(p.next_check, T0 + 10min);
  p = make_plan(ns, daemon, dcur, T0 + 10min);
  EXPECT_EQ(p.instance_count, 3);
  EXPECT_TRUE(p.changed());

  PlanOptions fast;
  fast.grace.ha = 5s;
  auto ha = service("web", 1);
  EXPECT_FALSE(make_plan(ns, ha, cur, T0 + 4s, fast).changed());
  EXPECT_TRUE(make_plan(ns, ha, cur, T0 + 5s, fast).changed());
  EXPECT_EQ(GracePeriods{}.of(Strategy::ha), 2min);
  EXPECT_EQ(GracePeriods{}.of(Strategy::daemon), 10min);
  EXPECT_EQ(GracePeriods{}.of(Strategy::random), 30s);
}

TEST(Plan, DaemonInstanceOfALostNodeIsRenumberedIntoTheCount) {
  auto ns = cluster();
  go_offline(ns[1], T0);
  auto p = make_plan(ns, service("d", 1, Strategy::daemon),
                     on({{1, "node-1"}, {2, "node-2"}, {3, "node-3"}, {4, "node-4"}}), T0 + 11min);
  EXPECT_EQ(p.instance_count, 3);
  ASSERT_EQ(p.removals.size(), 1u);
  EXPECT_EQ(p.removals[0].instance_number, 4);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].instance_number, 2);
  EXPECT_EQ(p.moves[0].to_node, "id-node-4");  // the node left without an instance
  EXPECT_EQ(per_node(ns, p.desired).size(), 3u);
}

TEST(Plan, DaemonDoesNotCountAnOfflineNodeWithoutAnInstance) {
  auto ns = cluster();
  go_offline(ns[3], T0);
  auto p = make_plan(ns, service("d", 1, Strategy::daemon), on({{1, "node-1"}, {2, "node-2"}, {3, "node-3"}}),
                     T0 + 1s);
  EXPECT_EQ(p.instance_count, 3);
  EXPECT_FALSE(p.changed());
}

TEST(Plan, DaemonNewNodeGetsAnInstanceAndNothingElseMoves) {
  auto ns = cluster();
  auto p = make_plan(ns, service("d", 1, Strategy::daemon), on({{1, "node-1"}, {2, "node-2"}, {3, "node-3"}}), T0);
  EXPECT_EQ(p.instance_count, 4);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].instance_number, 4);
  EXPECT_EQ(p.moves[0].reason, MoveReason::new_instance);
  EXPECT_EQ(p.moves[0].from_node, "");
  EXPECT_EQ(p.moves[0].to_node, "id-node-4");
}

TEST(Plan, DrainedNodeMovesStatelessInstancesAtOnce) {
  auto ns = cluster();
  ns[0].availability = Availability::drain;
  auto p = make_plan(ns, service("web", 2), on({{1, "node-1"}, {2, "node-2"}}), T0);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].reason, MoveReason::node_drained);
  EXPECT_NE(p.moves[0].to_node, "id-node-1");
}

TEST(Plan, DrainedNodeStopsStatefulInstances) {
  auto ns = cluster();
  ns[0].availability = Availability::drain;
  auto s = service("db", 1);
  s.stateful = true;
  auto p = make_plan(ns, s, on({{1, "node-1"}}), T0);
  EXPECT_TRUE(p.moves.empty());
  ASSERT_EQ(p.held.size(), 1u);
  EXPECT_TRUE(p.held[0].stop);
  EXPECT_EQ(p.held[0].reason, "node node-1 is drained");
  EXPECT_TRUE(p.changed());
  EXPECT_EQ(desired(ns, p)[1], "node-1");
  // Active again: it runs there again, nothing to do.
  ns[0].availability = Availability::active;
  EXPECT_FALSE(make_plan(ns, s, on({{1, "node-1"}}), T0).changed());
}

TEST(Plan, StatefulNeverMovesOffAnOfflineNode) {
  auto ns = cluster();
  go_offline(ns[2], T0);
  auto s = service("db", 1);
  s.stateful = true;
  auto p = make_plan(ns, s, on({{1, "node-3"}}), T0 + 24h);
  EXPECT_TRUE(p.moves.empty());
  ASSERT_EQ(p.held.size(), 1u);
  EXPECT_FALSE(p.held[0].stop);
  EXPECT_EQ(p.held[0].reason, "node node-3 is offline");
  EXPECT_FALSE(p.changed());
  EXPECT_EQ(desired(ns, p)[1], "node-3");
}

TEST(Plan, StatefulOnARemovedNodeGetsANewNode) {
  auto ns = cluster();
  auto s = service("db", 2);
  s.stateful = true;
  auto p = make_plan(ns, s, on({{1, "node-1"}, {2, "removed"}}), T0);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].instance_number, 2);
  EXPECT_EQ(p.moves[0].reason, MoveReason::node_removed);
  EXPECT_EQ(p.moves[0].from_node, "id-removed");
}

TEST(Plan, StatefulOnANodeThatNoLongerFitsIsHeld) {
  auto ns = cluster();
  auto s = service("db", 1);
  s.stateful = true;
  s.affinity = {"node!=node-1"};
  auto p = make_plan(ns, s, on({{1, "node-1"}}), T0);
  EXPECT_TRUE(p.moves.empty());
  ASSERT_EQ(p.held.size(), 1u);
  EXPECT_EQ(p.held[0].reason, "node node-1 does not match affinity node!=node-1");
}

TEST(Plan, NodeComingBackAttractsNothing) {
  auto ns = cluster();
  auto s = service("web", 4);
  // node-1 went away past the grace period; its instance moved to node-2.
  auto after = on({{1, "node-2"}, {2, "node-2"}, {3, "node-3"}, {4, "node-4"}});
  auto p = make_plan(ns, s, after, T0 + 1h);  // node-1 is online again
  EXPECT_FALSE(p.changed());
  EXPECT_TRUE(p.moves.empty());
  // Back within the grace period: the instance never moved.
  go_offline(ns[0], T0);
  auto before = on({{1, "node-1"}, {2, "node-2"}, {3, "node-3"}, {4, "node-4"}});
  EXPECT_FALSE(make_plan(ns, s, before, T0 + 60s).changed());
  ns[0].connected = true;
  EXPECT_FALSE(make_plan(ns, s, before, T0 + 90s).changed());
}

TEST(Plan, CountChangesAddAndRemoveInstances) {
  auto ns = cluster();
  auto cur = on({{1, "node-1"}, {2, "node-2"}, {3, "node-3"}});
  auto p = make_plan(ns, service("web", 2), cur, T0);
  ASSERT_EQ(p.removals.size(), 1u);
  EXPECT_EQ(p.removals[0].instance_number, 3);
  EXPECT_TRUE(p.moves.empty());
  p = make_plan(ns, service("web", 4), cur, T0);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].instance_number, 4);
  EXPECT_EQ(p.moves[0].to_node, "id-node-4");  // the one node without an instance
  // A duplicate number goes too.
  p = make_plan(ns, service("web", 3), on({{1, "node-1"}, {1, "node-4"}, {2, "node-2"}, {3, "node-3"}}), T0);
  ASSERT_EQ(p.removals.size(), 1u);
  EXPECT_EQ(p.removals[0].node_id, "id-node-4");
}

TEST(Plan, NewInstancesSpreadAroundTheKeptOnes) {
  std::vector<SchedulerNode> ns{node("a1", {"az=a"}), node("a2", {"az=a"}), node("b1", {"az=b"}), node("b2", {"az=b"})};
  auto p = make_plan(ns, service("web", 2), on({{1, "a1"}}), T0);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(ns[p.moves[0].to_index].labels[0], "az=b");
}

TEST(Plan, UnfitNodeMovesAStatelessInstance) {
  auto ns = cluster();
  auto s = service("web", 2);
  s.affinity = {"node!=node-1"};
  auto p = make_plan(ns, s, on({{1, "node-1"}, {2, "node-2"}}), T0);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].reason, MoveReason::node_unfit);
  EXPECT_EQ(std::string(to_string(p.moves[0].reason)), "node_unfit");
  EXPECT_EQ(p.moves[0].detail, "node node-1 does not match affinity node!=node-1");
}

TEST(Plan, PortClashBetweenTwoInstancesMovesTheHigherNumber) {
  auto ns = cluster();
  auto s = service("web", 2);
  s.ports = {{80, 80, "tcp"}};
  auto p = make_plan(ns, s, on({{1, "node-1"}, {2, "node-1"}}), T0);
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].instance_number, 2);
  EXPECT_NE(p.moves[0].to_node, "id-node-1");
}

TEST(Plan, InstancesThatFitNowhereAreReported) {
  auto ns = cluster();
  auto s = service("web", 2);
  s.affinity = {"label==gpu"};
  auto p = make_plan(ns, s, {}, T0);
  ASSERT_EQ(p.unplaced.size(), 2u);
  EXPECT_EQ(p.unplaced[0].error.field(), "affinity");
  EXPECT_EQ(std::string(p.unplaced[0].error.what()),
            "cannot place instance 1 of service app/web: no nodes match affinity label==gpu");
  EXPECT_TRUE(p.changed());
  EXPECT_TRUE(p.desired.empty());
}

TEST(Plan, IsDeterministicForASeed) {
  auto ns = nodes(30);
  std::vector<CurrentInstance> cur;
  for (int k = 1; k <= 40; ++k) cur.push_back({k, "id-node-" + std::to_string(1 + k % 30)});
  for (int i = 0; i < 10; ++i) go_offline(ns[i], T0);
  Rng a(77), b(77);
  auto pa = plan(ns, service("web", 50), cur, T0 + 1h, a);
  auto pb = plan(ns, service("web", 50), cur, T0 + 1h, b);
  EXPECT_EQ(pa.desired, pb.desired);
  EXPECT_FALSE(pa.moves.empty());
}

}  // namespace
}  // namespace kontena::scheduler::testing
