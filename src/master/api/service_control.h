// What the REST API asks of the deployer (src/master/deployer/) once a request is validated and
// its rows are written: queue deploys, change desired states, remove, and reach a container on its
// node. The routes stay free of scheduling and agent traffic; unit tests of the routes use a fake.
// Every method may throw kontena::Error (conflict, unavailable, ...) whose message the API returns.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/store/model.h"

namespace kontena::master {

class ServiceControl {
 public:
  virtual ~ServiceControl() = default;

  // Queues a deploy of the service (state created; the deployer picks it up at once) and sets the
  // service's state to running. force: bump the service revision so every container is recreated.
  // conflict when the service is a stack's service being removed.
  virtual ServiceDeploy deploy_service(const Service& service, bool force, const std::string& reason) = 0;
  // Queues a deploy of the stack's latest revision: its services in link order (created/updated
  // by the API already), and removal of the services the revision no longer has.
  virtual StackDeploy deploy_stack(const Stack& stack) = 0;

  // Desired state changes, pushed to the nodes at once (/service_pods/notify_update).
  virtual void stop_service(const Service& service) = 0;     // instances -> stopped, state stopped
  virtual void start_service(const Service& service) = 0;    // instances -> running, state running
  virtual void restart_service(const Service& service) = 0;  // /service_pods/restart to each node
  // Removes the service: its rows go from the store, its nodes are told, their agents remove the
  // containers.
  virtual void remove_service(const Service& service) = 0;
  // Removes the stack's services as above, then the stack (with revisions and deploys).
  virtual void remove_stack(const Stack& stack) = 0;

  // A node's availability changed (drain/active): reschedule its grid now.
  virtual void node_availability_changed(const Node& node) = 0;

  // Runs cmd in the container on the node (agent RPC /containers/exec) and waits at most timeout.
  // Returns {"exit_code": N, "stdout": "...", "stderr": "..."}; unavailable when the node is not
  // connected, not_found when the container does not exist.
  virtual nlohmann::json exec(const Node& node, const std::string& container, const std::vector<std::string>& cmd,
                              std::chrono::milliseconds timeout) = 0;
};

}  // namespace kontena::master
