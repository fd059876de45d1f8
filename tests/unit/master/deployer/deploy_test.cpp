// Service deploys: rolling order, min_health in-flight limits, success on agent reports, errors
// naming the instance (error report, timeout), scale down, force, stop/start/restart/remove,
// master restart mid-deploy.
#include "fixture.h"

namespace kontena::master::testing {
namespace {

int count_state(const Json& items, const std::string& state) {
  int n = 0;
  for (const auto& i : items) n += i["state"] == state;
  return n;
}

TEST_F(DeployerTest, FirstDeployStartsNewInstancesAtOnceAndSucceedsOnReports) {
  add_node("node-1");
  add_node("node-2");
  auto svc = add_service("web", spec(3));
  auto queued = deployer_->deploy_service(svc, false, "deploy");
  EXPECT_EQ(queued.state, "created");
  EXPECT_EQ(service(svc.id).state, "running");

  tick();
  auto d = last_deploy(svc.id);
  EXPECT_EQ(d.state, "ongoing");
  ASSERT_EQ(d.instances.size(), 3u);
  // Nothing runs yet, so min_health has nothing to protect: all three start at once.
  EXPECT_EQ(count_state(d.instances, "deploying"), 3);
  ASSERT_EQ(instances(svc.id).size(), 3u);
  for (const auto& inst : instances(svc.id)) {
    EXPECT_EQ(inst.desired_state, "running");
    EXPECT_EQ(inst.deploy_rev, format_time_ms(d.started_at));
  }
  // Nothing finishes until the agents report.
  tick();
  EXPECT_EQ(last_deploy(svc.id).state, "ongoing");
  auto first = instances(svc.id)[0];
  report(first, "running");
  auto inst = instances(svc.id)[0];
  EXPECT_EQ(inst.state, "running");
  EXPECT_EQ(inst.reported_at, clock_.now_unix_ms());
  tick();
  d = last_deploy(svc.id);
  EXPECT_EQ(d.instances[0]["state"], "running");
  EXPECT_EQ(count_state(d.instances, "deploying"), 2);

  d = run_deploy(svc.id);
  EXPECT_EQ(d.state, "success") << d.error;
  EXPECT_EQ(count_state(d.instances, "running"), 3);
  EXPECT_GT(d.finished_at, 0);
  EXPECT_GT(service(svc.id).deployed_at, 0);
  // ha spreads over both nodes.
  std::set<std::int64_t> nodes;
  for (auto& i : instances(svc.id)) nodes.insert(i.node_id);
  EXPECT_EQ(nodes.size(), 2u);
  EXPECT_TRUE(has_event("service:deploy", "finished"));
}

TEST_F(DeployerTest, RedeployOfRunningInstancesRollsOneAtATimeByDefault) {
  add_node("node-1");
  add_node("node-2");
  auto svc = add_service("web", spec(3));
  deployer_->deploy_service(svc, false, "deploy");
  ASSERT_EQ(run_deploy(svc.id).state, "success");
  clock_.advance(1s);
  link_.clear();
  deployer_->deploy_service(service(svc.id), true, "deploy");
  tick();
  auto d = last_deploy(svc.id);
  EXPECT_EQ(d.state, "ongoing");
  ASSERT_EQ(d.instances.size(), 3u);
  // min_health 0.8 with 3 running instances: floor(3 * 0.2) = 0 -> one at a time, in order.
  EXPECT_EQ(d.instances[0]["state"], "deploying");
  EXPECT_EQ(d.instances[1]["state"], "pending");
  EXPECT_EQ(d.instances[2]["state"], "pending");
  auto first = instances(svc.id)[0];
  EXPECT_EQ(first.instance_number, 1);
  EXPECT_EQ(first.deploy_rev, format_time_ms(d.started_at));
  EXPECT_NE(instances(svc.id)[1].deploy_rev, first.deploy_rev);
  EXPECT_EQ(link_.notified(), std::set<std::int64_t>{first.node_id});

  // Nothing moves until the agent reports.
  tick();
  EXPECT_EQ(last_deploy(svc.id).instances[1]["state"], "pending");
  report(first, "running");
  tick();
  d = last_deploy(svc.id);
  EXPECT_EQ(d.instances[0]["state"], "running");
  EXPECT_EQ(d.instances[1]["state"], "deploying");
  EXPECT_EQ(d.instances[2]["state"], "pending");
  d = run_deploy(svc.id);
  EXPECT_EQ(d.state, "success") << d.error;
  EXPECT_EQ(count_state(d.instances, "running"), 3);
}

TEST_F(DeployerTest, StatefulInstancesStartOneAfterTheOtherEvenTheFirstTime) {
  add_node("node-1");
  add_node("node-2");
  auto svc = add_service("db", spec(3, {{"stateful", true}}));
  deployer_->deploy_service(svc, false, "deploy");
  tick();
  auto d = last_deploy(svc.id);
  EXPECT_EQ(count_state(d.instances, "deploying"), 1);
  EXPECT_EQ(d.instances[0]["state"], "deploying");
  EXPECT_EQ(run_deploy(svc.id).state, "success");
}

TEST_F(DeployerTest, InstancesNotReachedYetKeepTheirContainerDuringARollingUpdate) {
  auto n = add_node("node-1");
  auto svc = add_service("web", spec(2));
  deployer_->deploy_service(svc, false, "deploy");
  ASSERT_EQ(run_deploy(svc.id).state, "success");
  auto s = service(svc.id);
  s.spec["image"] = "local/busybox:2";
  s.revision = 2;
  store_->update_service(s);
  clock_.advance(1s);
  deployer_->deploy_service(s, false, "deploy");
  tick();
  auto pods = deployer_->node_service_pods(n.id)["service_pods"];
  ASSERT_EQ(pods.size(), 2u);
  EXPECT_EQ(pods[0]["service_revision"], 2);
  EXPECT_EQ(pods[1]["service_revision"], 0) << "instance 2 is not recreated before its turn";
  report_running(svc.id);
  tick();
  pods = deployer_->node_service_pods(n.id)["service_pods"];
  EXPECT_EQ(pods[1]["service_revision"], 2);
  EXPECT_EQ(run_deploy(svc.id).state, "success");
}

TEST_F(DeployerTest, MinHealthLimitsRunningInstancesInFlight) {
  for (int i = 1; i <= 4; ++i) add_node("node-" + std::to_string(i));
  struct Case {
    int instances;
    double min_health;
    int in_flight;
  } cases[] = {{20, 0.8, 4}, {10, 0.5, 5}, {30, 0.0, 20}, {4, 0.8, 1}, {10, 1.0, 1}};
  int k = 0;
  for (const auto& c : cases) {
    auto sp = spec(c.instances);
    sp["deploy"]["min_health"] = c.min_health;
    auto svc = add_service("svc-" + std::to_string(k++), sp);
    deployer_->deploy_service(svc, false, "deploy");
    tick();
    // The first deploy: no instance runs yet, all start at once (at most 20).
    EXPECT_EQ(count_state(last_deploy(svc.id).instances, "deploying"), std::min(c.instances, 20));
    ASSERT_EQ(run_deploy(svc.id).state, "success");
    // A redeploy takes running instances down: at most the min_health share at once.
    clock_.advance(1s);
    deployer_->deploy_service(service(svc.id), true, "deploy");
    tick();
    auto d = last_deploy(svc.id);
    EXPECT_EQ(count_state(d.instances, "deploying"), c.in_flight) << c.instances << " " << c.min_health;
    // The limit holds while reports come in.
    report_running(svc.id);
    tick();
    d = last_deploy(svc.id);
    EXPECT_LE(count_state(d.instances, "deploying"), c.in_flight);
    d = run_deploy(svc.id);
    EXPECT_EQ(d.state, "success") << d.error;
    EXPECT_EQ(static_cast<int>(instances(svc.id).size()), c.instances);
  }
}

TEST_F(DeployerTest, ErrorReportFailsTheDeployNamingInstanceNodeAndReason) {
  add_node("node-1");
  auto svc = add_service("web", spec(2));
  deployer_->deploy_service(svc, false, "deploy");
  tick();
  auto both = instances(svc.id);
  ASSERT_EQ(both.size(), 2u);
  report(both[0], "running");
  auto second = both[1];
  report(second, "missing", "image \"x:1\" not found and no registry could be reached");
  tick();
  auto d = last_deploy(svc.id);
  EXPECT_EQ(d.state, "error");
  EXPECT_EQ(d.error, "instance 2 on node-1: image \"x:1\" not found and no registry could be reached");
  EXPECT_EQ(d.instances[1]["state"], "error");
  EXPECT_EQ(d.instances[1]["error"], "image \"x:1\" not found and no registry could be reached");
  EXPECT_GT(d.finished_at, 0);
  EXPECT_EQ(service(svc.id).deployed_at, 0);
  EXPECT_TRUE(has_event("service:deploy", "instance 2 on node-1"));
}

TEST_F(DeployerTest, TimeoutFailsTheDeployNamingTheInstance) {
  auto n = add_node("node-1");
  auto svc = add_service("web", spec(1));
  deployer_->deploy_service(svc, false, "deploy");
  tick();
  advance(59s);
  EXPECT_EQ(last_deploy(svc.id).state, "ongoing");
  set_online(n, false);
  advance(2s);
  auto d = last_deploy(svc.id);
  EXPECT_EQ(d.state, "error");
  EXPECT_NE(d.error.find("instance 1 on node-1: no running report from the agent within 1m"), std::string::npos)
      << d.error;
  EXPECT_NE(d.error.find("node node-1 is offline"), std::string::npos) << d.error;
}

TEST_F(DeployerTest, SchedulerErrorFailsTheDeployWithItsMessage) {
  add_node("node-1", {"az=a"});
  auto svc = add_service("web", spec(1, {{"affinity", {"label==az=b"}}}));
  deployer_->deploy_service(svc, false, "deploy");
  tick();
  auto d = last_deploy(svc.id);
  EXPECT_EQ(d.state, "error");
  EXPECT_NE(d.error.find("affinity label==az=b"), std::string::npos) << d.error;
  EXPECT_TRUE(instances(svc.id).empty());
}

TEST_F(DeployerTest, ScaleDownRemovesRowsAndNodesDropThePods) {
  add_node("node-1");
  add_node("node-2");
  auto svc = add_service("web", spec(3));
  deployer_->deploy_service(svc, false, "deploy");
  ASSERT_EQ(run_deploy(svc.id).state, "success");
  auto before = instances(svc.id);
  ASSERT_EQ(before.size(), 3u);

  auto s = service(svc.id);
  s.spec["instances"] = 1;
  s.revision += 1;
  store_->update_service(s);
  link_.clear();
  deployer_->deploy_service(s, false, "scale");
  tick();
  auto now = instances(svc.id);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].instance_number, 1);
  for (const auto& i : before) {
    if (i.instance_number == 1) continue;
    EXPECT_TRUE(link_.notified().count(i.node_id));
    auto listed = deployer_->node_service_pods(i.node_id);
    for (const auto& pod : listed["service_pods"])
      EXPECT_EQ(pod["instance_number"], 1) << "instance " << i.instance_number << " still listed";
  }
  auto d = run_deploy(svc.id);
  EXPECT_EQ(d.state, "success");
  EXPECT_EQ(d.reason, "scale");
  EXPECT_EQ(count_state(d.instances, "removed"), 2);
}

TEST_F(DeployerTest, ForceBumpsTheRevision) {
  add_node("node-1");
  auto svc = add_service("web", spec(1));
  deployer_->deploy_service(svc, false, "deploy");
  ASSERT_EQ(run_deploy(svc.id).state, "success");
  auto rev = service(svc.id).revision;
  auto d = deployer_->deploy_service(service(svc.id), true, "");
  EXPECT_TRUE(d.force);
  EXPECT_EQ(d.reason, "force");
  EXPECT_EQ(service(svc.id).revision, rev + 1);
  ASSERT_EQ(run_deploy(svc.id).state, "success");
  auto pods = deployer_->node_service_pods(instances(svc.id)[0].node_id)["service_pods"];
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0]["service_revision"], rev + 1);
}

TEST_F(DeployerTest, OneDeployPerServiceOldestFirst) {
  add_node("node-1");
  auto svc = add_service("web", spec(1));
  auto d1 = deployer_->deploy_service(svc, false, "deploy");
  auto d2 = deployer_->deploy_service(svc, false, "deploy");
  tick();
  EXPECT_EQ(store_->service_deploy(d1.id)->state, "ongoing");
  EXPECT_EQ(store_->service_deploy(d2.id)->state, "created");
  report_running(svc.id);
  tick();
  EXPECT_EQ(store_->service_deploy(d1.id)->state, "success");
  tick();
  EXPECT_EQ(store_->service_deploy(d2.id)->state, "ongoing");
}

TEST_F(DeployerTest, StopStartRestartAndRemove) {
  auto n1 = add_node("node-1");
  auto svc = add_service("web", spec(2));
  deployer_->deploy_service(svc, false, "deploy");
  ASSERT_EQ(run_deploy(svc.id).state, "success");

  link_.clear();
  deployer_->stop_service(service(svc.id));
  EXPECT_EQ(service(svc.id).state, "stopped");
  for (auto& i : instances(svc.id)) EXPECT_EQ(i.desired_state, "stopped");
  EXPECT_EQ(link_.notified(), std::set<std::int64_t>{n1.id});
  auto listed = deployer_->node_service_pods(n1.id);
  for (auto& pod : listed["service_pods"]) EXPECT_EQ(pod["desired_state"], "stopped");

  deployer_->start_service(service(svc.id));
  EXPECT_EQ(service(svc.id).state, "running");
  for (auto& i : instances(svc.id)) EXPECT_EQ(i.desired_state, "running");

  link_.clear();
  deployer_->restart_service(service(svc.id));
  auto restarts = link_.of("/service_pods/restart");
  ASSERT_EQ(restarts.size(), 2u);
  EXPECT_EQ(restarts[0].params, Json::parse(R"([{"service_id": ")" + std::to_string(svc.id) +
                                             R"(", "instance_number": 1}])"));

  link_.clear();
  deployer_->remove_service(service(svc.id));
  EXPECT_FALSE(store_->service_by_id(svc.id));
  EXPECT_TRUE(instances(svc.id).empty());
  EXPECT_EQ(link_.notified(), std::set<std::int64_t>{n1.id});
  EXPECT_TRUE(deployer_->node_service_pods(n1.id)["service_pods"].empty());
}

TEST_F(DeployerTest, StoppingDuringADeployAbortsIt) {
  add_node("node-1");
  auto svc = add_service("web", spec(3));
  deployer_->deploy_service(svc, false, "deploy");
  tick();
  deployer_->stop_service(service(svc.id));
  tick();
  EXPECT_EQ(last_deploy(svc.id).state, "aborted");
}

TEST_F(DeployerTest, MasterRestartMidDeployResumes) {
  add_node("node-1");
  add_node("node-2");
  // stateful: its instances start one after the other, so the restart comes mid-way
  auto svc = add_service("web", spec(3, {{"stateful", true}}));
  deployer_->deploy_service(svc, false, "deploy");
  tick();
  report_running(svc.id);
  tick();
  auto d = last_deploy(svc.id);
  ASSERT_EQ(d.state, "ongoing");
  ASSERT_EQ(count_state(d.instances, "running"), 1);

  deployer_.reset();  // the master stops
  clock_.advance(5s);
  deployer_ = make_deployer();
  tick();
  d = last_deploy(svc.id);
  EXPECT_EQ(d.state, "ongoing");
  // Restarted from the first instance: it is already at the deploy's rev and counts at once.
  d = run_deploy(svc.id);
  EXPECT_EQ(d.state, "success") << d.error;
  EXPECT_EQ(instances(svc.id).size(), 3u);
  for (auto& i : instances(svc.id)) EXPECT_EQ(i.deploy_rev, format_time_ms(d.started_at));
}

TEST_F(DeployerTest, StartedThreadReactsToReportsAtOnce) {
  add_node("node-1");
  auto sp = spec(3, {{"stateful", true}});  // stateful: its instances start one after the other
  auto svc = add_service("web", sp);
  deployer_->start();
  deployer_->deploy_service(svc, false, "deploy");
  // The worker's tick is 1 s; reports wake it: 3 sequential instances well under 3 s.
  auto t0 = std::chrono::steady_clock::now();
  std::string state;
  while (std::chrono::steady_clock::now() - t0 < 10s) {
    report_running(svc.id);
    state = last_deploy(svc.id).state;
    if (state == "success" || state == "error") break;
    std::this_thread::sleep_for(5ms);
  }
  auto took = std::chrono::steady_clock::now() - t0;
  deployer_->stop();
  EXPECT_EQ(state, "success");
  EXPECT_LT(took, 2s);
}

TEST_F(DeployerTest, ExecMapsAgentAnswersAndErrors) {
  auto n = add_node("node-1");
  link_.answer = [](std::int64_t, const std::string& method, const Json& params) {
    if (params[0]["container"] == "nope") return protocol::rpc_error(1, 404, "container nope not found");
    EXPECT_EQ(method, "/containers/exec");
    return protocol::rpc_result(1, {{"exit_code", 0}, {"stdout", "hi\n"}, {"stderr", ""}});
  };
  auto r = deployer_->exec(n, "web-1", {"echo", "hi"}, 30s);
  EXPECT_EQ(r["stdout"], "hi\n");
  ASSERT_EQ(link_.calls.size(), 1u);
  EXPECT_EQ(link_.calls[0].params, Json::parse(R"([{"container": "web-1", "cmd": ["echo", "hi"], "timeout": 30}])"));
  EXPECT_EQ(link_.calls[0].timeout, 35s);
  try {
    deployer_->exec(n, "nope", {"true"}, 5s);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
  }
  set_online(n, false);
  try {
    deployer_->exec(n, "web-1", {"true"}, 5s);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_STREQ(e.what(), "node node-1 is offline");
  }
}

}  // namespace
}  // namespace kontena::master::testing
