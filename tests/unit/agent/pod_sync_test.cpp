// The service-pod reconciler wired into the agent session (agent/pod_sync.h) against the
// in-process fake master and the fake DockerClient: desired pods, set_state, /containers/exec,
// /service_pods/restart, /containers/health on changes, oneshot hooks marked done.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "agent/agent.h"
#include "agent/pod_sync.h"
#include "common/clock.h"
#include "agent_harness.h"
#include "common/error.h"
#include "protocol/service_pod.h"

using namespace kontena;
using namespace kontena::agent;
using agent::fakes::FakeDocker;
using agent::fakes::FakeMaster;
using agent::fakes::FakeMasterConnection;
using agent::fakes::AgentHarness;
using std::chrono::milliseconds;
using Json = nlohmann::json;

namespace {

class PodSyncTest : public AgentHarness {
 protected:
  PodSyncTest() {
    options.ping_timeout = milliseconds(1000);
    master.on_frame = [this](FakeMasterConnection& c, const Json& f) {
      if (FakeMaster::answer_node_update(c, f)) return;
      if (f.is_array() && f.size() == 4 && f[0] == 0 && f[2] == "/node_service_pods/list")
        c.send(Json::array({1, f[1], nullptr, {{"service_pods", pods}}}));
      else if (f.is_array() && f.size() == 4 && f[0] == 0 &&
               (f[2] == "/node_service_pods/set_state" || f[2] == "/node_service_pods/mark_oneshot_hook"))
        c.send(Json::array({1, f[1], nullptr, Json::object()}));
    };
  }

  // The reconciler thread may still post to the loop: stop it before the master and the loop go,
  // and destroy it only after the loop ran what it posted.
  ~PodSyncTest() override {
    stop_agent();
    if (sync) sync->stop();
    stop_master();
    sync.reset();
  }

  void start() {
    start_agent();
    PodSyncOptions o;
    o.interval = interval;
    o.watch_events = false;  // the fake Docker has no event stream
    // The reconciler's interval runs on its own thread: a real clock (ManualClock is not thread-safe).
    sync = std::make_unique<PodSync>(*agent, io.get_executor(), *docker, system_clock, o);
    run_agent();
  }

  std::size_t calls(const std::string& method) {
    auto* c = master.ws(0);
    return c ? c->calls(method).size() : 0;
  }

  SystemClock system_clock;
  milliseconds interval{60'000};
  Json pods = Json::array();
  std::unique_ptr<PodSync> sync;
};

const char* kNodeId = "QWER:TYUI:OPAS:DFGH:JKLZ:XCVB:NMQW:ERTY:UIOP:ASDF:GHJK:LZXC";

Json web_pod(Json extra = Json::object()) {
  Json p = {{"service_id", "svc-id-1"}, {"service_name", "web"},     {"grid_name", "demo"},
            {"instance_number", 1},     {"deploy_rev", "rev-1"},     {"service_revision", 2},
            {"desired_state", "running"}, {"image", "nginx:1.25"}};
  p.update(extra);
  return p;
}

docker::ContainerSummary web_container(const std::string& state = "running") {
  docker::ContainerSummary c;
  c.id = "c0ffee";
  c.name = "web-1";
  c.image = "nginx:1.25";
  c.image_id = "sha256:1";
  c.state = state;
  c.labels = {{protocol::kLabelContainerType, protocol::kContainerTypeContainer},
              {protocol::kLabelServiceId, "svc-id-1"},
              {protocol::kLabelServiceName, "web"},
              {protocol::kLabelInstanceNumber, "1"},
              {protocol::kLabelGridName, "demo"},
              {protocol::kLabelDeployRev, "rev-1"},
              {protocol::kLabelServiceRevision, "2"}};
  return c;
}

}  // namespace

TEST_F(PodSyncTest, ListsDesiredPodsAfterConnectAndOnNotifyUpdate) {
  start();
  ASSERT_TRUE(run_until([&] { return calls("/node_service_pods/list") >= 1; }));
  auto list = master.ws(0)->calls("/node_service_pods/list").front();
  EXPECT_EQ(Json::array({kNodeId}), list[3]);
  // Let the first pass settle, then the master says the pods changed.
  run_for(milliseconds(200));
  std::size_t before = calls("/node_service_pods/list");
  master.ws(0)->send(Json::array({2, "/service_pods/notify_update", Json::array()}));
  EXPECT_TRUE(run_until([&] { return calls("/node_service_pods/list") > before; }));
  // No desired pods: nothing to report.
  EXPECT_EQ(0u, calls("/node_service_pods/set_state"));
}

TEST_F(PodSyncTest, ListsAgainEveryInterval) {
  interval = milliseconds(300);
  start();
  EXPECT_TRUE(run_until([&] { return calls("/node_service_pods/list") >= 3; }));
}

TEST_F(PodSyncTest, ReportsTheStateOfARunningPod) {
  pods = Json::array({{{"service_id", "svc-id-1"},
                       {"service_name", "web"},
                       {"grid_name", "demo"},
                       {"instance_number", 1},
                       {"deploy_rev", "rev-1"},
                       {"service_revision", 2},
                       {"desired_state", "running"},
                       {"image", "nginx:1.25"}}});
  docker::ContainerSummary c;
  c.id = "c0ffee";
  c.name = "web-1";
  c.image = "nginx:1.25";
  c.image_id = "sha256:1";
  c.state = "running";
  c.status = "Up 1 minute";
  c.labels = {{protocol::kLabelContainerType, protocol::kContainerTypeContainer},
              {protocol::kLabelServiceId, "svc-id-1"},
              {protocol::kLabelServiceName, "web"},
              {protocol::kLabelInstanceNumber, "1"},
              {protocol::kLabelGridName, "demo"},
              {protocol::kLabelDeployRev, "rev-1"},
              {protocol::kLabelServiceRevision, "2"}};
  docker->set_containers({c});
  start();
  ASSERT_TRUE(run_until([&] { return calls("/node_service_pods/set_state") >= 1; }));
  auto set_state = master.ws(0)->calls("/node_service_pods/set_state").front();
  ASSERT_EQ(2u, set_state[3].size());
  EXPECT_EQ(kNodeId, set_state[3][0]);
  const Json& state = set_state[3][1];
  EXPECT_EQ("svc-id-1", state["service_id"]);
  EXPECT_EQ(1, state["instance_number"]);
  EXPECT_EQ("running", state["state"]) << state.dump();
  EXPECT_EQ("rev-1", state["rev"]);
}

// ------------------------------------------------------------------------------------------
// /containers/exec

TEST_F(PodSyncTest, ExecRequestRunsTheCommandOffTheEventLoop) {
  docker->set_exec([](const FakeDocker::ExecCall& call) {
    std::this_thread::sleep_for(milliseconds(300));
    docker::ExecResult r;
    r.exit_code = call.cmd.back() == "exit 3" ? 3 : 0;
    r.stdout_data = "out\n";
    r.stderr_data = std::string("bad \xFF byte");
    return r;
  });
  start();
  ASSERT_TRUE(run_until([&] { return calls("/node_service_pods/list") >= 1; }));
  auto* c = master.ws(0);
  c->send(Json::array({0, 77, "/containers/exec",
                       Json::array({{{"container", "shop.web-1"}, {"cmd", {"sh", "-c", "exit 3"}}, {"timeout", 5}}})}));
  // The loop answers other requests while the command runs.
  c->send(Json::array({0, 78, "/agent/ping", Json::array()}));
  ASSERT_TRUE(run_until([&] { return !c->response(78).is_null(); }));
  EXPECT_TRUE(c->response(77).is_null()) << "the exec answered before the ping: it ran on the loop";
  ASSERT_TRUE(run_until([&] { return !c->response(77).is_null(); }));
  Json r = c->response(77);
  EXPECT_TRUE(r[2].is_null()) << r.dump();
  EXPECT_EQ(r[3]["exit_code"], 3);
  EXPECT_EQ(r[3]["stdout"], "out\n");
  EXPECT_EQ(r[3]["stderr"], "bad \xEF\xBF\xBD byte");
  auto execs = docker->exec_calls();
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0].container, "shop.web-1");
  EXPECT_EQ(execs[0].cmd, (std::vector<std::string>{"sh", "-c", "exit 3"}));
  EXPECT_EQ(execs[0].timeout, milliseconds(5000));
}

TEST_F(PodSyncTest, ExecOfAMissingContainerIs404AndBadParams422) {
  docker->set_exec([](const FakeDocker::ExecCall& call) -> docker::ExecResult {
    fail(ErrorKind::not_found, "no such container: " + call.container);
  });
  start();
  ASSERT_TRUE(run_until([&] { return calls("/node_service_pods/list") >= 1; }));
  auto* c = master.ws(0);
  c->send(Json::array({0, 1, "/containers/exec", Json::array({{{"container", "nope"}, {"cmd", {"true"}}}})}));
  c->send(Json::array({0, 2, "/containers/exec", Json::array({{{"container", "web-1"}}})}));
  c->send(Json::array({0, 3, "/containers/exec", Json::array({{{"container", "web-1"}, {"cmd", {"true"}}, {"timeout", -1}}})}));
  c->send(Json::array({0, 4, "/containers/exec", Json::array({{{"container", ""}, {"cmd", {"true"}}}})}));
  c->send(Json::array({0, 5, "/containers/exec", Json::array({"not an object"})}));
  c->send(Json::array({0, 6, "/containers/exec", Json::array({{{"container", "web-1"}, {"cmd", {"ls", 1}}}})}));
  ASSERT_TRUE(run_until([&] {
    for (int id = 1; id <= 6; ++id)
      if (c->response(id).is_null()) return false;
    return true;
  }));
  Json missing = c->response(1);
  EXPECT_EQ(missing[2]["code"], 404) << missing.dump();
  EXPECT_NE(missing[2]["message"].get<std::string>().find("no such container: nope"), std::string::npos);
  EXPECT_EQ(c->response(2)[2]["code"], 422);
  EXPECT_NE(c->response(2)[2]["message"].get<std::string>().find("cmd must be a non-empty list"), std::string::npos);
  EXPECT_EQ(c->response(3)[2]["code"], 422);
  EXPECT_NE(c->response(3)[2]["message"].get<std::string>().find("timeout must be"), std::string::npos);
  EXPECT_EQ(c->response(4)[2]["code"], 422);
  EXPECT_EQ(c->response(5)[2]["code"], 422);
  EXPECT_EQ(c->response(6)[2]["code"], 422);
  EXPECT_EQ(docker->exec_calls().size(), 1u);  // only the valid request reached Docker
  EXPECT_TRUE(c->open);                        // bad params never end the session
}

TEST(ExecRequest, ParsesAndDefaults) {
  auto r = parse_exec_request(Json::array({{{"container", "a"}, {"cmd", {"ls", "-l"}}}}));
  EXPECT_EQ(r.container, "a");
  EXPECT_EQ(r.cmd, (std::vector<std::string>{"ls", "-l"}));
  EXPECT_EQ(r.timeout, milliseconds(60'000));
  EXPECT_EQ(parse_exec_request(Json::array({{{"container", "a"}, {"cmd", {"ls"}}, {"timeout", 0.5}}})).timeout,
            milliseconds(500));
  EXPECT_THROW(parse_exec_request(Json::array({{{"container", "a"}, {"cmd", Json::array()}}})), Error);
  EXPECT_THROW(parse_exec_request(Json::array({{{"container", "a"}, {"cmd", {""}}}})), Error);
  EXPECT_THROW(parse_exec_request(Json::array({{{"container", "a"}, {"cmd", {"x"}}, {"timeout", "5"}}})), Error);
  EXPECT_THROW(parse_exec_request(Json::array({{{"container", "a"}, {"cmd", {"x"}}, {"timeout", 100000}}})), Error);
  EXPECT_THROW(parse_exec_request(Json::array()), Error);
}

// ------------------------------------------------------------------------------------------
// /service_pods/restart, health, oneshot hooks

TEST_F(PodSyncTest, RestartNotificationRestartsThatInstance) {
  pods = Json::array({web_pod({{"stop_grace_period", 4}})});
  docker->set_containers({web_container()});
  start();
  ASSERT_TRUE(run_until([&] { return calls("/node_service_pods/set_state") >= 1; }));
  EXPECT_TRUE(docker->lifecycle_calls().empty());
  // Unknown instance and malformed params: nothing happens.
  master.ws(0)->send(Json::array({2, "/service_pods/restart", Json::array({{{"service_id", "svc-id-1"}, {"instance_number", 2}}})}));
  master.ws(0)->send(Json::array({2, "/service_pods/restart", Json::array({"junk"})}));
  master.ws(0)->send(Json::array({2, "/service_pods/restart", Json::array({{{"service_id", "svc-id-1"}, {"instance_number", 1}}})}));
  ASSERT_TRUE(run_until([&] { return docker->lifecycle_calls().size() >= 2; }));
  run_for(milliseconds(200));
  EXPECT_EQ(docker->lifecycle_calls(), (std::vector<std::string>{"stop c0ffee 4", "start c0ffee"}));
  EXPECT_TRUE(master.ws(0)->open);
}

TEST_F(PodSyncTest, HealthChangesAreNotifiedOnce) {
  // The fake Docker gives the container no address: every check fails the same way (and the
  // unhealthy container is restarted each time), but only the change is sent.
  pods = Json::array({web_pod({{"health_check",
                                {{"protocol", "tcp"}, {"port", 80}, {"interval", 1}, {"timeout", 1}, {"initial_delay", 1}}}})});
  docker->set_containers({web_container()});
  start();
  ASSERT_TRUE(run_until([&] { return calls("/containers/health") >= 1; }, milliseconds(5000)));
  auto h = master.ws(0)->calls("/containers/health").front();
  ASSERT_EQ(h.size(), 3u) << h.dump();  // a notification
  EXPECT_EQ(h[2][0], kNodeId);
  EXPECT_EQ(h[2][1]["service_id"], "svc-id-1");
  EXPECT_EQ(h[2][1]["instance_number"], 1);
  EXPECT_EQ(h[2][1]["status"], "unhealthy");
  EXPECT_EQ(h[2][1]["error"], "the container has no address");
  // More failed checks (each restarts the container): no new notification.
  ASSERT_TRUE(run_until([&] {
    auto l = docker->lifecycle_calls();
    return std::count_if(l.begin(), l.end(), [](const std::string& s) { return s.rfind("stop", 0) == 0; }) >= 2;
  }, milliseconds(6000)));
  EXPECT_EQ(calls("/containers/health"), 1u);
}

TEST_F(PodSyncTest, PostStartHooksRunThroughExecAndOneshotsAreMarkedDone) {
  pods = Json::array({web_pod({{"hooks", {{"post_start", {{{"name", "warm"}, {"cmd", "echo warm"}},
                                                          {{"name", "register"}, {"cmd", "echo once"}, {"oneshot", true}}}}}}})});
  docker->set_containers({web_container("exited")});  // down: started at once, then the hooks
  docker->set_exec([](const FakeDocker::ExecCall&) {
    docker::ExecResult r;
    r.exit_code = 0;
    return r;
  });
  start();
  ASSERT_TRUE(run_until([&] { return calls("/node_service_pods/mark_oneshot_hook") >= 1; }));
  auto execs = docker->exec_calls();
  ASSERT_EQ(execs.size(), 2u);
  EXPECT_EQ(execs[0].container, "c0ffee");
  EXPECT_EQ(execs[0].cmd, (std::vector<std::string>{"/bin/sh", "-c", "echo warm"}));
  EXPECT_EQ(execs[1].cmd, (std::vector<std::string>{"/bin/sh", "-c", "echo once"}));
  EXPECT_EQ(execs[0].timeout, milliseconds(300'000));
  auto mark = master.ws(0)->calls("/node_service_pods/mark_oneshot_hook").front();
  ASSERT_EQ(mark.size(), 4u);  // a request
  EXPECT_EQ(mark[3][0], kNodeId);
  EXPECT_EQ(mark[3][1]["service_id"], "svc-id-1");
  EXPECT_EQ(mark[3][1]["instance_number"], 1);
  EXPECT_EQ(mark[3][1]["hook"], "register");
  run_for(milliseconds(200));
  EXPECT_EQ(calls("/node_service_pods/mark_oneshot_hook"), 1u);  // not for the other hook
}

TEST_F(PodSyncTest, FailingPostStartIsReportedWithTheHookAndExitCode) {
  pods = Json::array({web_pod({{"hooks", {{"post_start", {{{"name", "warm"}, {"cmd", "exit 5"}}}}}}})});
  docker->set_containers({web_container("exited")});
  docker->set_exec([](const FakeDocker::ExecCall&) {
    docker::ExecResult r;
    r.exit_code = 5;
    return r;
  });
  start();
  ASSERT_TRUE(run_until([&] {
    for (auto& s : master.ws(0) ? master.ws(0)->calls("/node_service_pods/set_state") : std::vector<Json>{})
      if (s[3][1]["error"].is_string()) return true;
    return false;
  }));
  Json state;
  for (auto& s : master.ws(0)->calls("/node_service_pods/set_state"))
    if (s[3][1]["error"].is_string()) state = s[3][1];
  EXPECT_NE(state["state"], "running") << state.dump();
  EXPECT_NE(state["error"].get<std::string>().find("post_start hook \"warm\" (exit 5) exited with code 5"),
            std::string::npos)
      << state.dump();
}
