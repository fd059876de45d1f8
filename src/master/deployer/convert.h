// Pure conversions used by the deployer (no store, no clock): a service's normalised spec to the
// scheduler's ServiceSpec and to the agent's ServicePod, a Node to a SchedulerNode, stack link
// order, the rolling in-flight limit, ISO time parsing.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/scheduler/scheduler.h"
#include "master/store/model.h"
#include "protocol/service_pod.h"

namespace kontena::master::deployer {

// "stack/name" ("null/name" for a stack-less service), as the scheduler names services.
std::string service_path(const Service& service);
// The decimal id of a node as the scheduler knows it ("" for 0).
std::string node_key(std::int64_t node_id);

// spec.ports -> scheduler ports (entries without a node_port are skipped).
std::vector<scheduler::Port> spec_ports(const Json& spec);
scheduler::ServiceSpec service_spec(const Service& service, const Grid& grid);
// A node for the scheduler. last_seen is at least not_before (a freshly started master has not
// seen anything yet: grace periods count from its start). `others` are instances of other services
// on the node.
scheduler::SchedulerNode scheduler_node(const Node& node, std::chrono::system_clock::time_point not_before,
                                        std::vector<scheduler::NodeInstance> others);

// At most this many instances of one deploy are deploying at once (the original's limit).
inline constexpr int kMaxInFlight = 20;
// spec.deploy.min_health (default 0.8) -> running instances a deploy may take down at once:
// max(1, floor(n*(1-min))), <= kMaxInFlight.
int max_in_flight(int instances, double min_health);
double min_health(const Json& spec);

// hooks' "instances": "*" or "1,2,5".
bool hook_applies(const Json& instances, int instance_number);
// normalised volumes [{type, source, target, flags}] -> docker strings; named volumes become
// "<stack>.<name>" ("<name>" for the null stack).
std::vector<std::string> volume_strings(const Json& volumes, const std::string& stack);
// Shell-like word splitting ('..', "..", backslash) for a string entrypoint/command.
std::vector<std::string> shell_words(const std::string& text);

// The pod of one instance. done_hooks: names of the instance's oneshot hooks already run.
// exposed: the service is its stack's `expose` (label io.kontena.service.exposed=true).
// Services on the default (bridge) network get the grid overlay, network {"kontena", ""} (the agent
// allocates the address from IPAM and sets dns to its own overlay address), and the DNS search
// domains ["<stack>.<grid>.kontena.local", "<grid>.kontena.local"] (null stack: the grid's only);
// "host" and "container:..." get neither.
protocol::ServicePod service_pod(const Service& service, const ServiceInstance& instance, const std::string& grid_name,
                                 const std::set<std::string>& done_hooks, bool exposed = false);

// The stack definition's services in deploy order: a service after the services of the same
// stack it links to (links "svc" or "<this stack>/svc"; other stacks ignored), otherwise file
// order. A cycle (rejected by the API) falls back to file order for what is left.
std::vector<std::string> link_order(const Json& definition, const std::string& stack_name);

}  // namespace kontena::master::deployer
