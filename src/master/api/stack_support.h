// Lookups and views shared by the stack, service, container and log routes
// (routes_stacks.cpp, routes_services.cpp, routes_containers.cpp, routes_logs.cpp).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "master/api/api.h"
#include "master/api/views.h"

namespace kontena::master {

// 404 naming the stack (kontena stack ls) when the grid has no such stack.
Stack stack_or_404(Store& store, const Grid& grid, const std::string& name);
// The stack id of a service reference's stack: 0 for "null", else the stack's (404 when missing).
std::int64_t stack_id_or_404(Store& store, const Grid& grid, const std::string& stack);
// 404 naming "stack/service" when missing.
Service service_or_404(Store& store, const Grid& grid, const std::string& stack, const std::string& name);

// The deployer, or 503 when the master runs without one.
ServiceControl& control(ApiServices& s);

// What the views need, read once per request.
struct GridFacts {
  std::map<std::int64_t, std::string> node_names;
  std::set<std::int64_t> deploying_services;  // a ServiceDeploy created or ongoing
  std::set<std::int64_t> deploying_stacks;    // a StackDeploy created or ongoing
};
GridFacts grid_facts(Store& store, const Grid& grid);
ServiceFacts service_facts(Store& store, const Service& service, const GridFacts& facts);

Json service_view(Store& store, const Grid& grid, const Service& service, const GridFacts& facts);
Json service_view(Store& store, const Grid& grid, const Service& service);
// Derived state (docs/api/stacks-services.md): initialized | deploying | stopped | running |
// partially_running.
std::string stack_state(const Stack& stack, const std::vector<Service>& services,
                        const std::vector<ServiceFacts>& facts, bool deploying);
Json stack_view(Store& store, const Grid& grid, const Stack& stack, const GridFacts& facts);
Json stack_view(Store& store, const Grid& grid, const Stack& stack);
Json service_deploy_view(Store& store, const ServiceDeploy& deploy);
Json stack_deploy_view(Store& store, const StackDeploy& deploy);

// "stack/service" of every service of the grid (other than those of `except_stack_id`, when not
// -1) whose links or depends_on point at stack/service.
std::vector<std::string> services_linking_to(Store& store, const Grid& grid, const std::string& stack,
                                             const std::string& service, std::int64_t except_stack_id = -1);

// The logs query of a route (limit, since, from, and instance when `with_instance`): 422 on bad
// values.
Store::LogFilter log_filter(const ApiCall& call, std::int64_t grid_id, bool with_instance = false);
Json container_logs_view(Store& store, const Store::LogFilter& filter);
Json event_logs_view(Store& store, const Store::LogFilter& filter);

// A positive integer path parameter (ids, revision numbers); 404 naming `what` otherwise.
std::int64_t id_param(const ApiCall& call, const std::string& name, const std::string& what);

}  // namespace kontena::master
