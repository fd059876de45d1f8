// Stack deploys (link order, removal of dropped services) and the reschedule loop (offline grace,
// drain, stateful stop/start, no churn when a node comes back).
#include "fixture.h"

namespace kontena::master::testing {
namespace {

class StackDeployTest : public DeployerTest {
 protected:
  Stack add_stack(const std::string& name, const Json& definition) {
    Stack s;
    s.grid_id = grid_.id;
    s.name = name;
    s.stack = name;
    s.version = "1.0.0";
    s.created_at = s.updated_at = clock_.now_unix_ms();
    return store_->insert_stack(s, definition);
  }
  static Json svc_def(const std::string& name, std::vector<std::string> links) {
    Json l = Json::array();
    for (auto& x : links) l.push_back({{"name", x}, {"alias", x}});
    auto s = spec(1, {{"links", l}});
    s["name"] = name;
    return s;
  }
};

TEST_F(StackDeployTest, ServicesDeployInLinkOrderAndDroppedOnesAreRemovedFirst) {
  auto n1 = add_node("node-1");
  // web links api and other/db (another stack: ignored for ordering); api links db.
  Json def = {{"name", "shop"},
              {"services", {svc_def("web", {"api", "other/db"}), svc_def("api", {"db"}), svc_def("db", {})}}};
  auto stack = add_stack("shop", def);
  std::map<std::string, Service> svcs;
  for (auto& s : def["services"]) svcs[s["name"]] = add_service(s["name"], s, stack.id);
  auto old = add_service("old", spec(1), stack.id);
  // "old" (of an earlier revision) runs an instance on node-1.
  ServiceInstance oi;
  oi.service_id = old.id;
  oi.instance_number = 1;
  oi.node_id = n1.id;
  store_->upsert_instance(oi);
  link_.clear();

  auto sd = deployer_->deploy_stack(stack);
  EXPECT_EQ(sd.state, "created");
  EXPECT_EQ(sd.revision, 1);
  std::vector<std::string> order;
  for (int round = 0; round < 100; ++round) {
    tick();
    for (auto& d : store_->deploys_of_stack_deploy(sd.id)) {
      auto s = store_->service_by_id(d.service_id);
      ASSERT_TRUE(s);
      if (std::find(order.begin(), order.end(), s->name) == order.end()) {
        // Nothing of the stack runs a deploy before the previous one ended.
        order.push_back(s->name);
      }
      report_running(d.service_id);
    }
    auto now = *store_->stack_deploy(sd.id);
    if (now.state == "success" || now.state == "error") break;
    clock_.advance(10ms);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"db", "api", "web"}));
  EXPECT_EQ(store_->stack_deploy(sd.id)->state, "success");
  EXPECT_EQ(store_->stack_by_id(stack.id)->deployed_revision, 1);
  EXPECT_FALSE(store_->service_by_id(old.id)) << "a service the revision no longer has is removed";
  EXPECT_TRUE(instances(old.id).empty());
  EXPECT_TRUE(link_.notified().count(n1.id));
  for (auto& [name, s] : svcs) EXPECT_EQ(last_deploy(s.id).state, "success") << name;
  // Deploying a service the revision no longer has is a conflict.
  auto extra = add_service("extra", spec(1), stack.id);
  EXPECT_THROW(deployer_->deploy_service(extra, false, "deploy"), Error);
}

TEST_F(StackDeployTest, AFailingServiceFailsTheStackDeployNamingIt) {
  add_node("node-1", {"az=a"});
  Json bad = svc_def("api", {});
  bad["affinity"] = {"label==az=b"};
  Json def = {{"name", "shop"}, {"services", {svc_def("db", {}), bad, svc_def("web", {"api"})}}};
  auto stack = add_stack("shop", def);
  for (auto& s : def["services"]) add_service(s["name"], s, stack.id);
  auto sd = deployer_->deploy_stack(stack);
  for (int i = 0; i < 50; ++i) {
    tick();
    for (auto& d : store_->deploys_of_stack_deploy(sd.id)) report_running(d.service_id);
    if (store_->stack_deploy(sd.id)->state == "error") break;
  }
  auto end = *store_->stack_deploy(sd.id);
  EXPECT_EQ(end.state, "error");
  EXPECT_EQ(end.error.rfind("service api: ", 0), 0u) << end.error;
  EXPECT_EQ(store_->stack_by_id(stack.id)->deployed_revision, 0);
  EXPECT_EQ(store_->deploys_of_stack_deploy(sd.id).size(), 2u) << "web is not deployed after api failed";
}

TEST_F(StackDeployTest, RemoveStackRemovesServicesAndTellsNodes) {
  auto n = add_node("node-1");
  Json def = {{"name", "shop"}, {"services", {svc_def("db", {})}}};
  auto stack = add_stack("shop", def);
  auto db = add_service("db", def["services"][0], stack.id);
  deployer_->deploy_service(db, false, "deploy");
  ASSERT_EQ(run_deploy(db.id).state, "success");
  link_.clear();
  deployer_->remove_stack(stack);
  EXPECT_FALSE(store_->stack_by_id(stack.id));
  EXPECT_FALSE(store_->service_by_id(db.id));
  EXPECT_TRUE(link_.notified().count(n.id));
  EXPECT_TRUE(deployer_->node_service_pods(n.id)["service_pods"].empty());
}

// ---- reschedule

class RescheduleTest : public DeployerTest {
 protected:
  // Deploys `count` instances of a service and returns it.
  Service deployed(const std::string& name, Json sp) {
    auto svc = add_service(name, std::move(sp));
    deployer_->deploy_service(svc, false, "deploy");
    EXPECT_EQ(run_deploy(svc.id).state, "success");
    return service(svc.id);
  }
  std::map<int, std::int64_t> placement(std::int64_t service_id) {
    std::map<int, std::int64_t> out;
    for (auto& i : instances(service_id)) out[i.instance_number] = i.node_id;
    return out;
  }
  int deploys(std::int64_t service_id) { return static_cast<int>(store_->deploys_of_service(service_id, 100).size()); }
};

TEST_F(RescheduleTest, OfflineNodeInstancesMoveAfterTheGracePeriodNotBefore) {
  auto n1 = add_node("node-1");
  auto n2 = add_node("node-2");
  auto svc = deployed("web", spec(2));
  auto before = placement(svc.id);
  ASSERT_EQ(std::set<std::int64_t>({before[1], before[2]}), std::set<std::int64_t>({n1.id, n2.id}));
  auto n3 = add_node("node-3");
  Node& lost = before[1] == n1.id ? n1 : n2;
  int lost_instance = 1;
  set_online(lost, false);
  tick();
  advance(60s);
  advance(59s);  // ha grace is 2 min: still waiting
  EXPECT_EQ(deploys(svc.id), 1);
  EXPECT_EQ(placement(svc.id), before);
  advance(2s);  // past the grace
  EXPECT_EQ(deploys(svc.id), 2);
  auto d = last_deploy(svc.id);
  EXPECT_EQ(d.reason, "reschedule");
  d = run_deploy(svc.id);
  EXPECT_EQ(d.state, "success") << d.error;
  auto after = placement(svc.id);
  EXPECT_EQ(after[lost_instance], n3.id);
  EXPECT_EQ(after[2], before[2]) << "the other instance stays";
  EXPECT_TRUE(has_event("scheduler", "has been offline for more than 2m"));

  // The node comes back: nothing moves back.
  set_online(lost, true);
  for (int i = 0; i < 5; ++i) advance(5s);
  EXPECT_EQ(deploys(svc.id), 2);
  EXPECT_EQ(placement(svc.id), after);
}

TEST_F(RescheduleTest, DrainMovesAtOnce) {
  auto n1 = add_node("node-1");
  auto svc = deployed("web", spec(2));
  auto n2 = add_node("node-2");
  EXPECT_EQ(placement(svc.id), (std::map<int, std::int64_t>{{1, n1.id}, {2, n1.id}}));
  set_availability(n1, "drain");
  tick();  // at once, no interval or grace
  EXPECT_EQ(deploys(svc.id), 2);
  EXPECT_EQ(run_deploy(svc.id).state, "success");
  EXPECT_EQ(placement(svc.id), (std::map<int, std::int64_t>{{1, n2.id}, {2, n2.id}}));
  EXPECT_TRUE(has_event("scheduler", "node node-1 is drained"));
  EXPECT_TRUE(deployer_->node_service_pods(n1.id)["service_pods"].empty());
}

TEST_F(RescheduleTest, StatefulOnDrainStopsThenRunsWhenActive) {
  auto n1 = add_node("node-1");
  add_node("node-2");
  auto svc = deployed("db", spec(1, {{"stateful", true}}));
  auto placed = placement(svc.id)[1];
  Node drained = *store_->node_by_id(placed);
  link_.clear();
  set_availability(drained, "drain");
  tick();
  auto inst = instances(svc.id)[0];
  EXPECT_EQ(inst.node_id, placed) << "stateful instances are not moved";
  EXPECT_EQ(inst.desired_state, "stopped");
  EXPECT_EQ(deploys(svc.id), 1);
  EXPECT_TRUE(link_.notified().count(placed));
  auto pods = deployer_->node_service_pods(placed)["service_pods"];
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0]["desired_state"], "stopped");

  set_availability(drained, "active");
  tick();
  inst = instances(svc.id)[0];
  EXPECT_EQ(inst.desired_state, "running");
  EXPECT_EQ(inst.node_id, placed);
  EXPECT_TRUE(has_event("scheduler", "started again"));
  (void)n1;
}

TEST_F(RescheduleTest, DaemonGetsNewNodesAndNothingChurnsOnQuietLoops) {
  add_node("node-1");
  auto svc = deployed("agent", spec(1, {{"deploy", {{"strategy", "daemon"}, {"min_health", 0.8}}}}));
  EXPECT_EQ(instances(svc.id).size(), 1u);
  for (int i = 0; i < 3; ++i) advance(5s);
  EXPECT_EQ(deploys(svc.id), 1) << "no change, no deploy";
  auto n2 = add_node("node-2");
  advance(1s);  // the node watch (once per tick period) notices the new node
  EXPECT_EQ(deploys(svc.id), 2);
  EXPECT_EQ(run_deploy(svc.id).state, "success");
  EXPECT_EQ(placement(svc.id)[2], n2.id);
}

TEST_F(RescheduleTest, AFailedServiceIsNotRetriedByTheLoop) {
  add_node("node-1", {"az=a"});
  auto svc = add_service("web", spec(1, {{"affinity", {"label==az=b"}}}));
  deployer_->deploy_service(svc, false, "deploy");
  tick();
  ASSERT_EQ(last_deploy(svc.id).state, "error");
  for (int i = 0; i < 4; ++i) advance(5s);
  EXPECT_EQ(deploys(svc.id), 1);
}

TEST_F(RescheduleTest, DeployIntervalRedeploysWhenItHasElapsed) {
  add_node("node-1");
  auto sp = spec(1);
  sp["deploy"]["interval"] = 60;
  auto svc = deployed("web", sp);
  advance(30s);
  EXPECT_EQ(deploys(svc.id), 1);
  advance(31s);
  EXPECT_EQ(deploys(svc.id), 2);
  auto d = last_deploy(svc.id);
  EXPECT_EQ(d.reason, "interval");
  EXPECT_EQ(run_deploy(svc.id).state, "success");
  advance(5s);
  EXPECT_EQ(deploys(svc.id), 2) << "the interval counts from the last deploy";
}

TEST_F(RescheduleTest, AnInstanceThatFitsNowhereIsLoggedOnceAndStaysWhereItIs) {
  auto a = add_node("node-a", {"az=a"});
  add_node("node-b", {"az=b"});
  auto svc = deployed("web", spec(1, {{"affinity", {"label==az=a"}}}));
  ASSERT_EQ(placement(svc.id)[1], a.id);
  set_online(a, false);
  for (int i = 0; i < 40; ++i) advance(5s);  // well past the 2 min grace, many loops
  EXPECT_EQ(deploys(svc.id), 1) << "nowhere to go: no deploy";
  EXPECT_EQ(placement(svc.id)[1], a.id);
  int logged = 0;
  for (auto& e : events("web"))
    if (e.type == "scheduler" && e.severity == 3 && e.message.find("affinity") != std::string::npos) ++logged;
  EXPECT_EQ(logged, 1);
}

}  // namespace
}  // namespace kontena::master::testing
