// The deployer (reference §5.4, §5.5, §5.6; docs/deploys.md): runs service and stack deploys
// (rolling, min_health, waiting for the agents' reports), the rescheduling loop that moves
// instances off offline (after the strategy's grace), drained and removed nodes, and the agents'
// service-pod RPCs (/node_service_pods/list from the store's instances, set_state, container logs,
// health results).
//
// The store is the only state: a deploy is a ServiceDeploy row the worker advances; a master
// restart resumes (an ongoing deploy is restarted from its first instance, which is harmless:
// placing an instance where it already runs with the same revision changes nothing).
// Time comes from the Clock; tick(now) does all periodic work so unit tests drive it with a
// ManualClock; start() runs it on a thread of its own.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "master/api/service_control.h"
#include "master/scheduler/scheduler.h"
#include "master/store/store.h"
#include "protocol/rpc.h"

namespace kontena::master {

class AgentHub;

// The deployer's way to the agents (the AgentHub in the server; a fake in unit tests).
class AgentLink {
 public:
  virtual ~AgentLink() = default;
  virtual bool connected(std::int64_t node) const = 0;
  // false when the node has no connection.
  virtual bool notify(std::int64_t node, const std::string& method, nlohmann::json params) = 0;
  virtual std::future<protocol::RpcResponse> call(std::int64_t node, const std::string& method,
                                                  nlohmann::json params, std::chrono::milliseconds timeout) = 0;
};
// An AgentLink over the hub.
std::unique_ptr<AgentLink> agent_link(AgentHub& hub);

struct DeployerOptions {
  std::chrono::milliseconds tick{std::chrono::seconds(1)};                  // deploy worker poll
  std::chrono::milliseconds reschedule_interval{std::chrono::seconds(20)};  // KONTENA_RESCHEDULE_INTERVAL
  std::chrono::milliseconds instance_timeout{std::chrono::seconds(300)};    // wait for an agent's report
  std::chrono::milliseconds deploy_timeout{std::chrono::minutes(30)};
  scheduler::GracePeriods grace;  // --grace-ha / --grace-daemon / --grace-random
  std::uint64_t random_seed = 0;  // 0 = from the clock
};

class Deployer final : public ServiceControl {
 public:
  Deployer(Store& store, const Clock& clock, AgentLink& agents, DeployerOptions options = {});
  ~Deployer() override;
  Deployer(const Deployer&) = delete;
  Deployer& operator=(const Deployer&) = delete;

  // Registers the service-pod RPC handlers on the hub (before it serves agents):
  // /node_service_pods/list, /node_service_pods/set_state, /node_service_pods/mark_oneshot_hook,
  // /containers/log_batch, /containers/health, /node_service_pods/event.
  void register_agent_handlers(AgentHub& hub);

  // The agent-facing work, callable directly (unit tests): the pods of a node, a state report.
  nlohmann::json node_service_pods(std::int64_t node);
  void set_state(std::int64_t node, const nlohmann::json& state);

  // All periodic work at `now`: advance deploys, reschedule when due. Never throws.
  void tick(std::chrono::system_clock::time_point now);
  void start();  // tick() on a thread of its own every options.tick (and at once on wake())
  void stop();
  void wake();

  // ServiceControl
  ServiceDeploy deploy_service(const Service& service, bool force, const std::string& reason) override;
  StackDeploy deploy_stack(const Stack& stack) override;
  void stop_service(const Service& service) override;
  void start_service(const Service& service) override;
  void restart_service(const Service& service) override;
  void remove_service(const Service& service) override;
  void remove_stack(const Stack& stack) override;
  void node_availability_changed(const Node& node) override;
  nlohmann::json exec(const Node& node, const std::string& container, const std::vector<std::string>& cmd,
                      std::chrono::milliseconds timeout) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kontena::master
