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

}  // namespace kontena::master
