// The reconciler's per-instance restart (/service_pods/restart) and the real ContainerExec
// (make_docker_exec over DockerClient::exec) driving post_start / pre_stop hooks, against the
// in-memory engine and a ManualClock.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "agent/pods/reconciler.h"
#include "common/error.h"
#include "fake_engine.h"

using namespace kontena;
using namespace kontena::agent::pods;
using namespace kontena::agent::pods::testing;
using namespace std::chrono_literals;
using protocol::PodState;

namespace {

using V = std::vector<std::string>;

ServicePod web(int n) {
  ServicePod p = sleeping_pod("web", n);
  p.stop_grace_period = 7;
  return p;
}

struct RestartExec : ::testing::Test {
  FakeEngine engine;
  ManualClock clock;
  std::vector<PodState> reports;
  std::vector<std::string> oneshots;
  std::unique_ptr<PodReconciler> rec;

  void SetUp() override {
    engine.add_image("local/busybox:latest", "sha256:bb1");
    ReconcilerOptions o;
    o.node_name = "node-1";
    o.watch_events = false;
    o.sleep = [this](std::chrono::milliseconds d) { clock.advance(d); };
    rec = std::make_unique<PodReconciler>(
        engine, clock, o, [this](const PodState& s) { reports.push_back(s); }, nullptr,
        make_docker_exec(engine, 30s));
    rec->on_oneshot_hook([this](const ServicePod&, const protocol::PodHook& h) { oneshots.push_back(h.name); });
  }
  V calls_like(const std::string& prefix) {
    V out;
    for (auto& c : engine.calls())
      if (c.rfind(prefix, 0) == 0) out.push_back(c);
    return out;
  }
  V mutations_and_execs() {
    V out;
    for (auto& c : engine.calls())
      if (c.rfind("create ", 0) == 0 || c.rfind("start ", 0) == 0 || c.rfind("stop ", 0) == 0 ||
          c.rfind("remove ", 0) == 0 || c.rfind("exec ", 0) == 0)
        out.push_back(c);
    engine.clear_calls();
    return out;
  }
};

}  // namespace

TEST_F(RestartExec, PostStartAndPreStopHooksRunInTheContainer) {
  auto p = web(1);
  p.hooks.post_start = {{"warm", "echo warm", false}, {"register", "echo once", true}};
  p.hooks.pre_stop = {{"drain", "echo drain", false}};
  auto r = rec->reconcile({p});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(mutations_and_execs(),
            (V{"create shop.web-1", "start shop.web-1", "exec shop.web-1 echo warm", "exec shop.web-1 echo once"}));
  EXPECT_EQ(oneshots, V{"register"});  // only the oneshot one, once it succeeded
  // Removing the pod: pre_stop runs before the stop.
  rec->reconcile({});
  EXPECT_EQ(mutations_and_execs(), (V{"exec shop.web-1 echo drain", "stop shop.web-1 7", "remove shop.web-1"}));
}

TEST_F(RestartExec, FailingPostStartFailsTheApplyWithTheHookAndExitCode) {
  auto p = web(1);
  p.hooks.post_start = {{"migrate", "false; exit 4", true}};
  auto r = rec->reconcile({p});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("post_start hook \"migrate\" (false; exit 4) exited with code 4"), std::string::npos)
      << r.errors[0];
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_NE(r.reported[0].state, "running");
  EXPECT_NE(r.reported[0].error.find("exited with code 4"), std::string::npos);
  EXPECT_TRUE(oneshots.empty());  // a failed oneshot hook is not marked done
}

TEST_F(RestartExec, AHookThatCannotRunNamesTheHook) {
  auto p = web(1);
  p.hooks.post_start = {{"warm", "echo warm", false}};
  engine.fail_next("exec", ErrorKind::unavailable, "the command did not finish within 30 s");
  auto r = rec->reconcile({p});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("post_start hook \"warm\" (echo warm) could not run: the command did not finish"),
            std::string::npos)
      << r.errors[0];
  // A failing pre_stop hook does not keep the container from stopping.
  p.hooks.post_start.clear();
  p.hooks.pre_stop = {{"drain", "exit 9", false}};
  rec->reconcile({p});
  engine.clear_calls();
  auto r2 = rec->reconcile({});
  EXPECT_TRUE(r2.errors.empty());
  EXPECT_TRUE(engine.containers().empty());
}

TEST_F(RestartExec, RestartStopsWithTheGraceAndStartsAgain) {
  auto p = web(1);
  p.hooks.post_start = {{"warm", "echo warm", false}};
  p.hooks.pre_stop = {{"drain", "echo drain", false}};
  rec->reconcile({p, web(2)});
  engine.clear_calls();
  reports.clear();
  auto id = engine.container("shop.web-1")->id;
  auto r = rec->restart_now({"id-web", 1});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(mutations_and_execs(), (V{"exec shop.web-1 echo drain", "stop shop.web-1 7", "start shop.web-1",
                                      "exec shop.web-1 echo warm"}));
  EXPECT_EQ(engine.container("shop.web-1")->id, id);  // the same container
  EXPECT_EQ(engine.container("shop.web-1")->state, "running");
  EXPECT_EQ(engine.container("shop.web-1")->starts, 2);
  EXPECT_EQ(engine.container("shop.web-2")->starts, 1);  // the other instance untouched
  // Still running: no state change to report; the next pass has nothing to do.
  EXPECT_TRUE(reports.empty());
  rec->tick();
  EXPECT_EQ(mutations_and_execs(), V{});
}

TEST_F(RestartExec, RestartOfAStoppedContainerStartsIt) {
  rec->reconcile({web(1)});
  engine.crash("shop.web-1", 1, 500);
  clock.advance(100ms);
  engine.clear_calls();
  auto r = rec->restart_now({"id-web", 1});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(mutations_and_execs(), V{"start shop.web-1"});
  EXPECT_EQ(engine.container("shop.web-1")->state, "running");
}

TEST_F(RestartExec, RestartOfAPodNotDesiredRunningHereChangesNothing) {
  auto stopped = web(2);
  stopped.desired_state = "stopped";
  rec->reconcile({web(1), stopped});
  engine.clear_calls();
  EXPECT_TRUE(rec->restart_now({"id-web", 3}).actions.empty());     // not on this node
  EXPECT_TRUE(rec->restart_now({"id-other", 1}).actions.empty());   // unknown service
  EXPECT_TRUE(rec->restart_now({"id-web", 2}).actions.empty());     // desired stopped
  EXPECT_EQ(mutations_and_execs(), V{});
}

TEST_F(RestartExec, RestartThroughTheBackgroundLoop) {
  // The loop's thread does the restart (the session's notification handler must not block).
  SystemClock real;
  ReconcilerOptions o;
  o.node_name = "node-1";
  o.watch_events = false;
  o.interval = 60s;
  PodReconciler bg(engine, real, o, nullptr, nullptr, make_docker_exec(engine, 30s));
  std::atomic<int> fetches{0};
  bg.start([&] {
    ++fetches;
    return std::vector<ServicePod>{web(1)};
  });
  auto until = [](auto pred) {
    auto end = std::chrono::steady_clock::now() + 5s;
    while (!pred() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(5ms);
    return pred();
  };
  ASSERT_TRUE(until([&] { return engine.container("shop.web-1").has_value() && engine.container("shop.web-1")->starts == 1; }));
  bg.restart({"id-web", 1});
  EXPECT_TRUE(until([&] { return engine.container("shop.web-1")->starts == 2; }));
  bg.stop();
  EXPECT_EQ(fetches.load(), 1);  // a restart is not a fetch
}
