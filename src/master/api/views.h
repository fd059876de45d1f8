// JSON shapes of the API's answers (docs/api.md).
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/auth/auth.h"
#include "master/store/model.h"

namespace kontena::master {

nlohmann::json time_json(std::int64_t unix_ms);  // null for 0
nlohmann::json user_json(const User& user);
nlohmann::json token_info_json(const AccessToken& token, const User& user);
nlohmann::json issued_token_json(const IssuedToken& issued, std::int64_t now_ms);
nlohmann::json grid_json(const Grid& grid, std::size_t node_count, std::size_t user_count);
std::string node_status(const Node& node);
nlohmann::json node_json(const Node& node, const Grid& grid);
nlohmann::json audit_json(const AuditEntry& entry);

// --- stacks and services (docs/api/stacks-services.md)
// "shop.web-3"; a stack-less service's container is "web-3".
std::string service_container_name(const std::string& stack, const std::string& service, int instance_number);
// "web.shop.demo.kontena.local"; stack-less: "web.demo.kontena.local".
std::string service_dns(const Service& service, const std::string& grid);
// What a service's views show beyond its row: its instances (with node names) and whether a
// deploy of it is created or ongoing.
struct ServiceFacts {
  std::vector<ServiceInstance> instances;
  std::map<std::int64_t, std::string> node_names;  // Node::id -> name
  bool deploying = false;
};
int running_instances(const ServiceFacts& facts);  // reported running
// Whether every instance the service wants is reported running.
bool service_fully_running(const Service& service, const ServiceFacts& facts);
nlohmann::json service_json(const Service& service, const std::string& grid, const ServiceFacts& facts);
nlohmann::json service_summary_json(const Service& service, const std::string& grid, const ServiceFacts& facts);
nlohmann::json instance_json(const ServiceInstance& instance, const Service& service, const ServiceFacts& facts);
nlohmann::json container_json(const ServiceInstance& instance, const Service& service, const ServiceFacts& facts);
// `services`: ServiceSummary list; `definition`: the stack's latest revision's definition.
nlohmann::json stack_json(const Stack& stack, const std::string& grid, const std::string& state,
                          nlohmann::json services, const nlohmann::json& definition);
// `service_ref`: "stack/service" ("null/service" for stack-less).
nlohmann::json service_deploy_json(const ServiceDeploy& deploy, const std::string& service_ref);
nlohmann::json stack_deploy_json(const StackDeploy& deploy, const std::string& stack_name, nlohmann::json service_deploys);
nlohmann::json event_log_json(const EventLog& event);
nlohmann::json container_log_json(const ContainerLog& line);

}  // namespace kontena::master
