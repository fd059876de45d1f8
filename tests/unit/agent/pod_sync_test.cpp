// The service-pod reconciler wired into the agent session (agent/pod_sync.h) against the
// in-process fake master and the fake DockerClient.
#include <gtest/gtest.h>

#include <optional>

#include "agent/agent.h"
#include "agent/pod_sync.h"
#include "common/clock.h"
#include "agent_harness.h"
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
      else if (f.is_array() && f.size() == 4 && f[0] == 0 && f[2] == "/node_service_pods/set_state")
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
