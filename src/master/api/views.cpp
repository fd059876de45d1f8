#include "master/api/views.h"

#include "common/clock.h"

namespace kontena::master {

using Json = nlohmann::json;

Json time_json(std::int64_t unix_ms) { return unix_ms == 0 ? Json(nullptr) : Json(format_time_ms(unix_ms)); }

Json user_json(const User& user) {
  Json roles = Json::array();
  for (const auto& r : user.roles) roles.push_back({{"name", r}});
  return {{"id", user.id}, {"email", user.email}, {"name", user.name}, {"roles", roles},
          {"created_at", time_json(user.created_at)}};
}

Json token_info_json(const AccessToken& token, const User& user) {
  return {{"id", token.id},
          {"token_last4", token.token_last4},
          {"description", token.description},
          {"scopes", token.scopes},
          {"expires_at", token.expires_at ? time_json(*token.expires_at) : Json(nullptr)},
          {"created_at", time_json(token.created_at)},
          {"last_used_at", time_json(token.last_used_at)},
          {"internal", token.internal},
          {"user", {{"id", user.id}, {"email", user.email}}}};
}

Json issued_token_json(const IssuedToken& issued, std::int64_t now_ms) {
  Json expires_in = nullptr;
  if (issued.record.expires_at) expires_in = (*issued.record.expires_at - now_ms + 999) / 1000;
  return {{"id", issued.record.id},
          {"access_token", issued.access_token},
          {"refresh_token", issued.refresh_token.empty() ? Json(nullptr) : Json(issued.refresh_token)},
          {"token_type", "bearer"},
          {"expires_in", expires_in},
          {"expires_at", issued.record.expires_at ? time_json(*issued.record.expires_at) : Json(nullptr)},
          {"scopes", issued.record.scopes},
          {"description", issued.record.description},
          {"user", {{"id", issued.user.id}, {"email", issued.user.email}, {"name", issued.user.name}}}};
}

Json grid_json(const Grid& grid, std::size_t node_count, std::size_t user_count) {
  return {{"id", grid.name},
          {"name", grid.name},
          {"token", grid.token},
          {"initial_size", grid.initial_size},
          {"subnet", grid.subnet},
          {"supernet", grid.supernet},
          {"default_affinity", grid.default_affinity},
          {"trusted_subnets", grid.trusted_subnets},
          {"stats", grid.stats},
          {"logs", grid.logs},
          {"node_count", node_count},
          {"user_count", user_count},
          {"created_at", time_json(grid.created_at)},
          {"updated_at", time_json(grid.updated_at)}};
}

std::string node_status(const Node& node) {
  if (node.node_id.empty()) return "created";
  if (!node.connected) return "offline";
  if (!node.info.contains("updated_at")) return "connecting";  // socket up, no /nodes/update yet
  return node.availability == "drain" ? "drain" : "online";
}

Json node_json(const Node& node, const Grid& grid) {
  auto info = [&](const char* key) { return node.info.contains(key) ? node.info[key] : Json(nullptr); };
  return {{"id", grid.name + "/" + node.name},
          {"node_id", node.node_id.empty() ? Json(nullptr) : Json(node.node_id)},
          {"name", node.name},
          {"grid", grid.name},
          {"node_number", node.node_number},
          {"initial_member", node.node_number >= 1 && node.node_number <= grid.initial_size},
          {"status", node_status(node)},
          {"availability", node.availability},
          {"connected", node.connected},
          {"labels", node.labels},
          {"has_token", !node.token.empty()},
          {"connected_at", time_json(node.connected_at)},
          {"last_seen_at", time_json(node.last_seen_at)},
          {"agent_version", info("agent_version")},
          {"docker_version", info("docker_version")},
          {"os", info("os")},
          {"kernel_version", info("kernel_version")},
          {"public_ip", info("public_ip")},
          {"private_ip", info("private_ip")},
          {"cpus", info("cpus")},
          {"mem_total", info("mem_total")},
          {"created_at", time_json(node.created_at)},
          {"updated_at", time_json(node.updated_at)}};
}

Json audit_json(const AuditEntry& e) {
  return {{"id", e.id},
          {"time", time_json(e.created_at)},
          {"grid", e.grid.empty() ? Json(nullptr) : Json(e.grid)},
          {"resource_type", e.resource_type},
          {"resource_id", e.resource_id},
          {"resource_name", e.resource_name},
          {"event_name", e.event_name},
          {"event_status", e.event_status},
          {"http_status", e.http_status},
          {"error", e.error.empty() ? Json(nullptr) : Json(e.error)},
          {"user_identity", {{"id", e.user_id ? Json(*e.user_id) : Json(nullptr)}, {"email", e.user_email}}},
          {"source_ip", e.source_ip},
          {"user_agent", e.user_agent},
          {"request_method", e.request_method},
          {"request_path", e.request_path},
          {"request_body", e.request_body}};
}

// --- stacks and services

namespace {
Json null_if_empty(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }
}  // namespace

std::string service_container_name(const std::string& stack, const std::string& service, int instance_number) {
  auto base = service + "-" + std::to_string(instance_number);
  return stack.empty() || stack == "null" ? base : stack + "." + base;
}

std::string service_dns(const Service& service, const std::string& grid) {
  bool null_stack = service.stack_name.empty() || service.stack_name == "null";
  return service.name + (null_stack ? "" : "." + service.stack_name) + "." + grid + ".kontena.local";
}

int running_instances(const ServiceFacts& facts) {
  int n = 0;
  for (const auto& i : facts.instances)
    if (i.state == "running") ++n;
  return n;
}

bool service_fully_running(const Service& service, const ServiceFacts& facts) {
  if (service.state != "running") return false;
  int wanted = 0, running = 0;
  for (const auto& i : facts.instances) {
    if (i.desired_state != "running") continue;
    ++wanted;
    if (i.state == "running") ++running;
  }
  std::int64_t expected = service.spec.value("instances", std::int64_t{1});
  bool daemon = service.spec.contains("deploy") && service.spec["deploy"].value("strategy", "ha") == "daemon";
  if (daemon) expected = expected > 0 ? 1 : 0;  // per node: at least one node's worth
  return running == wanted && running >= expected;
}

Json service_json(const Service& service, const std::string& grid, const ServiceFacts& facts) {
  int total = 0, healthy = 0;
  for (const auto& i : facts.instances) {
    if (i.desired_state == "terminated") continue;
    ++total;
    if (i.health == "healthy") ++healthy;
  }
  Json health = nullptr;
  if (service.spec.contains("health_check") && !service.spec["health_check"].is_null())
    health = {{"healthy", healthy}, {"total", total}};
  return {{"id", grid + "/" + service.stack_name + "/" + service.name},
          {"name", service.name},
          {"stack", service.stack_name},
          {"grid", grid},
          {"image", service.spec.value("image", Json(nullptr))},
          {"instances", service.spec.value("instances", Json(1))},
          {"state", facts.deploying ? std::string("deploying") : service.state},
          {"revision", service.revision},
          {"stack_revision", service.stack_revision},
          {"strategy", service.spec.contains("deploy") ? service.spec["deploy"].value("strategy", "ha") : "ha"},
          {"deployed_at", time_json(service.deployed_at)},
          {"created_at", time_json(service.created_at)},
          {"updated_at", time_json(service.updated_at)},
          {"spec", service.spec},
          {"instance_counts", {{"total", total}, {"running", running_instances(facts)}}},
          {"health_status", health},
          {"dns", service_dns(service, grid)}};
}

Json service_summary_json(const Service& service, const std::string& grid, const ServiceFacts& facts) {
  return {{"id", grid + "/" + service.stack_name + "/" + service.name},
          {"name", service.name},
          {"image", service.spec.value("image", Json(nullptr))},
          {"instances", service.spec.value("instances", Json(1))},
          {"state", facts.deploying ? std::string("deploying") : service.state},
          {"running", running_instances(facts)}};
}

namespace {
Json node_name_json(std::int64_t node_id, const ServiceFacts& facts) {
  if (node_id == 0) return nullptr;
  auto it = facts.node_names.find(node_id);
  return it == facts.node_names.end() ? Json(nullptr) : Json(it->second);
}
}  // namespace

Json instance_json(const ServiceInstance& i, const Service& service, const ServiceFacts& facts) {
  return {{"instance_number", i.instance_number},
          {"node", node_name_json(i.node_id, facts)},
          {"desired_state", i.desired_state},
          {"state", null_if_empty(i.state)},
          {"error", null_if_empty(i.error)},
          {"deploy_rev", i.deploy_rev},
          {"rev", i.rev},
          {"health", null_if_empty(i.health)},
          {"container", service_container_name(service.stack_name, service.name, i.instance_number)},
          {"updated_at", time_json(i.updated_at)}};
}

Json container_json(const ServiceInstance& i, const Service& service, const ServiceFacts& facts) {
  return {{"name", service_container_name(service.stack_name, service.name, i.instance_number)},
          {"instance_number", i.instance_number},
          {"node", node_name_json(i.node_id, facts)},
          {"state", null_if_empty(i.state)},
          {"health", null_if_empty(i.health)},
          {"error", null_if_empty(i.error)}};
}

Json stack_json(const Stack& stack, const std::string& grid, const std::string& state, Json services,
                const Json& definition) {
  auto from_definition = [&](const char* key, Json fallback) {
    return definition.is_object() && definition.contains(key) && !definition[key].is_null() ? definition[key] : fallback;
  };
  return {{"id", grid + "/" + stack.name},
          {"name", stack.name},
          {"grid", grid},
          {"stack", stack.stack},
          {"version", stack.version},
          {"revision", stack.revision},
          {"deployed_revision", stack.deployed_revision},
          {"parent", stack.parent_name.empty() ? Json(nullptr) : Json{{"name", stack.parent_name}}},
          {"labels", stack.labels},
          {"expose", null_if_empty(stack.expose)},
          {"state", state},
          {"created_at", time_json(stack.created_at)},
          {"updated_at", time_json(stack.updated_at)},
          {"services", std::move(services)},
          {"dependencies", from_definition("dependencies", Json::array())},
          {"variables", from_definition("variables", Json::object())}};
}

Json service_deploy_json(const ServiceDeploy& d, const std::string& service_ref) {
  return {{"id", d.id},
          {"service", service_ref},
          {"state", d.state},
          {"reason", d.reason},
          {"force", d.force},
          {"error", null_if_empty(d.error)},
          {"created_at", time_json(d.created_at)},
          {"started_at", time_json(d.started_at)},
          {"finished_at", time_json(d.finished_at)},
          {"instances", d.instances.is_array() ? d.instances : Json::array()}};
}

Json stack_deploy_json(const StackDeploy& d, const std::string& stack_name, Json service_deploys) {
  return {{"id", d.id},
          {"stack", stack_name},
          {"revision", d.revision},
          {"state", d.state},
          {"error", null_if_empty(d.error)},
          {"created_at", time_json(d.created_at)},
          {"finished_at", time_json(d.finished_at)},
          {"service_deploys", std::move(service_deploys)}};
}

Json event_log_json(const EventLog& e) {
  return {{"id", e.id},
          {"created_at", time_json(e.created_at)},
          {"type", e.type},
          {"severity", e.severity},
          {"stack", null_if_empty(e.stack)},
          {"service", null_if_empty(e.service)},
          {"instance_number", e.instance_number == 0 ? Json(nullptr) : Json(e.instance_number)},
          {"node", null_if_empty(e.node)},
          {"message", e.message}};
}

Json container_log_json(const ContainerLog& l) {
  return {{"id", l.id},
          {"created_at", time_json(l.created_at)},
          {"node", l.node},
          {"stack", l.stack},
          {"service", l.service},
          {"instance_number", l.instance_number},
          {"container", l.container},
          {"stream", l.stream},
          {"data", l.data}};
}

}  // namespace kontena::master
