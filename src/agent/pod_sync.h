// Wires the service-pod reconciler (agent/pods) into the agent session:
// - the reconciler's desired-pod source is /node_service_pods/list [node_id] on the agent's
//   session: the reconciler thread posts the request to the loop and blocks on its result (not
//   connected -> 503 -> the fetch fails and the reconciler keeps its state, changing nothing);
// - states go out as /node_service_pods/set_state [node_id, state], posted to the loop;
// - a full pass is triggered when a session opens, on /service_pods/notify_update, and every
//   `interval` (the reconciler's own timer);
// - post_start / pre_stop hooks run through DockerClient::exec (hook_timeout); a oneshot hook
//   that succeeded is reported with /node_service_pods/mark_oneshot_hook [node_id,
//   {service_id, instance_number, hook, name}];
// - a health check result that differs from the last one sent goes out as the notification
//   /containers/health [node_id, {service_id, instance_number, status, error}] (after a
//   reconnect every pod's next result is sent again);
// - /service_pods/restart [{service_id, instance_number}] restarts that instance's container on
//   the reconciler's thread;
// - the master's request /containers/exec [{container, cmd, timeout}] -> {exit_code, stdout,
//   stderr} runs on a small pool of its own (never on the event loop; a long command does not
//   hold up the other Docker calls); 404 when there is no such container, 422 for bad params.
// Construct before Agent::run(); call stop() (or destroy) before the loop stops running.
#pragma once
#include "common/asio.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "agent/agent.h"
#include "agent/pods/reconciler.h"

namespace kontena::agent {

struct PodSyncOptions {
  Millis interval{30'000};
  bool watch_events = true;  // tests with a fake Docker without events turn it off
  Millis hook_timeout{300'000};  // post_start / pre_stop hook commands
  int pod_concurrency = 8;       // pods whose actions a pass applies at once (ReconcilerOptions)
};

// /containers/exec: the parsed params. Throws kontena::Error(invalid) naming what is wrong.
struct ExecRequest {
  std::string container;
  std::vector<std::string> cmd;
  Millis timeout{60'000};
};
ExecRequest parse_exec_request(const Json& params);
// {"exit_code", "stdout", "stderr"}; output that is not UTF-8 gets U+FFFD for its bad bytes.
Json exec_result_json(const docker::ExecResult& result);

class PodSync {
 public:
  PodSync(Agent& agent, asio::any_io_executor loop, docker::DockerClient& docker, const Clock& clock,
          PodSyncOptions options);
  ~PodSync();
  PodSync(const PodSync&) = delete;
  PodSync& operator=(const PodSync&) = delete;

  void stop();
  // The overlay for the reconciler (set before the first session; nullptr: Docker's default network).
  void set_network(std::shared_ptr<pods::PodNetwork> network) { network_ = std::move(network); }
  // Called on the reconciler's thread when running_instances() changed (set before the first session).
  void on_instances_changed(std::function<void()> f) { instances_changed_ = std::move(f); }
  // Any thread: the instances running here (empty until the reconciler runs).
  std::vector<pods::RunningInstance> running_instances() const;

 private:
  std::vector<pods::ServicePod> fetch();  // on the reconciler thread
  void report(const protocol::PodState& state);  // on the reconciler thread
  void report_health(const pods::HealthResult& result);  // on the reconciler thread
  void report_oneshot(const pods::ServicePod& pod, const protocol::PodHook& hook);  // on the reconciler thread

  Agent& agent_;
  asio::any_io_executor loop_;
  docker::DockerClient& docker_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<asio::thread_pool> exec_pool_ = std::make_unique<asio::thread_pool>(2);
  std::mutex health_mu_;
  std::map<pods::PodKey, bool> health_sent_;  // last status sent per pod (true = healthy)
  std::shared_ptr<pods::PodNetwork> network_;
  std::function<void()> instances_changed_;
  std::unique_ptr<pods::PodReconciler> reconciler_;
  std::atomic<pods::PodReconciler*> running_reconciler_{nullptr};  // reconciler_ for other threads
};

}  // namespace kontena::agent
