// The agent's service-pod reconciler (DESIGN §2.1, reference §4, §5.4, §13): level-triggered.
// A pass lists the managed containers (label io.kontena.container.type=container), runs the due
// health checks, plans (plan.h, pure) and applies the actions with the DockerClient, follows
// wait_for_port, and reports each desired pod's state (/node_service_pods/set_state) through a
// callback.
//
// Two ways to drive it:
// - synchronously: reconcile(desired) for a full pass, tick() for a pass with the last desired
//   list (backoff restarts, health checks, port waits); next_due() says when tick() is needed;
// - in the background: start(source) runs a thread that fetches the desired pods with `source`
//   (the session's /node_service_pods/list; may block, may throw) every `interval`, and at once
//   on trigger() (coalesced: any number of triggers during a pass give one more pass), and ticks
//   when something is due or a managed container dies (Docker events). stop() ends it.
// Only one pass runs at a time; within a pass the actions of different pods are applied by up to
// `pod_concurrency` threads (the Docker client must take concurrent calls), and their outcomes are
// merged afterwards. Time comes from the Clock. Callbacks (states, health, oneshot hooks) run on
// the pass's thread: the agent session posts them to its event loop.
//
// Until a desired list was received the reconciler changes nothing (it never removes containers
// because the master did not answer yet).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/docker/docker_client.h"
#include "agent/pods/plan.h"
#include "agent/pods/pod_network.h"
#include "agent/pods/prober.h"
#include "common/clock.h"
#include "protocol/service_pod.h"

namespace kontena::agent::pods {

struct ReconcilerOptions {
  std::string node_name;                                 // KONTENA_NODE_NAME of the containers
  std::chrono::milliseconds interval{30'000};            // full pass (fetch desired) period
  std::chrono::milliseconds fetch_retry{5'000};          // after a failed fetch
  std::chrono::milliseconds trigger_settle{50};          // a trigger() waits this long for more (coalesced)
  std::chrono::seconds port_wait_timeout{300};           // wait_for_port
  std::chrono::milliseconds port_wait_interval{1'000};
  std::chrono::milliseconds port_probe_timeout{1'000};
  std::chrono::seconds hook_timeout{300};                // a pre_start hook container must exit by then
  std::chrono::milliseconds hook_poll{200};
  PlanOptions plan;
  bool watch_events = true;                              // background: tick when a container dies
  // A pass applies the actions of up to this many pods at once (threads of the pass); the actions
  // of one pod (or one container name) keep their order; removals go before the rest. 1: one
  // after the other, in the plan's order.
  int pod_concurrency = 8;
  // Real sleeping between hook polls (tests replace it, e.g. to advance a ManualClock).
  std::function<void(std::chrono::milliseconds)> sleep;
};

struct HealthResult {
  PodKey key;
  std::string container_id;
  bool healthy = false;
  std::string detail;
};

// A service instance running on this node, as service discovery needs it (agent/dns).
struct RunningInstance {
  ServicePod pod;
  std::string container_name;
  std::string ip;                  // the container's address (its overlay address when it has one)
  std::optional<bool> healthy;     // nullopt: no health check, or none ran since it started
  bool operator==(const RunningInstance& o) const {
    return pod.service_id == o.pod.service_id && pod.instance_number == o.pod.instance_number &&
           pod.service_name == o.pod.service_name && pod.stack_name == o.pod.stack_name &&
           pod.labels == o.pod.labels && container_name == o.container_name && ip == o.ip && healthy == o.healthy;
  }
};

struct PassResult {
  std::vector<Action> actions;           // what was applied (also failed ones)
  std::vector<std::string> errors;       // one line per failed action
  std::vector<protocol::PodState> reported;
};

class PodReconciler {
 public:
  using DesiredSource = std::function<std::vector<ServicePod>()>;
  using StateReporter = std::function<void(const protocol::PodState&)>;
  using HealthReporter = std::function<void(const HealthResult&)>;
  using OneshotReporter = std::function<void(const ServicePod&, const protocol::PodHook&)>;

  // prober: nullptr = the socket prober. exec: nullptr = post_start/pre_stop hooks skipped.
  PodReconciler(docker::DockerClient& docker, const Clock& clock, ReconcilerOptions options,
                StateReporter report, std::shared_ptr<Prober> prober = nullptr,
                std::shared_ptr<ContainerExec> exec = nullptr);
  ~PodReconciler();
  PodReconciler(const PodReconciler&) = delete;
  PodReconciler& operator=(const PodReconciler&) = delete;

  void on_health(HealthReporter f) { health_reporter_ = std::move(f); }
  // The overlay (agent NetworkSync): set before start(). Without one, a pod's overlay network is
  // left out and its container joins Docker's default network.
  void set_network(std::shared_ptr<PodNetwork> network) { network_ = std::move(network); }
  // Called (on the pass thread) when running_instances() changed after a pass.
  void on_instances_changed(std::function<void()> f) { instances_changed_ = std::move(f); }
  // The instances desired running here whose container runs, as of the end of the last pass.
  std::vector<RunningInstance> running_instances() const;
  void on_oneshot_hook(OneshotReporter f) { oneshot_reporter_ = std::move(f); }

  // --- synchronous
  PassResult reconcile(std::vector<ServicePod> desired);  // reports every desired pod
  PassResult tick();                                       // reports only changed states
  std::optional<TimePoint> next_due() const;
  // Restarts the pod's container now: a running one is stopped (pre_stop hooks, its grace) and
  // started again (post_start hooks), a stopped one is started. Ignored (no action) when the pod
  // is not desired running here; with no container a pass is poked (it creates one).
  PassResult restart_now(const PodKey& key);
  std::map<PodKey, PodRuntime> runtime() const;

  // --- background
  void start(DesiredSource source);
  void trigger();  // fetch the desired pods and reconcile, soon
  void poke();     // a pass with the last desired pods, soon
  // The master asked for this instance's container to be restarted (/service_pods/restart): done
  // on the reconciler's thread, soon (restart_now() is the synchronous form).
  void restart(PodKey key);
  void stop();
  int passes() const { return passes_.load(); }

 private:
  PassResult pass(bool full);
  std::vector<Observed> observe();
  void run_health_checks(const std::vector<Observed>& observed);
  std::map<std::string, std::string> check_images(const std::vector<Observed>& observed);
  // What applying one action gives; merged into the pass on its own thread, in the plan's order.
  struct Outcome {
    std::string error;                       // empty: done
    std::optional<protocol::PodState> state;
    std::optional<TimePoint> due;
    std::vector<std::pair<const ServicePod*, protocol::PodHook>> oneshots;  // succeeded oneshot hooks
  };
  // Applies the actions (concurrently per pod, options_.pod_concurrency) and merges the outcomes.
  void apply_all(const std::vector<Action>& actions, PassResult& result, std::map<PodKey, protocol::PodState>& states);
  static std::vector<std::vector<std::size_t>> phase_groups(const std::vector<Action>& actions,
                                                            const std::vector<std::size_t>& phase);
  void apply_concurrently(const std::vector<Action>& actions, const std::vector<std::vector<std::size_t>>& groups,
                          std::size_t workers, const std::vector<PodRuntime*>& rts, std::vector<Outcome>& outcomes);
  void apply(const Action& a, PodRuntime* rt, Outcome& out);
  std::string create_and_start(const ServicePod& pod, PodRuntime& rt, Outcome& out);
  void run_pre_start_hooks(const ServicePod& pod, Outcome& out);
  void run_exec_hooks(const ServicePod& pod, const std::vector<protocol::PodHook>& hooks, const std::string& id,
                      const char* phase, bool must_succeed, Outcome& out);
  void stop_container(const std::string& id, const ServicePod* pod, bool running, std::chrono::seconds grace,
                      Outcome& out);
  // The container's address (cached until the container is started again, stops or is gone).
  std::string container_ip(const std::string& id, const ServicePod& pod);
  void forget_ip(const std::string& id);
  void port_waits(std::map<PodKey, protocol::PodState>& states, std::map<PodKey, bool>& hold);
  void cleanup_hook_containers();
  void attach_network(const ServicePod& pod, docker::ContainerSpec& spec);
  void release_address(const std::string& container_name);
  void update_instances();
  void loop(DesiredSource source);
  void due(TimePoint t);

  docker::DockerClient& docker_;
  const Clock& clock_;
  ReconcilerOptions options_;
  StateReporter report_;
  std::shared_ptr<Prober> prober_;
  std::shared_ptr<ContainerExec> exec_;
  HealthReporter health_reporter_;
  OneshotReporter oneshot_reporter_;
  std::shared_ptr<PodNetwork> network_;
  std::function<void()> instances_changed_;
  mutable std::mutex instances_mu_;              // guards instances_
  std::vector<RunningInstance> instances_;
  std::optional<TimePoint> next_address_cleanup_;

  mutable std::mutex pass_mu_;  // one pass at a time; guards everything below but the loop state
  bool have_desired_ = false;
  std::vector<ServicePod> desired_;
  std::map<PodKey, PodRuntime> runtime_;
  std::map<PodKey, std::string> checked_deploy_rev_;  // image re-pulled for this deploy_rev
  std::map<PodKey, protocol::PodState> last_reported_;
  std::map<PodKey, ServicePod> known_pods_;           // last desired spec of pods with a container
  std::mutex ip_mu_;                                  // guards ip_cache_
  std::map<std::string, std::string> ip_cache_;       // container id -> address of a running container
  std::optional<TimePoint> next_due_;
  std::atomic<int> passes_{0};

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stopping_ = false;
  bool trigger_pending_ = false;
  bool poke_pending_ = false;
  std::vector<PodKey> restart_pending_;
  std::thread thread_;
};

}  // namespace kontena::agent::pods
