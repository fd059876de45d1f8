#include "master/api/stack_support.h"

#include <algorithm>
#include <charconv>

#include "common/clock.h"
#include "common/error.h"
#include "master/api/access.h"
#include "master/api/service_spec.h"

namespace kontena::master {

Stack stack_or_404(Store& store, const Grid& grid, const std::string& name) {
  auto stack = name == "null" ? std::nullopt : store.stack_by_name(grid.id, name);
  if (!stack)
    fail(ErrorKind::not_found, "stack \"" + name + "\" does not exist in grid \"" + grid.name + "\" (kontena stack ls)");
  return std::move(*stack);
}

std::int64_t stack_id_or_404(Store& store, const Grid& grid, const std::string& stack) {
  return stack == "null" ? 0 : stack_or_404(store, grid, stack).id;
}

Service service_or_404(Store& store, const Grid& grid, const std::string& stack, const std::string& name) {
  auto service = store.service_by_name(grid.id, stack_id_or_404(store, grid, stack), name);
  if (!service)
    fail(ErrorKind::not_found, "service \"" + stack + "/" + name + "\" does not exist in grid \"" + grid.name +
                                   "\" (kontena service ls)");
  return std::move(*service);
}

ServiceControl& control(ApiServices& s) {
  if (!s.service_control)
    fail(ErrorKind::unavailable, "the deployer is not running on this master: deploys, service state changes and exec are unavailable");
  return *s.service_control;
}

GridFacts grid_facts(Store& store, const Grid& grid) {
  GridFacts f;
  for (const auto& n : store.nodes_of_grid(grid.id)) f.node_names[n.id] = n.name;
  for (const auto& d : store.pending_service_deploys()) f.deploying_services.insert(d.service_id);
  for (const auto& d : store.pending_stack_deploys()) f.deploying_stacks.insert(d.stack_id);
  return f;
}

ServiceFacts service_facts(Store& store, const Service& service, const GridFacts& facts) {
  ServiceFacts f;
  f.instances = store.instances_of_service(service.id);
  f.node_names = facts.node_names;
  f.deploying = facts.deploying_services.count(service.id) > 0;
  return f;
}

Json service_view(Store& store, const Grid& grid, const Service& service, const GridFacts& facts) {
  return service_json(service, grid.name, service_facts(store, service, facts));
}

Json service_view(Store& store, const Grid& grid, const Service& service) {
  return service_view(store, grid, service, grid_facts(store, grid));
}

std::string stack_state(const Stack& stack, const std::vector<Service>& services, const std::vector<ServiceFacts>& facts,
                        bool deploying) {
  if (deploying) return "deploying";
  for (const auto& f : facts)
    if (f.deploying) return "deploying";
  bool all_initialized = std::all_of(services.begin(), services.end(), [](const Service& s) { return s.state == "initialized"; });
  if (stack.deployed_revision == 0 && all_initialized) return "initialized";
  if (services.empty()) return "running";
  if (std::all_of(services.begin(), services.end(), [](const Service& s) { return s.state == "stopped"; })) return "stopped";
  bool all_running = true;
  for (std::size_t i = 0; i < services.size(); ++i) all_running = all_running && service_fully_running(services[i], facts[i]);
  return all_running ? "running" : "partially_running";
}

Json stack_view(Store& store, const Grid& grid, const Stack& stack, const GridFacts& facts) {
  auto services = store.services_of_grid(grid.id, stack.id);
  std::vector<ServiceFacts> all;
  Json summaries = Json::array();
  for (const auto& s : services) {
    all.push_back(service_facts(store, s, facts));
    summaries.push_back(service_summary_json(s, grid.name, all.back()));
  }
  auto revision = store.stack_revision(stack.id, stack.revision);
  auto state = stack_state(stack, services, all, facts.deploying_stacks.count(stack.id) > 0);
  return stack_json(stack, grid.name, state, std::move(summaries), revision ? revision->definition : Json::object());
}

Json stack_view(Store& store, const Grid& grid, const Stack& stack) {
  return stack_view(store, grid, stack, grid_facts(store, grid));
}

Json service_deploy_view(Store& store, const ServiceDeploy& deploy) {
  auto service = store.service_by_id(deploy.service_id);
  return service_deploy_json(deploy, service ? service->stack_name + "/" + service->name : std::string());
}

Json stack_deploy_view(Store& store, const StackDeploy& deploy) {
  auto stack = store.stack_by_id(deploy.stack_id);
  Json list = Json::array();
  for (const auto& d : store.deploys_of_stack_deploy(deploy.id)) list.push_back(service_deploy_view(store, d));
  return stack_deploy_json(deploy, stack ? stack->name : std::string(), std::move(list));
}

std::vector<std::string> services_linking_to(Store& store, const Grid& grid, const std::string& stack,
                                             const std::string& service, std::int64_t except_stack_id) {
  std::vector<std::string> out;
  for (const auto& s : store.services_of_grid(grid.id)) {
    if (except_stack_id >= 0 && s.stack_id == except_stack_id) continue;
    if (s.stack_name == stack && s.name == service) continue;
    bool links = false;
    auto points_here = [&](const std::string& name) {
      auto t = link_target(s.stack_name, name);
      return t.stack == stack && t.service == service;
    };
    if (s.spec.contains("links") && s.spec["links"].is_array())
      for (const auto& l : s.spec["links"])
        if (l.is_object() && l.contains("name") && l["name"].is_string() && points_here(l["name"].get<std::string>())) links = true;
    if (s.spec.contains("depends_on") && s.spec["depends_on"].is_array())
      for (const auto& d : s.spec["depends_on"])
        if (d.is_string() && points_here(d.get<std::string>())) links = true;
    if (links) out.push_back(s.stack_name + "/" + s.name);
  }
  return out;
}

namespace {

std::optional<std::int64_t> int_query(const ApiCall& call, const std::string& name, std::int64_t lo, std::int64_t hi) {
  auto it = call.request.query.find(name);
  if (it == call.request.query.end() || it->second.empty()) return std::nullopt;
  std::int64_t value = 0;
  const auto& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < lo || value > hi)
    invalid(name, name + " must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) + ", not \"" +
                      text + "\"");
  return value;
}

}  // namespace

Store::LogFilter log_filter(const ApiCall& call, std::int64_t grid_id, bool with_instance) {
  Store::LogFilter f;
  f.grid_id = grid_id;
  f.limit = limit_param(call, 100, 10000);
  if (auto it = call.request.query.find("since"); it != call.request.query.end() && !it->second.empty()) {
    auto t = kontena::parse_time_ms(it->second);
    if (!t) invalid("since", "since \"" + it->second + "\" is not an ISO-8601 time (e.g. 2026-11-26T10:00:00Z)");
    f.since = *t;
  }
  if (auto from = int_query(call, "from", 0, INT64_MAX)) f.after_id = *from;
  if (with_instance)
    if (auto n = int_query(call, "instance", 1, 100000)) f.instance_number = static_cast<int>(*n);
  // Polling with from (or a since) reads forward from there; otherwise the newest `limit`.
  f.tail = f.after_id == 0 && f.since == 0;
  return f;
}

Json container_logs_view(Store& store, const Store::LogFilter& filter) {
  Json list = Json::array();
  for (const auto& l : store.container_logs(filter)) list.push_back(container_log_json(l));
  return {{"logs", list}};
}

Json event_logs_view(Store& store, const Store::LogFilter& filter) {
  Json list = Json::array();
  for (const auto& e : store.events(filter)) list.push_back(event_log_json(e));
  return {{"events", list}};
}

std::int64_t id_param(const ApiCall& call, const std::string& name, const std::string& what) {
  const auto& text = call.param(name);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 1)
    fail(ErrorKind::not_found, what + " \"" + text + "\" does not exist");
  return value;
}

}  // namespace kontena::master
