// The reconciler (src/agent/pods/reconciler.h) and its PodNetwork seam (pod_network.h): which
// containers are attached to the overlay (and with what spec), when addresses are released
// (removal, termination, hook containers; not on a recreate), the periodic cleanup, attach
// failures, and the running instances handed to service discovery. A FakePodNetwork stands in
// for NetworkSync; the engine is the in-memory FakeEngine behind a thin wrapper that shows a
// container's fixed network addresses in inspect, as Docker does.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

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

// Records the calls; hands out 10.81.128.N per container name (the same name keeps its address
// until released) and fills the spec the way NetworkSync::attach does.
class FakePodNetwork final : public PodNetwork {
 public:
  void attach(const ServicePod& pod, agent::docker::ContainerSpec& spec) override {
    std::lock_guard l(mu);
    calls.push_back("attach " + spec.name);
    if (!failure.empty()) fail(ErrorKind::unavailable, failure);
    auto it = owned.find(spec.name);
    if (it == owned.end()) it = owned.emplace(spec.name, "10.81.128." + std::to_string(++allocated)).first;
    const std::string net = pod.network ? pod.network->name : std::string("kontena");
    spec.network_ips.clear();
    spec.network_ips[net] = it->second;
    spec.network_mode = net;
    if (spec.dns.empty()) spec.dns = {"10.81.0.1"};
    spec.labels[protocol::kLabelOverlayCidr] = it->second + "/16";
  }
  void release(const std::string& container_name) override {
    std::lock_guard l(mu);
    calls.push_back("release " + container_name);
    owned.erase(container_name);
  }
  void cleanup(const std::set<std::string>& existing) override {
    std::lock_guard l(mu);
    cleanups.push_back(existing);
    for (auto it = owned.begin(); it != owned.end();)
      it = existing.count(it->first) ? std::next(it) : owned.erase(it);
  }

  V take_calls() {
    std::lock_guard l(mu);
    V out;
    out.swap(calls);
    return out;
  }
  std::size_t count(const std::string& call) {
    std::lock_guard l(mu);
    return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), call));
  }

  std::mutex mu;
  V calls;
  std::vector<std::set<std::string>> cleanups;
  std::map<std::string, std::string> owned;  // container name -> address
  int allocated = 0;
  std::string failure;  // non-empty: attach throws unavailable with this message
};

// FakeEngine, but inspect lists the networks given fixed addresses in the container's spec
// (Docker: NetworkSettings.Networks.<name>.IPAddress), besides the bridge address.
class OverlayEngine final : public agent::docker::DockerClient {
 public:
  explicit OverlayEngine(FakeEngine& e) : e_(e) {}
  Json info() override { return e_.info(); }
  Json version() override { return e_.version(); }
  bool ping() override { return e_.ping(); }
  std::optional<Json> inspect_image(const std::string& image) override { return e_.inspect_image(image); }
  void pull_image(const std::string& image, const std::string& auth,
                  const std::function<void(const agent::docker::PullProgress&)>& progress) override {
    e_.pull_image(image, auth, progress);
  }
  void ensure_image(const std::string& image, const std::string& auth,
                    const std::function<void(const agent::docker::PullProgress&)>& progress) override {
    e_.ensure_image(image, auth, progress);
  }
  std::string create_container(const agent::docker::ContainerSpec& spec) override { return e_.create_container(spec); }
  void start_container(const std::string& id) override { e_.start_container(id); }
  void stop_container(const std::string& id, std::chrono::seconds grace) override { e_.stop_container(id, grace); }
  void kill_container(const std::string& id, const std::string& signal) override { e_.kill_container(id, signal); }
  void remove_container(const std::string& id, bool force, bool volumes) override {
    e_.remove_container(id, force, volumes);
  }
  std::optional<Json> inspect_container(const std::string& id) override {
    auto j = e_.inspect_container(id);
    auto c = e_.container(id);
    if (!j || !c) return j;
    for (auto& [net, ip] : c->spec.network_ips)
      if (!ip.empty() && c->state == "running") (*j)["NetworkSettings"]["Networks"][net] = {{"IPAddress", ip}};
    return j;
  }
  std::vector<agent::docker::ContainerSummary> list_containers(const std::vector<std::string>& filters,
                                                               bool all) override {
    return e_.list_containers(filters, all);
  }
  agent::docker::ExecResult exec(const std::string& id, const std::vector<std::string>& cmd,
                                 std::chrono::milliseconds timeout) override {
    return e_.exec(id, cmd, timeout);
  }
  Json container_stats(const std::string& id) override { return e_.container_stats(id); }
  std::unique_ptr<agent::docker::Stream> stream_events(const Json& f, std::function<void(const Json&)> cb) override {
    return e_.stream_events(f, std::move(cb));
  }
  std::unique_ptr<agent::docker::Stream> stream_logs(const std::string& id, const agent::docker::LogOptions& o,
                                                     std::function<void(const agent::docker::LogLine&)> cb) override {
    return e_.stream_logs(id, o, std::move(cb));
  }
  std::unique_ptr<agent::docker::Stream> stream_stats(const std::string& id,
                                                      std::function<void(const Json&)> cb) override {
    return e_.stream_stats(id, std::move(cb));
  }

 private:
  FakeEngine& e_;
};

// Health checks answer as told; nothing else is probed in these tests.
class ScriptedProber final : public Prober {
 public:
  ProbeResult http_get(const std::string& ip, int port, const std::string&, std::chrono::milliseconds) override {
    return probe("http", ip, port);
  }
  ProbeResult tcp_connect(const std::string& ip, int port, std::chrono::milliseconds) override {
    return probe("tcp", ip, port);
  }
  ProbeResult probe(const std::string& proto, const std::string& ip, int port) {
    std::lock_guard l(mu);
    probed.push_back(proto + " " + ip + ":" + std::to_string(port));
    return healthy ? ProbeResult{true, "ok"} : ProbeResult{false, "refused"};
  }
  std::mutex mu;
  V probed;
  bool healthy = true;
};

ServicePod pod(const std::string& name, int n, std::optional<protocol::PodNetwork> network = protocol::PodNetwork{
                                                   "kontena", ""}) {
  ServicePod p = sleeping_pod(name, n);
  p.network = std::move(network);
  return p;
}

struct PodNetworkTest : ::testing::Test {
  FakeEngine engine;
  OverlayEngine docker{engine};
  ManualClock clock;
  std::shared_ptr<ScriptedProber> prober = std::make_shared<ScriptedProber>();
  std::shared_ptr<FakePodNetwork> net = std::make_shared<FakePodNetwork>();
  std::unique_ptr<PodReconciler> rec;
  int instance_changes = 0;

  void SetUp() override {
    engine.add_image("local/busybox:latest", "sha256:bb1");
    engine.add_image("local/busybox:2", "sha256:bb2");
    make(true);
  }
  void make(bool with_network) {
    ReconcilerOptions o;
    o.node_name = "node-1";
    o.watch_events = false;
    o.sleep = [this](std::chrono::milliseconds d) { clock.advance(d); };
    rec = std::make_unique<PodReconciler>(docker, clock, o, nullptr, prober);
    if (with_network) rec->set_network(net);
    rec->on_instances_changed([this] { ++instance_changes; });
  }
  V creates() {
    V out;
    for (auto& c : engine.mutations())
      if (c.rfind("create ", 0) == 0) out.push_back(c);
    return out;
  }
};

}  // namespace

TEST_F(PodNetworkTest, APodOnTheOverlayIsAttachedAndCreatedWithItsAddress) {
  auto r = rec->reconcile({pod("web", 1)});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(net->take_calls(), V{"attach shop.web-1"});
  auto c = engine.container("shop.web-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, "running");
  EXPECT_EQ(c->spec.network_ips, (std::map<std::string, std::string>{{"kontena", "10.81.128.1"}}));
  EXPECT_EQ(c->spec.network_mode, "kontena");
  EXPECT_EQ(c->spec.dns, V{"10.81.0.1"});
  EXPECT_EQ(c->spec.labels.at(protocol::kLabelOverlayCidr), "10.81.128.1/16");
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "running");

  // A second pass with nothing to do attaches nothing.
  rec->reconcile({pod("web", 1)});
  EXPECT_TRUE(net->take_calls().empty());
}

TEST_F(PodNetworkTest, TwoPodsGetTwoAddresses) {
  rec->reconcile({pod("web", 1), pod("web", 2)});
  auto calls = net->take_calls();
  std::sort(calls.begin(), calls.end());  // pods are applied concurrently
  EXPECT_EQ(calls, (V{"attach shop.web-1", "attach shop.web-2"}));
  auto a = engine.container("shop.web-1")->spec.network_ips.at("kontena");
  auto b = engine.container("shop.web-2")->spec.network_ips.at("kontena");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("10.81.128.", 0), 0u);
  EXPECT_EQ(b.rfind("10.81.128.", 0), 0u);
}

TEST_F(PodNetworkTest, NoAttachWithoutANetworkOrWithAFixedAddress) {
  auto plain = pod("plain", 1, std::nullopt);
  auto fixed = pod("fixed", 1, protocol::PodNetwork{"kontena", "10.81.200.7"});
  auto r = rec->reconcile({plain, fixed});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(net->take_calls().empty());
  auto p = engine.container("shop.plain-1");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->spec.network_ips.empty());
  EXPECT_EQ(p->spec.network_mode, "");
  auto f = engine.container("shop.fixed-1");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->spec.network_ips, (std::map<std::string, std::string>{{"kontena", "10.81.200.7"}}));
  EXPECT_EQ(f->spec.network_mode, "kontena");
}

TEST_F(PodNetworkTest, WithoutAPodNetworkTheContainerJoinsDockersDefaultNetwork) {
  make(false);
  auto p = pod("web", 1);
  p.dns = {"8.8.8.8"};
  auto r = rec->reconcile({p});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(net->take_calls().empty());
  auto c = engine.container("shop.web-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, "running");
  EXPECT_EQ(c->spec.network_ips.count("kontena"), 0u);
  EXPECT_EQ(c->spec.network_mode, "");
  EXPECT_EQ(c->spec.labels.count(protocol::kLabelOverlayCidr), 0u);
  EXPECT_EQ(c->spec.dns, V{"8.8.8.8"});  // the pod's own settings stay
  // Its address is Docker's.
  auto inst = rec->running_instances();
  ASSERT_EQ(inst.size(), 1u);
  EXPECT_EQ(inst[0].ip, c->ip);
}

TEST_F(PodNetworkTest, AttachFailureIsReportedAndNothingIsCreatedUntilItWorks) {
  net->failure = "cannot allocate an address for shop.web-1: etcd has no majority";
  auto r = rec->reconcile({pod("web", 1)});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("no majority"), std::string::npos);
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "missing");
  EXPECT_NE(r.reported[0].error.find("no majority"), std::string::npos);
  EXPECT_NE(r.reported[0].error.find("unavailable"), std::string::npos);
  EXPECT_TRUE(creates().empty());
  EXPECT_TRUE(engine.containers().empty());
  EXPECT_TRUE(rec->running_instances().empty());
  EXPECT_EQ(net->take_calls(), V{"attach shop.web-1"});

  // etcd is back: after the backoff the next pass creates it.
  net->failure.clear();
  ASSERT_TRUE(rec->next_due());
  clock.advance(std::chrono::duration_cast<std::chrono::milliseconds>(*rec->next_due() - clock.now()));
  r = rec->reconcile({pod("web", 1)});
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "running");
  EXPECT_EQ(r.reported[0].error, "");
  EXPECT_EQ(net->take_calls(), V{"attach shop.web-1"});
  auto c = engine.container("shop.web-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->spec.network_ips.at("kontena"), "10.81.128.1");
}

TEST_F(PodNetworkTest, ARemovedPodReleasesItsAddressOnce) {
  rec->reconcile({pod("web", 1), pod("db", 1)});
  net->take_calls();
  auto r = rec->reconcile({pod("db", 1)});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_FALSE(engine.container("shop.web-1"));
  EXPECT_EQ(net->take_calls(), V{"release shop.web-1"});
  rec->reconcile({pod("db", 1)});
  EXPECT_TRUE(net->take_calls().empty());
  EXPECT_EQ(net->owned.count("shop.web-1"), 0u);
  EXPECT_EQ(net->owned.count("shop.db-1"), 1u);
}

TEST_F(PodNetworkTest, ARecreateKeepsTheAddress) {
  rec->reconcile({pod("web", 1)});
  std::string first_id = engine.container("shop.web-1")->id;
  net->take_calls();
  auto p = pod("web", 1);
  p.service_revision = 2;
  p.deploy_rev = "d2";
  p.image = "local/busybox:2";
  auto r = rec->reconcile({p});
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].kind, ActionKind::recreate);
  auto c = engine.container("shop.web-1");
  ASSERT_TRUE(c);
  EXPECT_NE(c->id, first_id);
  EXPECT_EQ(c->spec.image, "local/busybox:2");
  EXPECT_EQ(net->take_calls(), V{"attach shop.web-1"});  // no release
  EXPECT_EQ(c->spec.network_ips.at("kontena"), "10.81.128.1");
}

TEST_F(PodNetworkTest, ATerminatedPodReleasesItsAddress) {
  rec->reconcile({pod("web", 1)});
  net->take_calls();
  auto p = pod("web", 1);
  p.desired_state = "terminated";
  auto r = rec->reconcile({p});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_FALSE(engine.container("shop.web-1"));
  EXPECT_EQ(net->take_calls(), V{"release shop.web-1"});
  ASSERT_EQ(r.reported.size(), 1u);
  EXPECT_EQ(r.reported[0].state, "missing");
  // Still terminated: no container, nothing more to release.
  rec->reconcile({p});
  EXPECT_TRUE(net->take_calls().empty());
}

TEST_F(PodNetworkTest, AStoppedPodKeepsItsAddress) {
  rec->reconcile({pod("web", 1)});
  net->take_calls();
  auto p = pod("web", 1);
  p.desired_state = "stopped";
  rec->reconcile({p});
  EXPECT_EQ(engine.container("shop.web-1")->state, "exited");
  EXPECT_TRUE(net->take_calls().empty());
  EXPECT_TRUE(rec->running_instances().empty());
}

TEST_F(PodNetworkTest, PreStartHookContainerIsAttachedThenReleased) {
  auto p = pod("web", 1);
  p.hooks.pre_start = {{"migrate", "echo migrating", false}};
  auto r = rec->reconcile({p});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(net->take_calls(),
            (V{"attach shop.web-1-pre-start-1", "release shop.web-1-pre-start-1", "attach shop.web-1"}));
  auto hooks = engine.hook_specs();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].network_ips, (std::map<std::string, std::string>{{"kontena", "10.81.128.1"}}));
  EXPECT_EQ(hooks[0].network_mode, "kontena");
  EXPECT_EQ(engine.container("shop.web-1")->spec.network_ips.at("kontena"), "10.81.128.2");
  EXPECT_EQ(net->owned, (std::map<std::string, std::string>{{"shop.web-1", "10.81.128.2"}}));
}

TEST_F(PodNetworkTest, FailingPreStartHookStillReleasesItsAddress) {
  auto p = pod("web", 1);
  p.hooks.pre_start = {{"migrate", "false; exit 3", false}};
  auto r = rec->reconcile({p});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(net->take_calls(), (V{"attach shop.web-1-pre-start-1", "release shop.web-1-pre-start-1"}));
  EXPECT_TRUE(net->owned.empty());
  EXPECT_TRUE(engine.containers().empty());
}

TEST_F(PodNetworkTest, CleanupWithTheObservedNamesAtMostOnceAMinute) {
  // A managed container of a pod no longer desired exists before the first pass.
  engine.add_container(protocol::container_spec(pod("old", 1), "node-1"));
  rec->reconcile({pod("web", 1)});
  ASSERT_EQ(net->cleanups.size(), 1u);
  EXPECT_EQ(net->cleanups[0], std::set<std::string>{"shop.old-1"});  // as listed before the pass's actions
  clock.advance(30s);
  rec->reconcile({pod("web", 1)});
  rec->tick();
  EXPECT_EQ(net->cleanups.size(), 1u);
  clock.advance(29s);
  rec->reconcile({pod("web", 1)});
  EXPECT_EQ(net->cleanups.size(), 1u);
  clock.advance(1s);
  rec->tick();  // not a full pass
  EXPECT_EQ(net->cleanups.size(), 1u);
  rec->reconcile({pod("web", 1)});
  ASSERT_EQ(net->cleanups.size(), 2u);
  EXPECT_EQ(net->cleanups[1], std::set<std::string>{"shop.web-1"});
  // The running pod's address survived the cleanup.
  EXPECT_EQ(net->owned.count("shop.web-1"), 1u);
  clock.advance(59s);
  rec->reconcile({pod("web", 1)});
  EXPECT_EQ(net->cleanups.size(), 2u);
}

TEST_F(PodNetworkTest, RunningInstancesCarryTheOverlayAddress) {
  EXPECT_TRUE(rec->running_instances().empty());
  rec->reconcile({pod("web", 1), pod("web", 2), pod("plain", 1, std::nullopt)});
  EXPECT_EQ(instance_changes, 1);
  auto inst = rec->running_instances();
  std::map<std::string, RunningInstance> by_name;
  for (auto& i : inst) by_name[i.container_name] = i;
  ASSERT_EQ(by_name.size(), 3u);
  EXPECT_EQ(by_name.at("shop.web-1").ip, engine.container("shop.web-1")->spec.network_ips.at("kontena"));
  EXPECT_EQ(by_name.at("shop.web-2").ip, engine.container("shop.web-2")->spec.network_ips.at("kontena"));
  EXPECT_EQ(by_name.at("shop.web-1").ip.rfind("10.81.128.", 0), 0u);
  EXPECT_EQ(by_name.at("shop.plain-1").ip, engine.container("shop.plain-1")->ip);  // Docker's bridge
  EXPECT_EQ(by_name.at("shop.web-2").pod.instance_number, 2);
  EXPECT_EQ(by_name.at("shop.web-2").pod.service_name, "web");
  for (auto& i : inst) EXPECT_FALSE(i.healthy) << i.container_name;

  // Nothing changed: no call.
  rec->reconcile({pod("web", 1), pod("web", 2), pod("plain", 1, std::nullopt)});
  rec->tick();
  EXPECT_EQ(instance_changes, 1);

  // A crashed instance leaves the list (the restart waits for its backoff after a 2nd crash).
  engine.crash("shop.web-2");
  rec->tick();  // restarted at once
  EXPECT_EQ(rec->running_instances().size(), 3u);
  clock.advance(100ms);
  engine.crash("shop.web-2");
  rec->tick();
  EXPECT_EQ(instance_changes, 2);
  inst = rec->running_instances();
  ASSERT_EQ(inst.size(), 2u);
  for (auto& i : inst) EXPECT_NE(i.container_name, "shop.web-2");
  // Back.
  clock.advance(1s);
  rec->tick();
  EXPECT_EQ(rec->running_instances().size(), 3u);
  EXPECT_EQ(instance_changes, 3);

  // A removed pod leaves the list.
  rec->reconcile({pod("web", 1), pod("web", 2)});
  EXPECT_EQ(rec->running_instances().size(), 2u);
  EXPECT_EQ(instance_changes, 4);
}

TEST_F(PodNetworkTest, RunningInstancesFollowTheHealthChecks) {
  auto p = pod("web", 1);
  p.health_check = protocol::PodHealthCheck{"tcp", 8080, "/", 2, 5, 3};
  rec->reconcile({p});
  ASSERT_EQ(rec->running_instances().size(), 1u);
  EXPECT_EQ(rec->running_instances()[0].healthy, std::nullopt);  // no check yet
  EXPECT_EQ(instance_changes, 1);

  clock.advance(3s);  // initial_delay
  rec->tick();
  EXPECT_EQ(prober->probed, V{"tcp 10.81.128.1:8080"});
  ASSERT_EQ(rec->running_instances().size(), 1u);
  EXPECT_EQ(rec->running_instances()[0].healthy, std::optional<bool>(true));
  EXPECT_EQ(instance_changes, 2);

  clock.advance(5s);  // healthy again: no change
  rec->tick();
  EXPECT_EQ(prober->probed.size(), 2u);
  EXPECT_EQ(instance_changes, 2);

  // Unhealthy: the container is restarted in the same pass and stays unhealthy for service
  // discovery until a check passes again.
  prober->healthy = false;
  clock.advance(5s);
  rec->tick();
  EXPECT_EQ(prober->probed.size(), 3u);
  EXPECT_EQ(engine.container("shop.web-1")->starts, 2);
  ASSERT_EQ(rec->running_instances().size(), 1u);
  EXPECT_EQ(rec->running_instances()[0].healthy, std::optional<bool>(false));
  EXPECT_EQ(instance_changes, 3);

  prober->healthy = true;
  clock.advance(3s);
  rec->tick();
  EXPECT_EQ(rec->running_instances()[0].healthy, std::optional<bool>(true));
  EXPECT_EQ(rec->running_instances()[0].ip, "10.81.128.1");
  EXPECT_EQ(instance_changes, 4);
}

// A health check that fails while the restart cannot be done: the instance is not served.
TEST_F(PodNetworkTest, AnUnhealthyInstanceWhoseRestartFailsLeavesTheList) {
  auto p = pod("web", 1);
  p.health_check = protocol::PodHealthCheck{"tcp", 8080, "/", 2, 5, 3};
  rec->reconcile({p});
  prober->healthy = false;
  engine.fail_next("stop", ErrorKind::unavailable, "engine busy");
  clock.advance(3s);
  auto r = rec->tick();
  EXPECT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(rec->running_instances().empty());
  EXPECT_EQ(instance_changes, 2);
}
