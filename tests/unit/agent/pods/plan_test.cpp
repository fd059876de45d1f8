// The pure planner (src/agent/pods/plan.h): every rule, backoff arithmetic, and idempotency.
#include <gtest/gtest.h>

#include "agent/pods/plan.h"

using namespace kontena;
using namespace kontena::agent::pods;
using namespace std::chrono_literals;

namespace {

const TimePoint T0 = TimePoint{std::chrono::seconds(1'700'000'000)};

ServicePod pod(const std::string& id, int n, std::int64_t rev = 1, const std::string& desired = "running") {
  ServicePod p;
  p.service_id = id;
  p.service_name = "svc" + id;
  p.stack_name = "st";
  p.grid_name = "g";
  p.instance_number = n;
  p.service_revision = rev;
  p.deploy_rev = "d1";
  p.desired_state = desired;
  p.image = "img:1";
  p.stop_grace_period = 7;
  return p;
}

Observed container_of(const ServicePod& p, const std::string& id, const std::string& state = "running",
                      const std::string& image_id = "sha256:a") {
  auto spec = protocol::container_spec(p, "node");
  return Observed{id, spec.name, state, image_id, spec.labels, 100, std::nullopt};
}

PlanInput input(std::vector<ServicePod> desired, std::vector<Observed> observed, TimePoint now = T0) {
  PlanInput in;
  in.desired = std::move(desired);
  in.observed = std::move(observed);
  in.now = now;
  return in;
}

std::vector<std::string> kinds(const Plan& p) {
  std::vector<std::string> out;
  for (auto& a : p.actions) out.push_back(std::string(to_string(a.kind)) + " " + a.key.str());
  return out;
}

std::vector<std::string> states(const Plan& p) {
  std::vector<std::string> out;
  for (auto& s : p.statuses) out.push_back(s.key.str() + "=" + s.state);
  return out;
}

using V = std::vector<std::string>;

PodRuntime rtm(const std::string& id, int restarts = 0, std::optional<TimePoint> running_since = std::nullopt) {
  PodRuntime r;
  r.container_id = id;
  r.restarts = restarts;
  r.running_since = running_since;
  return r;
}

}  // namespace

TEST(Backoff, RestartsSquaredCapped) {
  EXPECT_EQ(backoff_delay(0, 30s), 0s);
  EXPECT_EQ(backoff_delay(1, 30s), 1s);
  EXPECT_EQ(backoff_delay(2, 30s), 4s);
  EXPECT_EQ(backoff_delay(3, 30s), 9s);
  EXPECT_EQ(backoff_delay(5, 30s), 25s);
  EXPECT_EQ(backoff_delay(6, 30s), 30s);
  EXPECT_EQ(backoff_delay(100000, 30s), 30s);
  EXPECT_EQ(backoff_delay(-1, 30s), 0s);
}

TEST(Keys, FromLabels) {
  EXPECT_EQ(key_of(std::map<std::string, std::string>{{"io.kontena.service.id", "a"},
                                                      {"io.kontena.service.instance_number", "3"}}),
            (PodKey{"a", 3}));
  EXPECT_FALSE(key_of(std::map<std::string, std::string>{{"io.kontena.service.id", "a"}}));
  EXPECT_FALSE(key_of(std::map<std::string, std::string>{{"io.kontena.service.id", "a"},
                                                         {"io.kontena.service.instance_number", "x"}}));
  EXPECT_FALSE(key_of(std::map<std::string, std::string>{{"io.kontena.service.id", "a"},
                                                         {"io.kontena.service.instance_number", "0"}}));
}

TEST(Plan, NothingToDo) {
  Plan p = plan(input({}, {}));
  EXPECT_TRUE(p.actions.empty());
  EXPECT_TRUE(p.statuses.empty());
  EXPECT_FALSE(p.next_due);
}

TEST(Plan, MissingIsCreated) {
  Plan p = plan(input({pod("a", 1), pod("a", 2)}, {}));
  EXPECT_EQ(kinds(p), (V{"create a/1", "create a/2"}));
  EXPECT_EQ(p.actions[0].container_name, "st.svca-1");
  EXPECT_EQ(p.actions[0].pod, 0);
  EXPECT_EQ(p.actions[1].pod, 1);
  EXPECT_EQ(states(p), (V{"a/1=missing", "a/2=missing"}));
}

TEST(Plan, RunningUpToDateIsLeftAlone) {
  auto a = pod("a", 1);
  Plan p = plan(input({a}, {container_of(a, "c1")}));
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(states(p), V{"a/1=running"});
  EXPECT_EQ(p.runtime.at({"a", 1}).container_id, "c1");
  EXPECT_EQ(*p.runtime.at({"a", 1}).running_since, T0);
}

TEST(Plan, OlderServiceRevisionIsRecreated) {
  auto old = pod("a", 1, 3);
  auto now = pod("a", 1, 4);
  Plan p = plan(input({now}, {container_of(old, "c1")}));
  ASSERT_EQ(kinds(p), V{"recreate a/1"});
  EXPECT_EQ(p.actions[0].container_id, "c1");
  EXPECT_TRUE(p.actions[0].running);
  EXPECT_EQ(p.actions[0].grace, 7s);
  EXPECT_NE(p.actions[0].reason.find("service revision 3 < 4"), std::string::npos);
  // A newer revision on the container (the master lags) is not a reason.
  EXPECT_TRUE(plan(input({old}, {container_of(now, "c1")})).actions.empty());
}

TEST(Plan, MissingRevisionLabelIsOutdated) {
  auto a = pod("a", 1);
  auto c = container_of(a, "c1");
  c.labels.erase("io.kontena.container.service_revision");
  EXPECT_EQ(kinds(plan(input({a}, {c}))), V{"recreate a/1"});
}

TEST(Plan, NewDeployRevWithDifferentImageIsRecreated) {
  auto old = pod("a", 1);
  auto now = pod("a", 1);
  now.deploy_rev = "d2";
  auto c = container_of(old, "c1", "running", "sha256:a");
  // Image id not checked: nothing.
  EXPECT_TRUE(plan(input({now}, {c})).actions.empty());
  // Same image id: nothing.
  auto in = input({now}, {c});
  in.image_ids["img:1"] = "sha256:a";
  EXPECT_TRUE(plan(in).actions.empty());
  // Different: recreate.
  in.image_ids["img:1"] = "sha256:b";
  EXPECT_EQ(kinds(plan(in)), V{"recreate a/1"});
  // Same deploy_rev, different image id: not a reason (only a new deploy re-checks the image).
  auto in2 = input({old}, {c});
  in2.image_ids["img:1"] = "sha256:b";
  EXPECT_TRUE(plan(in2).actions.empty());
}

TEST(Plan, DesiredStoppedStopsAndKeeps) {
  auto a = pod("a", 1, 1, "stopped");
  Plan p = plan(input({a}, {container_of(a, "c1")}));
  ASSERT_EQ(kinds(p), V{"stop a/1"});
  EXPECT_EQ(p.actions[0].grace, 7s);
  EXPECT_EQ(states(p), V{"a/1=stopped"});
  // Already stopped: nothing; no container: nothing, reported missing.
  EXPECT_TRUE(plan(input({a}, {container_of(a, "c1", "exited")})).actions.empty());
  Plan none = plan(input({a}, {}));
  EXPECT_TRUE(none.actions.empty());
  EXPECT_EQ(states(none), V{"a/1=missing"});
  // An outdated stopped container is not recreated while stopped.
  EXPECT_TRUE(plan(input({pod("a", 1, 9, "stopped")}, {container_of(a, "c1", "exited")})).actions.empty());
}

TEST(Plan, TerminatedIsRemoved) {
  auto a = pod("a", 1, 1, "terminated");
  Plan p = plan(input({a}, {container_of(a, "c1")}));
  ASSERT_EQ(kinds(p), V{"remove a/1"});
  EXPECT_TRUE(p.actions[0].running);
  EXPECT_EQ(p.actions[0].pod, 0);
  EXPECT_EQ(states(p), V{"a/1=missing"});
  EXPECT_FALSE(p.runtime.count({"a", 1}));
  EXPECT_TRUE(plan(input({a}, {})).actions.empty());
}

TEST(Plan, NotDesiredIsStoppedAndRemovedWithItsGrace) {
  auto a = pod("a", 1);
  auto c = container_of(a, "c1");
  c.labels["io.kontena.container.stop_grace_period"] = "2";
  auto in = input({}, {c, container_of(pod("b", 1), "c2", "exited")});
  in.runtime[{"a", 1}] = rtm("c1");
  Plan p = plan(in);
  ASSERT_EQ(kinds(p), (V{"remove a/1", "remove b/1"}));
  EXPECT_EQ(p.actions[0].grace, 2s);
  EXPECT_TRUE(p.actions[0].running);
  EXPECT_EQ(p.actions[0].pod, -1);
  EXPECT_FALSE(p.actions[1].running);
  EXPECT_EQ(p.actions[1].grace, 7s);  // label from the spec
  EXPECT_TRUE(p.runtime.empty());
}

TEST(Plan, ContainersWithoutPodLabelsAreIgnored) {
  Observed stranger{"x", "other", "running", "sha", {{"io.kontena.container.type", "container"}}, 1, std::nullopt};
  EXPECT_TRUE(plan(input({}, {stranger})).actions.empty());
}

TEST(Plan, DuplicatesKeepTheExpectedName) {
  auto a = pod("a", 1);
  auto good = container_of(a, "c1");
  auto dup = container_of(a, "c2");
  dup.name = "st.sva-1-old";
  dup.created = 999;  // newer, but not the expected name
  Plan p = plan(input({a}, {dup, good}));
  ASSERT_EQ(kinds(p), V{"remove a/1"});
  EXPECT_EQ(p.actions[0].container_id, "c2");
  EXPECT_EQ(states(p), V{"a/1=running"});
}

TEST(Plan, DuplicatesPreferRunningThenNewest) {
  auto a = pod("a", 1);
  auto x = container_of(a, "c1", "exited");
  x.name = "n1";
  auto y = container_of(a, "c2", "running");
  y.name = "n2";
  auto z = container_of(a, "c3", "exited");
  z.name = "n3";
  z.created = 500;
  Plan p = plan(input({a}, {x, y, z}));
  EXPECT_EQ(kinds(p), (V{"remove a/1", "remove a/1"}));
  EXPECT_EQ(p.actions[0].container_id, "c3");
  EXPECT_EQ(p.actions[1].container_id, "c1");
}

TEST(Plan, CrashedIsRestartedAtOnceThenWithBackoff) {
  auto a = pod("a", 1);
  auto in = input({a}, {container_of(a, "c1", "exited")});
  in.runtime[{"a", 1}] = rtm("c1", 0, T0 - 2s);
  Plan p = plan(in);
  ASSERT_EQ(kinds(p), V{"start a/1"});
  EXPECT_EQ(states(p), V{"a/1=restarting"});
  EXPECT_EQ(*p.runtime.at({"a", 1}).down_since, T0);

  // After 2 restarts the third waits 4 s from when it was seen down.
  in.runtime[{"a", 1}] = rtm("c1", 2);
  in.runtime[{"a", 1}].down_since = T0 - 3s;
  p = plan(in);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_TRUE(p.statuses[0].waiting);
  EXPECT_EQ(states(p), V{"a/1=restarting"});
  ASSERT_TRUE(p.next_due);
  EXPECT_EQ(*p.next_due, T0 + 1s);
  in.now = T0 + 1s;
  EXPECT_EQ(kinds(plan(in)), V{"start a/1"});
}

TEST(Plan, BackoffIsCappedAt30s) {
  auto a = pod("a", 1);
  auto in = input({a}, {container_of(a, "c1", "exited")});
  in.runtime[{"a", 1}] = rtm("c1", 50);
  in.runtime[{"a", 1}].down_since = T0;
  Plan p = plan(in);
  EXPECT_EQ(*p.next_due, T0 + 30s);
  in.now = T0 + 29s;
  EXPECT_TRUE(plan(in).actions.empty());
  in.now = T0 + 30s;
  EXPECT_EQ(kinds(plan(in)), V{"start a/1"});
}

TEST(Plan, CounterResetsAfter10sUp) {
  auto a = pod("a", 1);
  // Seen running for 10 s: reset while running.
  auto in = input({a}, {container_of(a, "c1")});
  in.runtime[{"a", 1}] = rtm("c1", 4, T0 - 10s);
  EXPECT_EQ(plan(in).runtime.at({"a", 1}).restarts, 0);
  in.runtime[{"a", 1}] = rtm("c1", 4, T0 - 9s);
  EXPECT_EQ(plan(in).runtime.at({"a", 1}).restarts, 4);

  // Seen down; Docker says it ran 12 s: reset, restarted at once.
  auto down = container_of(a, "c1", "exited");
  down.last_run = 12s;
  auto in2 = input({a}, {down});
  in2.runtime[{"a", 1}] = rtm("c1", 4);
  Plan p = plan(in2);
  EXPECT_EQ(kinds(p), V{"start a/1"});
  EXPECT_EQ(p.runtime.at({"a", 1}).restarts, 0);
  // Ran 3 s: no reset, waits 16 s.
  down.last_run = 3s;
  in2.observed = {down};
  p = plan(in2);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(*p.next_due, T0 + 16s);
  // Unknown run time, but the agent saw it running 20 s earlier: reset.
  down.last_run.reset();
  in2.observed = {down};
  in2.runtime[{"a", 1}] = rtm("c1", 4, T0 - 20s);
  EXPECT_EQ(kinds(plan(in2)), V{"start a/1"});
}

TEST(Plan, CreatedButNeverStartedIsStarted) {
  auto a = pod("a", 1);
  Plan p = plan(input({a}, {container_of(a, "c1", "created")}));
  ASSERT_EQ(kinds(p), V{"start a/1"});
  EXPECT_EQ(p.actions[0].reason, "created, not started");
}

TEST(Plan, DeadIsRecreated) {
  auto a = pod("a", 1);
  Plan p = plan(input({a}, {container_of(a, "c1", "dead")}));
  ASSERT_EQ(kinds(p), V{"recreate a/1"});
  EXPECT_FALSE(p.actions[0].running);
}

TEST(Plan, RemovingWaits) {
  auto a = pod("a", 1);
  Plan p = plan(input({a}, {container_of(a, "c1", "removing")}));
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(*p.next_due, T0 + 1s);
}

TEST(Plan, UnhealthyIsRestarted) {
  auto a = pod("a", 1);
  auto in = input({a}, {container_of(a, "c1")});
  in.runtime[{"a", 1}] = rtm("c1", 0, T0 - 100s);
  in.runtime[{"a", 1}].unhealthy = true;
  Plan p = plan(in);
  ASSERT_EQ(kinds(p), V{"restart a/1"});
  EXPECT_EQ(p.actions[0].reason, "health check failed");
}

TEST(Plan, FailedCreateBacksOff) {
  auto a = pod("a", 1);
  auto in = input({a}, {});
  in.runtime[{"a", 1}] = PodRuntime{};
  in.runtime[{"a", 1}].restarts = 2;
  in.runtime[{"a", 1}].down_since = T0 - 1s;
  Plan p = plan(in);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(states(p), V{"a/1=missing"});
  EXPECT_EQ(*p.next_due, T0 + 3s);
  in.now = T0 + 3s;
  EXPECT_EQ(kinds(plan(in)), V{"create a/1"});
}

TEST(Plan, AnotherContainerResetsTheBookkeeping) {
  auto a = pod("a", 1);
  auto in = input({a}, {container_of(a, "new")});
  in.runtime[{"a", 1}] = rtm("old", 5, T0 - 1s);
  in.runtime[{"a", 1}].unhealthy = true;
  Plan p = plan(in);
  EXPECT_TRUE(p.actions.empty());
  auto& rt = p.runtime.at({"a", 1});
  EXPECT_EQ(rt.container_id, "new");
  EXPECT_EQ(rt.restarts, 0);
  EXPECT_FALSE(rt.unhealthy);
}

TEST(Plan, ForgetsPodsNoLongerThere) {
  auto in = input({}, {});
  in.runtime[{"gone", 1}] = rtm("c9", 3);
  EXPECT_TRUE(plan(in).runtime.empty());
}

TEST(Plan, MixedNodeInOnePass) {
  auto run = pod("a", 1);
  auto stale = pod("b", 1, 2);
  auto stop = pod("c", 1, 1, "stopped");
  auto term = pod("d", 1, 1, "terminated");
  auto missing = pod("e", 1);
  std::vector<Observed> obs = {container_of(run, "c1"), container_of(pod("b", 1, 1), "c2"), container_of(stop, "c3"),
                               container_of(term, "c4"), container_of(pod("z", 1), "c5")};
  Plan p = plan(input({run, stale, stop, term, missing}, obs));
  EXPECT_EQ(kinds(p), (V{"remove z/1", "recreate b/1", "stop c/1", "remove d/1", "create e/1"}));
  EXPECT_EQ(states(p), (V{"a/1=running", "b/1=missing", "c/1=stopped", "d/1=missing", "e/1=missing"}));
}

// Applying a plan's actions (as a perfect executor would) and planning again gives no action.
TEST(Plan, Idempotent) {
  std::vector<ServicePod> desired = {pod("a", 1), pod("b", 1, 5), pod("c", 1, 1, "stopped"),
                                     pod("d", 1, 1, "terminated"), pod("e", 2)};
  std::vector<Observed> obs = {container_of(pod("b", 1, 4), "b-old"), container_of(desired[2], "c-1"),
                               container_of(desired[3], "d-1"), container_of(pod("x", 1), "x-1"),
                               container_of(desired[4], "e-1", "exited")};
  auto in = input(desired, obs);
  Plan p1 = plan(in);
  ASSERT_FALSE(p1.actions.empty());
  // Apply.
  std::vector<Observed> after;
  int n = 0;
  for (auto& o : obs) {
    bool removed = false;
    for (auto& a : p1.actions) {
      if (a.container_id != o.id) continue;
      if (a.kind == ActionKind::remove || a.kind == ActionKind::recreate) removed = true;
      if (a.kind == ActionKind::stop) o.state = "exited";
      if (a.kind == ActionKind::start) o.state = "running";
    }
    if (!removed) after.push_back(o);
  }
  for (auto& a : p1.actions)
    if (a.kind == ActionKind::create || a.kind == ActionKind::recreate)
      after.push_back(container_of(desired[a.pod], "new-" + std::to_string(n++)));
  auto in2 = input(desired, after, T0 + 1s);
  in2.runtime = p1.runtime;
  Plan p2 = plan(in2);
  EXPECT_TRUE(p2.actions.empty()) << kinds(p2).size();
  EXPECT_EQ(states(p2), (V{"a/1=running", "b/1=running", "c/1=stopped", "d/1=missing", "e/2=running"}));
  Plan p3 = plan([&] {
    auto i = in2;
    i.runtime = p2.runtime;
    i.now = T0 + 2s;
    return i;
  }());
  EXPECT_TRUE(p3.actions.empty());
}
