// The reconciler (src/agent/pods/reconciler.h) against an in-memory Docker Engine, a scripted
// prober and a ManualClock: create, idempotency, crash backoff, recreate on revisions, stop and
// remove, hooks, health checks, wait_for_port, failures, and the background loop's coalescing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <set>
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

class FakeProber final : public Prober {
 public:
  ProbeResult http_get(const std::string& ip, int port, const std::string& uri, std::chrono::milliseconds) override {
    std::lock_guard l(mu);
    calls.push_back("http " + ip + ":" + std::to_string(port) + uri);
    return healthy ? ProbeResult{true, "HTTP 200"} : ProbeResult{false, "HTTP 500"};
  }
  ProbeResult tcp_connect(const std::string& ip, int port, std::chrono::milliseconds) override {
    std::lock_guard l(mu);
    calls.push_back("tcp " + ip + ":" + std::to_string(port));
    bool open = port_open && ip.rfind(open_prefix, 0) == 0;
    return open ? ProbeResult{true, "connected"} : ProbeResult{false, "connection refused"};
  }
  std::vector<std::string> take_calls() {
    std::lock_guard l(mu);
    std::vector<std::string> out;
    out.swap(calls);
    return out;
  }
  std::mutex mu;
  std::vector<std::string> calls;
  bool healthy = true;
  bool port_open = true;
  std::string open_prefix;  // the port is open only at addresses starting with this
};

class FakeExec final : public ContainerExec {
 public:
  int exec(const std::string& id, const std::vector<std::string>& cmd) override {
    std::lock_guard l(mu);
    calls.push_back(id.substr(0, 5) + " " + cmd.back());
    return cmd.back().find("fail") != std::string::npos ? 2 : 0;
  }
  std::mutex mu;
  std::vector<std::string> calls;
};

ServicePod pod(const std::string& name, int n, std::int64_t rev = 1) {
  ServicePod p = sleeping_pod(name, n);
  p.service_revision = rev;
  p.env = {"FOO=bar"};
  return p;
}

struct Fixture : ::testing::Test {
  FakeEngine engine;
  ManualClock clock;
  std::shared_ptr<FakeProber> prober = std::make_shared<FakeProber>();
  std::shared_ptr<FakeExec> exec;
  std::vector<PodState> reports;
  std::mutex reports_mu;
  std::unique_ptr<PodReconciler> rec;

  void SetUp() override {
    engine.add_image("local/busybox:latest", "sha256:bb1");
    make();
  }
  void make(int pod_concurrency = ReconcilerOptions{}.pod_concurrency) {
    ReconcilerOptions o;
    o.node_name = "node-1";
    o.watch_events = false;
    o.pod_concurrency = pod_concurrency;
    o.sleep = [this](std::chrono::milliseconds d) { clock.advance(d); };
    rec = std::make_unique<PodReconciler>(
        engine, clock, o,
        [this](const PodState& s) {
          std::lock_guard l(reports_mu);
          reports.push_back(s);
        },
        prober, exec);
  }
  std::vector<std::string> report_lines() {
    std::lock_guard l(reports_mu);
    std::vector<std::string> out;
    for (auto& r : reports)
      out.push_back(r.service_id + "/" + std::to_string(r.instance_number) + " " + r.state +
                    (r.error.empty() ? "" : " ERR"));
    reports.clear();
    return out;
  }
  std::vector<std::string> mutations() {
    auto m = engine.mutations();
    engine.clear_calls();
    return m;
  }
};

using V = std::vector<std::string>;

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// Engine calls ("start shop.web-1") per container name, each container's in their order: pods
// are applied concurrently, only the order of one container's calls is defined.
std::map<std::string, V> per_container(const V& calls) {
  std::map<std::string, V> out;
  for (auto& c : calls) {
    auto sp = c.find(' ');
    std::string name = c.substr(sp + 1, c.find(' ', sp + 1) - sp - 1);
    out[name].push_back(c);
  }
  return out;
}

}  // namespace

TEST_F(Fixture, CreatesMissingPodsWithNamesLabelsEnv) {
  auto r = rec->reconcile({pod("web", 1), pod("web", 2)});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(per_container(mutations()), (std::map<std::string, V>{{"shop.web-1", {"create shop.web-1", "start shop.web-1"}},
                                                                  {"shop.web-2", {"create shop.web-2", "start shop.web-2"}}}));
  auto c = engine.container("shop.web-2");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, "running");
  EXPECT_EQ(c->spec.labels.at("io.kontena.service.id"), "id-web");
  EXPECT_EQ(c->spec.labels.at("io.kontena.service.instance_number"), "2");
  EXPECT_EQ(c->spec.labels.at("io.kontena.container.type"), "container");
  EXPECT_TRUE(has(c->spec.env, "KONTENA_NODE_NAME=node-1"));
  EXPECT_TRUE(has(c->spec.env, "FOO=bar"));
  EXPECT_EQ(c->spec.hostname, "web-2");
  EXPECT_EQ(report_lines(), (V{"id-web/1 running", "id-web/2 running"}));
  EXPECT_EQ(r.reported[0].rev, "d1");
}

TEST_F(Fixture, SecondPassChangesNothing) {
  rec->reconcile({pod("web", 1), pod("web", 2)});
  mutations();
  report_lines();
  clock.advance(1s);
  auto r = rec->reconcile({pod("web", 1), pod("web", 2)});
  EXPECT_TRUE(r.actions.empty());
  EXPECT_TRUE(mutations().empty());
  // A full pass reports every pod again; a tick only changes.
  EXPECT_EQ(report_lines(), (V{"id-web/1 running", "id-web/2 running"}));
  rec->tick();
  EXPECT_TRUE(report_lines().empty());
  EXPECT_TRUE(mutations().empty());
}

TEST_F(Fixture, NothingBeforeTheFirstDesiredList) {
  engine.add_container(protocol::container_spec(pod("web", 1), "n"));
  auto r = rec->tick();
  EXPECT_TRUE(r.actions.empty());
  EXPECT_TRUE(mutations().empty());
  EXPECT_EQ(engine.containers().size(), 1u);
}

TEST_F(Fixture, CrashIsRestartedWithBackoffAndCounterResets) {
  rec->reconcile({pod("web", 1)});
  report_lines();
  mutations();
  // 1st crash: restarted at once.
  engine.crash("shop.web-1");
  rec->tick();
  EXPECT_EQ(mutations(), V{"start shop.web-1"});
  EXPECT_TRUE(report_lines().empty());  // running before and after: no change to report
  EXPECT_EQ(rec->runtime().at({"id-web", 1}).restarts, 1);
  // 2nd crash: 1 s.
  clock.advance(100ms);
  engine.crash("shop.web-1");
  rec->tick();
  EXPECT_TRUE(mutations().empty());
  EXPECT_EQ(report_lines(), V{"id-web/1 restarting"});
  EXPECT_EQ(*rec->next_due(), clock.now() + 1s);
  clock.advance(999ms);
  rec->tick();
  EXPECT_TRUE(mutations().empty());
  clock.advance(1ms);
  rec->tick();
  EXPECT_EQ(mutations(), V{"start shop.web-1"});
  // 3rd: 4 s, 4th: 9 s.
  for (int n : {4, 9}) {
    engine.crash("shop.web-1");
    rec->tick();
    EXPECT_EQ(*rec->next_due(), clock.now() + std::chrono::seconds(n));
    clock.advance(std::chrono::seconds(n));
    rec->tick();
    EXPECT_EQ(mutations(), V{"start shop.web-1"});
  }
  EXPECT_EQ(rec->runtime().at({"id-web", 1}).restarts, 4);
  // Up for 10 s: the counter resets and the next crash restarts at once.
  rec->tick();
  clock.advance(10s);
  rec->tick();
  EXPECT_EQ(rec->runtime().at({"id-web", 1}).restarts, 0);
  engine.crash("shop.web-1", 1, 12000);
  rec->tick();
  EXPECT_EQ(mutations(), V{"start shop.web-1"});
}

TEST_F(Fixture, LongRunReportedByDockerResetsTheCounter) {
  rec->reconcile({pod("web", 1)});
  for (int n : {0, 1, 4}) {
    engine.crash("shop.web-1", 1, 100);
    rec->tick();  // seen down: the backoff (n s) counts from now
    clock.advance(std::chrono::seconds(n));
    rec->tick();
  }
  mutations();
  EXPECT_EQ(rec->runtime().at({"id-web", 1}).restarts, 3);
  // This time it ran 11 s (by Docker's StartedAt/FinishedAt), though the agent saw it only now.
  engine.crash("shop.web-1", 1, 11000);
  rec->tick();
  EXPECT_EQ(mutations(), V{"start shop.web-1"});
}

TEST_F(Fixture, NewServiceRevisionRecreates) {
  rec->reconcile({pod("web", 1, 1)});
  auto old = engine.container("shop.web-1")->id;
  mutations();
  report_lines();
  rec->reconcile({pod("web", 1, 2)});
  EXPECT_EQ(mutations(), (V{"stop shop.web-1 1", "remove shop.web-1", "create shop.web-1", "start shop.web-1"}));
  auto c = engine.container("shop.web-1");
  EXPECT_NE(c->id, old);
  EXPECT_EQ(c->spec.labels.at("io.kontena.container.service_revision"), "2");
  EXPECT_EQ(report_lines(), V{"id-web/1 running"});
  rec->reconcile({pod("web", 1, 2)});
  EXPECT_TRUE(mutations().empty());
}

TEST_F(Fixture, NewDeployRevRepullsAndRecreatesOnlyOnANewImage) {
  rec->reconcile({pod("web", 1)});
  mutations();
  auto p = pod("web", 1);
  p.deploy_rev = "d2";
  // No registry: the pull fails, the local image is the same: no recreate; pulled once only.
  rec->reconcile({p});
  EXPECT_EQ(mutations(), V{"pull local/busybox:latest"});
  rec->reconcile({p});
  EXPECT_TRUE(mutations().empty());
  // A deploy with a new image in the registry.
  p.deploy_rev = "d3";
  engine.set_registry_image("local/busybox:latest", "sha256:bb2");
  rec->reconcile({p});
  EXPECT_EQ(mutations(), (V{"pull local/busybox:latest", "stop shop.web-1 1", "remove shop.web-1",
                            "create shop.web-1", "start shop.web-1"}));
  EXPECT_EQ(engine.container("shop.web-1")->image_id, "sha256:bb2");
  rec->reconcile({p});
  EXPECT_TRUE(mutations().empty());
}

TEST_F(Fixture, RecreateToAMissingImageKeepsTheOldContainerRunning) {
  rec->reconcile({pod("web", 1, 1)});
  auto old = engine.container("shop.web-1")->id;
  mutations();
  auto p = pod("web", 1, 2);
  p.image = "nope:1";
  auto r = rec->reconcile({p});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("recreate shop.web-1 failed: unavailable: cannot pull image nope:1"), std::string::npos)
      << r.errors[0];
  // Nothing was stopped or removed: the old container still serves.
  auto m = mutations();
  for (const auto& line : m) EXPECT_TRUE(line.rfind("pull", 0) == 0) << line;
  auto c = engine.container("shop.web-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, old);
  EXPECT_EQ(c->state, "running");
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_NE(r.reported[0].error.find("cannot pull image nope:1"), std::string::npos);
  // Once the image is there, the recreate goes through.
  clock.advance(1s);
  engine.add_image("nope:1", "sha256:n1");
  r = rec->reconcile({p});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_NE(engine.container("shop.web-1")->id, old);
  EXPECT_EQ(r.reported[0].state, "running");
}

TEST_F(Fixture, DesiredStoppedThenRunningAgain) {
  rec->reconcile({pod("web", 1)});
  mutations();
  report_lines();
  auto p = pod("web", 1);
  p.desired_state = "stopped";
  rec->reconcile({p});
  EXPECT_EQ(mutations(), V{"stop shop.web-1 1"});
  EXPECT_EQ(report_lines(), V{"id-web/1 stopped"});
  rec->reconcile({p});
  EXPECT_TRUE(mutations().empty());
  report_lines();
  p.desired_state = "running";
  rec->reconcile({p});
  EXPECT_EQ(mutations(), V{"start shop.web-1"});
  EXPECT_EQ(report_lines(), V{"id-web/1 running"});
}

TEST_F(Fixture, NotDesiredIsRemovedTerminatedReportedMissing) {
  rec->reconcile({pod("web", 1), pod("web", 2), pod("db", 1)});
  mutations();
  report_lines();
  auto t = pod("web", 2);
  t.desired_state = "terminated";
  rec->reconcile({t});
  EXPECT_EQ(per_container(mutations()), (std::map<std::string, V>{{"shop.db-1", {"stop shop.db-1 1", "remove shop.db-1"}},
                                                                  {"shop.web-1", {"stop shop.web-1 1", "remove shop.web-1"}},
                                                                  {"shop.web-2", {"stop shop.web-2 1", "remove shop.web-2"}}}));
  EXPECT_EQ(report_lines(), V{"id-web/2 missing"});
  EXPECT_TRUE(engine.containers().empty());
  rec->reconcile({});
  EXPECT_TRUE(mutations().empty());
}

TEST_F(Fixture, MissingImageIsReportedAndRetriedWithBackoff) {
  auto p = pod("web", 1);
  p.image = "nope:1";
  auto r = rec->reconcile({p});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("create shop.web-1 failed: unavailable: cannot pull image nope:1"), std::string::npos);
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "missing");
  EXPECT_NE(r.reported[0].error.find("cannot pull image nope:1"), std::string::npos);
  engine.clear_calls();
  // Backoff 1 s after the first failure.
  r = rec->reconcile({p});
  EXPECT_TRUE(r.actions.empty());
  EXPECT_EQ(r.reported[0].state, "missing");
  EXPECT_FALSE(r.reported[0].error.empty());
  clock.advance(1s);
  engine.add_image("nope:1", "sha256:n1");
  r = rec->reconcile({p});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.reported[0].state, "running");
  EXPECT_EQ(r.reported[0].error, "");
}

TEST_F(Fixture, StartFailureLeavesTheContainerRestarting) {
  engine.fail_next("start", ErrorKind::invalid, "port is already allocated");
  auto r = rec->reconcile({pod("web", 1)});
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "restarting");
  EXPECT_NE(r.reported[0].error.find("port is already allocated"), std::string::npos);
  EXPECT_EQ(engine.container("shop.web-1")->state, "created");
  clock.advance(1s);
  r = rec->reconcile({pod("web", 1)});
  EXPECT_EQ(r.reported[0].state, "running");
  EXPECT_EQ(engine.containers().size(), 1u);
}

TEST_F(Fixture, ListFailureChangesNothing) {
  engine.fail_next("list", ErrorKind::unavailable, "cannot reach the Docker Engine");  // hook cleanup
  engine.fail_next("list", ErrorKind::unavailable, "cannot reach the Docker Engine");
  auto r = rec->reconcile({pod("web", 1)});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("cannot list the containers"), std::string::npos);
  EXPECT_TRUE(r.actions.empty());
  EXPECT_TRUE(rec->next_due());
}

TEST_F(Fixture, NameTakenByALeftoverOfThePodIsReplaced) {
  // Same name, same service, but no instance label: not recognised as the pod's container.
  auto spec = protocol::container_spec(pod("web", 1), "n");
  spec.labels.erase("io.kontena.service.instance_number");
  engine.add_container(spec, "exited");
  auto r = rec->reconcile({pod("web", 1)});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(engine.containers().size(), 1u);
  EXPECT_EQ(engine.container("shop.web-1")->spec.labels.count("io.kontena.service.instance_number"), 1u);
}

TEST_F(Fixture, NameTakenBySomeoneElseIsAnError) {
  agent::docker::ContainerSpec other;
  other.name = "shop.web-1";
  other.image = "local/busybox:latest";
  engine.add_container(other);
  auto r = rec->reconcile({pod("web", 1)});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("is taken by a container of another owner"), std::string::npos);
  EXPECT_EQ(r.reported[0].state, "missing");
}

TEST_F(Fixture, PreStartHookRunsAsAOneOffContainer) {
  auto p = pod("web", 1);
  p.hooks.pre_start = {{"migrate", "echo migrating", true}, {"seed", "echo seed", false}};
  std::vector<std::string> oneshots;
  rec->on_oneshot_hook([&](const ServicePod&, const protocol::PodHook& h) { oneshots.push_back(h.name); });
  auto r = rec->reconcile({p});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(mutations(), (V{"remove shop.web-1-pre-start-1", "create shop.web-1-pre-start-1",
                            "start shop.web-1-pre-start-1", "remove shop.web-1-pre-start-1",
                            "remove shop.web-1-pre-start-2", "create shop.web-1-pre-start-2",
                            "start shop.web-1-pre-start-2", "remove shop.web-1-pre-start-2", "create shop.web-1",
                            "start shop.web-1"}));
  auto hooks = engine.hook_specs();
  ASSERT_EQ(hooks.size(), 2u);
  EXPECT_EQ(*hooks[0].entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(hooks[0].cmd, std::vector<std::string>{"echo migrating"});
  EXPECT_EQ(hooks[0].labels.at("io.kontena.container.type"), "hook");
  EXPECT_TRUE(has(hooks[0].env, "FOO=bar"));
  EXPECT_EQ(oneshots, V{"migrate"});
  EXPECT_EQ(engine.containers().size(), 1u);
}

TEST_F(Fixture, FailingPreStartHookStopsTheCreate) {
  auto p = pod("web", 1);
  p.hooks.pre_start = {{"migrate", "false; exit 3", false}};
  auto r = rec->reconcile({p});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("pre_start hook \"migrate\" (false; exit 3) exited with code 3"), std::string::npos);
  EXPECT_EQ(r.reported[0].state, "missing");
  EXPECT_TRUE(engine.containers().empty());
}

TEST_F(Fixture, ExecHooksWithAnExecutor) {
  exec = std::make_shared<FakeExec>();
  make();
  auto p = pod("web", 1);
  p.hooks.post_start = {{"warm", "echo warm", false}};
  p.hooks.pre_stop = {{"drain", "echo drain", false}};
  rec->reconcile({p});
  EXPECT_EQ(exec->calls, V{"c0001 echo warm"});
  rec->reconcile({});
  EXPECT_EQ(exec->calls, (V{"c0001 echo warm", "c0001 echo drain"}));
  // A failing post_start fails the apply.
  p.hooks.post_start = {{"warm", "fail", false}};
  auto r = rec->reconcile({p});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("post_start hook \"warm\" (fail) exited with code 2"), std::string::npos);
}

TEST_F(Fixture, ExecHooksSkippedWithoutAnExecutor) {
  auto p = pod("web", 1);
  p.hooks.post_start = {{"warm", "echo warm", false}};
  p.hooks.pre_stop = {{"drain", "echo drain", false}};
  EXPECT_TRUE(rec->reconcile({p}).errors.empty());
  EXPECT_TRUE(rec->reconcile({}).errors.empty());
  EXPECT_TRUE(engine.containers().empty());
}

TEST_F(Fixture, HealthCheckSchedulesAndRestartsUnhealthy) {
  auto p = pod("web", 1);
  p.health_check = protocol::PodHealthCheck{"http", 8080, "/health", 2, 5, 3};
  std::vector<HealthResult> results;
  rec->on_health([&](const HealthResult& h) { results.push_back(h); });
  rec->reconcile({p});
  mutations();
  std::string ip = engine.container("shop.web-1")->ip;
  EXPECT_EQ(*rec->next_due(), clock.now() + 3s);  // initial_delay
  clock.advance(2s);
  rec->tick();
  EXPECT_TRUE(prober->calls.empty());
  clock.advance(1s);
  rec->tick();
  EXPECT_EQ(prober->calls, V{"http " + ip + ":8080/health"});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].healthy);
  EXPECT_EQ(*rec->next_due(), clock.now() + 5s);  // interval
  clock.advance(4s);
  rec->tick();
  EXPECT_EQ(prober->calls.size(), 1u);
  prober->healthy = false;
  clock.advance(1s);
  rec->tick();
  EXPECT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[1].healthy);
  EXPECT_EQ(results[1].detail, "HTTP 500");
  EXPECT_EQ(mutations(), (V{"stop shop.web-1 1", "start shop.web-1"}));
  // After the restart: initial_delay again.
  EXPECT_EQ(*rec->next_due(), clock.now() + 3s);
}

TEST_F(Fixture, TcpHealthCheck) {
  auto p = pod("web", 1);
  p.health_check = protocol::PodHealthCheck{"tcp", 6379, "/", 1, 10, 0};
  rec->reconcile({p});
  rec->tick();
  ASSERT_EQ(prober->calls.size(), 1u);
  EXPECT_EQ(prober->calls[0].rfind("tcp ", 0), 0u);
}

TEST_F(Fixture, WaitForPortBeforeReportingRunning) {
  auto p = pod("web", 1);
  p.wait_for_port = 80;
  prober->port_open = false;
  auto r = rec->reconcile({p});
  EXPECT_TRUE(r.reported.empty());
  EXPECT_EQ(*rec->next_due(), clock.now() + 1s);
  clock.advance(1s);
  EXPECT_TRUE(rec->tick().reported.empty());
  prober->port_open = true;
  clock.advance(1s);
  r = rec->tick();
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "running");
  EXPECT_EQ(r.reported[0].error, "");
  EXPECT_EQ(prober->calls.size(), 3u);
  EXPECT_TRUE(rec->tick().reported.empty());
}

TEST_F(Fixture, WaitForPortTimesOut) {
  auto p = pod("web", 1);
  p.wait_for_port = 80;
  prober->port_open = false;
  rec->reconcile({p});
  clock.advance(301s);
  auto r = rec->tick();
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "running");
  EXPECT_NE(r.reported[0].error.find("port 80 did not open within 300 s"), std::string::npos);
}

// Docker may give a container a new address when it is started again: the port wait and the
// health checks must follow it, not a remembered old address.
TEST_F(Fixture, WaitForPortAfterARestartProbesTheNewAddress) {
  auto p = pod("web", 1);
  p.wait_for_port = 80;
  ASSERT_EQ(rec->reconcile({p}).reported.size(), 1u);
  std::string old_ip = engine.container("shop.web-1")->ip;
  EXPECT_EQ(prober->take_calls(), V{"tcp " + old_ip + ":80"});
  engine.new_address_on_start();
  prober->open_prefix = "172.18.";  // open at the new address only
  engine.crash("shop.web-1");
  rec->tick();
  std::string new_ip = engine.container("shop.web-1")->ip;
  ASSERT_NE(new_ip, old_ip);
  EXPECT_EQ(prober->take_calls(), V{"tcp " + new_ip + ":80"});
  EXPECT_FALSE(rec->runtime().at({"id-web", 1}).port_wait_deadline);
  auto r = rec->reconcile({p});
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "running");
  EXPECT_EQ(r.reported[0].error, "");
}

TEST_F(Fixture, HealthCheckAfterAnUnhealthyRestartProbesTheNewAddress) {
  auto p = pod("web", 1);
  p.health_check = protocol::PodHealthCheck{"http", 8080, "/health", 2, 5, 3};
  rec->reconcile({p});
  std::string old_ip = engine.container("shop.web-1")->ip;
  clock.advance(3s);
  prober->healthy = false;
  rec->tick();  // unhealthy: restarted, with a new address
  EXPECT_EQ(prober->take_calls(), V{"http " + old_ip + ":8080/health"});
  std::string new_ip = engine.container("shop.web-1")->ip;
  EXPECT_EQ(new_ip, old_ip);  // the fake keeps the address unless told otherwise
  engine.new_address_on_start();
  prober->healthy = false;
  clock.advance(3s);
  rec->tick();  // unhealthy again: restarted, now with a new address
  EXPECT_EQ(prober->take_calls(), V{"http " + old_ip + ":8080/health"});
  new_ip = engine.container("shop.web-1")->ip;
  ASSERT_NE(new_ip, old_ip);
  prober->healthy = true;
  clock.advance(3s);
  rec->tick();
  EXPECT_EQ(prober->take_calls(), V{"http " + new_ip + ":8080/health"});
}

TEST_F(Fixture, AContainerSeenDownIsProbedAtItsNewAddressWhenStartedBySomeoneElse) {
  auto p = pod("web", 1);
  p.health_check = protocol::PodHealthCheck{"tcp", 6379, "/", 1, 10, 0};
  rec->reconcile({p});
  rec->tick();
  mutations();
  std::string old_ip = engine.container("shop.web-1")->ip;
  EXPECT_EQ(prober->take_calls(), V{"tcp " + old_ip + ":6379"});
  // Two crashes: the second one waits for the backoff, and the container is started meanwhile
  // by someone else (docker start), getting a new address.
  engine.crash("shop.web-1");
  rec->tick();  // restarted (same address)
  rec->tick();  // checked there
  EXPECT_EQ(prober->take_calls(), V{"tcp " + old_ip + ":6379"});
  engine.crash("shop.web-1");
  rec->tick();  // seen down, the restart waits 1 s
  EXPECT_EQ(engine.container("shop.web-1")->state, "exited");
  engine.new_address_on_start();
  engine.start_container("shop.web-1");
  std::string new_ip = engine.container("shop.web-1")->ip;
  ASSERT_NE(new_ip, old_ip);
  rec->tick();  // seen running: checked from the next pass on
  rec->tick();
  EXPECT_EQ(mutations(), (V{"start shop.web-1", "start shop.web-1"}));  // ours, the other one
  EXPECT_EQ(prober->take_calls(), V{"tcp " + new_ip + ":6379"});
}

TEST_F(Fixture, DeadContainerIsRecreated) {
  rec->reconcile({pod("web", 1)});
  mutations();
  engine.crash("shop.web-1", 137, 100, "dead");
  rec->tick();
  EXPECT_EQ(mutations(), (V{"remove shop.web-1", "create shop.web-1", "start shop.web-1"}));
}

TEST_F(Fixture, LeftoverHookContainersAreCleanedUp) {
  auto spec = protocol::container_spec(pod("web", 1), "n");
  spec.name = "shop.web-1-pre-start-1";
  spec.labels["io.kontena.container.type"] = "hook";
  engine.add_container(spec, "exited");
  rec->reconcile({});
  EXPECT_TRUE(engine.containers().empty());
}

TEST_F(Fixture, StateReporterExceptionsAreContained) {
  ReconcilerOptions o;
  o.watch_events = false;
  PodReconciler r(engine, clock, o, [](const PodState&) { throw std::runtime_error("session gone"); }, prober);
  EXPECT_NO_THROW(r.reconcile({pod("web", 1)}));
}

// --- applying the actions of different pods concurrently (pod_concurrency)

TEST_F(Fixture, ManyPodsCreatedInOnePassAllRunConcurrently) {
  make(4);
  engine.set_latency(20ms);
  std::vector<ServicePod> pods;
  for (int n = 1; n <= 16; ++n) pods.push_back(pod("web", n));
  pods[5].image = "nope:1";  // this one fails (no such image, no registry); the others do not care
  auto t0 = std::chrono::steady_clock::now();
  auto r = rec->reconcile(pods);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("create shop.web-6 failed: unavailable: cannot pull image nope:1"), std::string::npos);
  EXPECT_LE(engine.max_in_flight(), 4);
  EXPECT_GE(engine.max_in_flight(), 2);
  // 15 x (create + start) at 20 ms each: at least 600 ms one after the other (about 150 ms here).
  EXPECT_LT(took, 600ms);
  // Actions, states and reports as if applied one after the other: in the plan's / desired order.
  ASSERT_EQ(r.actions.size(), 16u);
  for (int n = 1; n <= 16; ++n) EXPECT_EQ(r.actions[n - 1].key, (PodKey{"id-web", n}));
  V want;
  for (int n = 1; n <= 16; ++n) want.push_back("id-web/" + std::to_string(n) + (n == 6 ? " missing ERR" : " running"));
  EXPECT_EQ(report_lines(), want);
  auto calls = per_container(mutations());
  EXPECT_EQ(calls["nope:1"], V{"pull nope:1"});
  calls.erase("nope:1");
  EXPECT_EQ(calls.size(), 15u);
  for (auto& [name, list] : calls) EXPECT_EQ(list, (V{"create " + name, "start " + name}));
  auto rt = rec->runtime();
  for (int n = 1; n <= 16; ++n) {
    auto c = engine.container("shop.web-" + std::to_string(n));
    if (n == 6) {
      EXPECT_FALSE(c);
      EXPECT_TRUE(rt.at({"id-web", n}).down_since);
      continue;
    }
    ASSERT_TRUE(c);
    EXPECT_EQ(c->state, "running");
    EXPECT_EQ(rt.at({"id-web", n}).container_id, c->id);
    EXPECT_TRUE(rt.at({"id-web", n}).running_since);
  }
  EXPECT_EQ(*rec->next_due(), clock.now() + 1s);  // the failed one's backoff
  // The next pass changes nothing but the failed pod (after its backoff).
  clock.advance(1s);
  engine.add_image("nope:1", "sha256:n1");
  r = rec->reconcile(pods);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(mutations(), (V{"create shop.web-6", "start shop.web-6"}));
  r = rec->reconcile(pods);
  EXPECT_TRUE(r.actions.empty());
  EXPECT_TRUE(mutations().empty());
}

TEST_F(Fixture, ConcurrencyOfOneAppliesInThePlansOrder) {
  make(1);
  engine.set_latency(2ms);
  engine.add_container(protocol::container_spec(pod("old", 1), "node-1"));
  rec->reconcile({pod("web", 1), pod("db", 1)});
  rec->reconcile({pod("web", 1), pod("db", 1)});  // nothing to do
  mutations();
  auto t = pod("web", 1);
  t.desired_state = "terminated";
  auto r = rec->reconcile({pod("app", 1), t, pod("app", 2), pod("db", 1, 2)});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(mutations(), (V{"create shop.app-1", "start shop.app-1", "stop shop.web-1 1", "remove shop.web-1",
                            "create shop.app-2", "start shop.app-2", "stop shop.db-1 1", "remove shop.db-1",
                            "create shop.db-1", "start shop.db-1"}));
  EXPECT_EQ(engine.max_in_flight(), 1);
  EXPECT_EQ(report_lines(), (V{"id-web/1 running", "id-db/1 running", "id-web/1 running", "id-db/1 running",
                               "id-app/1 running", "id-web/1 missing", "id-app/2 running", "id-db/1 running"}));
}

TEST_F(Fixture, RemovalsGoFirstAndOneContainerNameIsNeverUsedTwiceAtOnce) {
  engine.set_latency(10ms);
  // The service was re-created (a new id) with the same name: its old container goes, the new
  // one takes the name; meanwhile the other pods are created.
  engine.add_container(protocol::container_spec(pod("web", 1), "node-1"));
  auto fresh = pod("web", 1);
  fresh.service_id = "id-web-new";
  std::vector<ServicePod> pods{fresh};
  for (int n = 1; n <= 6; ++n) pods.push_back(pod("db", n));
  auto r = rec->reconcile(pods);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0]);
  auto calls = mutations();
  auto first_create = std::find_if(calls.begin(), calls.end(), [](auto& c) { return c.rfind("create ", 0) == 0; });
  auto removal = std::find(calls.begin(), calls.end(), "remove shop.web-1");
  ASSERT_NE(removal, calls.end());
  EXPECT_LT(removal, first_create);
  auto c = engine.container("shop.web-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->spec.labels.at("io.kontena.service.id"), "id-web-new");
  EXPECT_EQ(c->state, "running");
  EXPECT_EQ(engine.containers().size(), 7u);
}

TEST_F(Fixture, ActionsOfOnePodKeepTheirOrder) {
  engine.set_latency(5ms);
  // Two containers of one pod (the extra one is removed) and an outdated revision (recreated),
  // next to other pods.
  auto extra = protocol::container_spec(pod("web", 1), "node-1");
  extra.name = "shop.web-1-extra";
  engine.add_container(protocol::container_spec(pod("web", 1), "node-1"));
  engine.add_container(extra);
  auto r = rec->reconcile({pod("web", 1, 2), pod("db", 1), pod("db", 2)});
  EXPECT_TRUE(r.errors.empty());
  auto calls = per_container(mutations());
  EXPECT_EQ(calls["shop.web-1-extra"], (V{"stop shop.web-1-extra 1", "remove shop.web-1-extra"}));
  EXPECT_EQ(calls["shop.web-1"], (V{"stop shop.web-1 1", "remove shop.web-1", "create shop.web-1", "start shop.web-1"}));
  EXPECT_EQ(engine.containers().size(), 3u);
  EXPECT_EQ(report_lines(), (V{"id-web/1 running", "id-db/1 running", "id-db/2 running"}));
}

TEST_F(Fixture, HooksOfConcurrentPodsAndOneshotReportsOnThePassThread) {
  exec = std::make_shared<FakeExec>();
  make(8);
  engine.set_latency(5ms);
  std::vector<ServicePod> pods;
  for (int n = 1; n <= 6; ++n) {
    auto p = pod("web", n);
    p.hooks.pre_start = {{"migrate", "echo migrate", true}};
    p.hooks.post_start = {{"warm", "echo warm", true}};
    pods.push_back(p);
  }
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::map<std::string, int> oneshots;
  rec->on_oneshot_hook([&](const ServicePod& p, const protocol::PodHook& h) {
    std::lock_guard l(mu);
    threads.insert(std::this_thread::get_id());
    oneshots[p.service_id + "/" + std::to_string(p.instance_number) + " " + h.name]++;
  });
  auto r = rec->reconcile(pods);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_GT(engine.max_in_flight(), 1);
  EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()});
  EXPECT_EQ(oneshots.size(), 12u);
  for (auto& [k, n] : oneshots) EXPECT_EQ(n, 1) << k;
  EXPECT_EQ(exec->calls.size(), 6u);
  auto calls = per_container(mutations());
  for (int n = 1; n <= 6; ++n) {
    std::string c = "shop.web-" + std::to_string(n), h = c + "-pre-start-1";
    EXPECT_EQ(calls[h], (V{"remove " + h, "create " + h, "start " + h, "remove " + h}));
    EXPECT_EQ(calls[c], (V{"create " + c, "start " + c}));
  }
  EXPECT_EQ(engine.containers().size(), 6u);
}

// --- the background loop

TEST_F(Fixture, LoopFetchesOnStartAndCoalescesTriggers) {
  std::mutex mu;
  std::condition_variable cv;
  int fetches = 0;
  bool release = false;
  rec->start([&] {
    std::unique_lock l(mu);
    ++fetches;
    cv.notify_all();
    if (fetches == 1) cv.wait(l, [&] { return release; });
    return std::vector<ServicePod>{pod("web", 1)};
  });
  {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return fetches == 1; });
  }
  for (int i = 0; i < 5; ++i) rec->trigger();
  {
    std::lock_guard l(mu);
    release = true;
  }
  cv.notify_all();
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return fetches == 2; }));
  }
  // Give the loop a moment: no third fetch (the interval is 30 s of a clock that does not move).
  std::this_thread::sleep_for(100ms);
  rec->stop();
  EXPECT_EQ(fetches, 2);
  EXPECT_TRUE(engine.container("shop.web-1"));
}

TEST_F(Fixture, ABurstOfTriggersGivesOneFetch) {
  ReconcilerOptions o;
  o.watch_events = false;
  o.trigger_settle = 500ms;  // roomy for a loaded machine; the agent's default is 50 ms
  PodReconciler r(engine, clock, o, nullptr, prober);
  std::atomic<int> fetches{0};
  r.start([&] {
    ++fetches;
    return std::vector<ServicePod>{pod("web", 1)};
  });
  for (int i = 0; i < 1000 && r.passes() < 1; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(r.passes(), 1);
  // The master notifies once per change: three notifications 20 ms apart, one fetch.
  for (int i = 0; i < 3; ++i) {
    r.trigger();
    std::this_thread::sleep_for(20ms);
  }
  for (int i = 0; i < 1000 && r.passes() < 2; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(700ms);
  r.stop();
  EXPECT_EQ(fetches.load(), 2);
  EXPECT_EQ(r.passes(), 2);
}

TEST_F(Fixture, LoopKeepsContainersWhenTheMasterDoesNotAnswer) {
  engine.add_container(protocol::container_spec(pod("web", 1), "n"));
  std::atomic<int> fetches{0};
  rec->start([&]() -> std::vector<ServicePod> {
    ++fetches;
    throw Error(ErrorKind::unavailable, "not connected");
  });
  for (int i = 0; i < 1000 && fetches < 1; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(50ms);
  rec->stop();
  EXPECT_GE(fetches.load(), 1);
  EXPECT_EQ(engine.containers().size(), 1u);
  EXPECT_TRUE(mutations().empty());
}

TEST_F(Fixture, PokeRunsALocalPass) {
  std::atomic<int> fetches{0};
  rec->start([&] {
    ++fetches;
    return std::vector<ServicePod>{pod("web", 1)};
  });
  for (int i = 0; i < 1000 && !engine.container("shop.web-1"); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(engine.container("shop.web-1"));
  engine.crash("shop.web-1");
  int before = rec->passes();
  rec->poke();
  for (int i = 0; i < 1000 && engine.container("shop.web-1")->state != "running"; ++i)
    std::this_thread::sleep_for(10ms);
  rec->stop();
  EXPECT_EQ(engine.container("shop.web-1")->state, "running");
  EXPECT_GT(rec->passes(), before);
  EXPECT_EQ(fetches.load(), 1);
}
