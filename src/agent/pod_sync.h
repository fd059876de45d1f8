// Wires the service-pod reconciler (agent/pods) into the agent session:
// - the reconciler's desired-pod source is /node_service_pods/list [node_id] on the agent's
//   session: the reconciler thread posts the request to the loop and blocks on its result (not
//   connected -> 503 -> the fetch fails and the reconciler keeps its state, changing nothing);
// - states go out as /node_service_pods/set_state [node_id, state], posted to the loop;
// - a full pass is triggered when a session opens, on /service_pods/notify_update, and every
//   `interval` (the reconciler's own timer);
// - /service_pods/restart: the reconciler has no per-instance restart yet, so it is logged.
// Construct before Agent::run(); call stop() (or destroy) before the loop stops running.
#pragma once
#include "common/asio.h"

#include <atomic>
#include <chrono>
#include <memory>

#include "agent/agent.h"
#include "agent/pods/reconciler.h"

namespace kontena::agent {

struct PodSyncOptions {
  Millis interval{30'000};
  bool watch_events = true;  // tests with a fake Docker without events turn it off
};

class PodSync {
 public:
  PodSync(Agent& agent, asio::any_io_executor loop, docker::DockerClient& docker, const Clock& clock,
          PodSyncOptions options);
  ~PodSync();
  PodSync(const PodSync&) = delete;
  PodSync& operator=(const PodSync&) = delete;

  void stop();
  pods::PodReconciler& reconciler() { return *reconciler_; }

 private:
  std::vector<pods::ServicePod> fetch();  // on the reconciler thread
  void report(const protocol::PodState& state);  // on the reconciler thread

  Agent& agent_;
  asio::any_io_executor loop_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<pods::PodReconciler> reconciler_;
};

}  // namespace kontena::agent
