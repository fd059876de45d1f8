// Nodes: /v1/grids/:grid/nodes (list, pre-create) and /v1/nodes/:grid/:node (show, update,
// remove, node token).
#include <algorithm>

#include "common/crypto.h"
#include "common/error.h"
#include "common/log.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/node_rpc.h"
#include "master/api/validation.h"
#include "master/api/views.h"

namespace kontena::master {

namespace {

std::vector<std::string> labels_field(Fields& f) {
  auto labels = f.string_array("labels", 128, 255).value_or(std::vector<std::string>{});
  for (const auto& l : labels) validate_label("labels", l);
  std::vector<std::string> unique;
  for (const auto& l : labels)
    if (std::find(unique.begin(), unique.end(), l) == unique.end()) unique.push_back(l);
  return unique;
}

std::string token_field(Fields& f) {
  auto token = f.string("token", false, 256);
  if (!token) return crypto::random_base64(48);
  validate_token_value("token", *token);
  return *token;
}

void ensure_token_unused(Store& store, const std::string& token, std::int64_t node_id) {
  auto other = store.node_by_token(token);
  if (other && other->id != node_id) fail(ErrorKind::conflict, "this token is already used by another node: choose another");
  if (store.grid_by_token(token)) fail(ErrorKind::conflict, "this token is a grid token: choose another");
}

}  // namespace

void add_node_routes(Router& r, ApiServices& s) {
  r.add("GET", "/v1/grids/:grid/nodes", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    Json list = Json::array();
    for (const auto& n : s.store.nodes_of_grid(access.grid.id)) list.push_back(node_json(n, access.grid));
    return ApiResult{200, {{"nodes", list}}};
  });

  r.add("POST", "/v1/grids/:grid/nodes", {true, "node", "create"}, [&s](ApiCall& call) {
    Fields f(call.body);
    Node node;
    node.name = *f.string("name", true, 256);
    call.audit.resource_name = node.name;
    validate_node_name(node.name);
    node.token = token_field(f);
    node.labels = labels_field(f);
    f.reject_unknown();
    auto access = visible_grid(s, call, call.param("grid"));
    node.grid_id = access.grid.id;
    node.created_at = node.updated_at = s.clock.now_unix_ms();
    s.store.transaction([&] {
      if (s.store.node_by_name(access.grid.id, node.name))
        fail(ErrorKind::conflict, "node \"" + node.name + "\" already exists in grid \"" + access.grid.name + "\"");
      ensure_token_unused(s.store, node.token, 0);
      node = s.store.insert_node(node);
    });
    call.audit.resource_id = access.grid.name + "/" + node.name;
    return ApiResult{201, node_json(node, access.grid)};
  });

  r.add("GET", "/v1/nodes/:grid/:node", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    return ApiResult{200, node_json(node_or_404(s.store, access.grid, call.param("node")), access.grid)};
  });

  r.add("PUT", "/v1/nodes/:grid/:node", {true, "node", "update"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("node");
    Fields f(call.body);
    std::optional<std::vector<std::string>> labels;
    f.allow("labels");
    if (f.present("labels")) labels = labels_field(f);
    auto availability = f.string("availability");
    if (availability && *availability != "active" && *availability != "drain")
      invalid("availability", "availability \"" + *availability + "\" is invalid: use active or drain");
    f.reject_unknown();
    auto access = visible_grid(s, call, call.param("grid"));
    Node node;
    bool availability_changed = false;
    s.store.transaction([&] {
      node = node_or_404(s.store, access.grid, call.param("node"));
      if (labels) node.labels = *labels;
      if (availability) {
        availability_changed = node.availability != *availability;
        node.availability = *availability;
      }
      node.updated_at = s.clock.now_unix_ms();
      s.store.update_node(node);
    });
    call.audit.resource_id = access.grid.name + "/" + node.name;
    if (s.node_events) s.node_events->node_changed(node);
    // Drain moves the node's instances away now; active lets it take its share again.
    if (availability_changed && s.service_control) {
      try {
        s.service_control->node_availability_changed(node);
      } catch (const std::exception& e) {
        spdlog::warn("rescheduling after an availability change failed grid={} node={} error={}", access.grid.name,
                     node.name, e.what());
      }
    }
    return ApiResult{200, node_json(node, access.grid)};
  });

  r.add("DELETE", "/v1/nodes/:grid/:node", {true, "node", "delete"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("node");
    auto access = visible_grid(s, call, call.param("grid"));
    require(can_admin_grid(call.user(), access.member),
            "removing nodes needs the master_admin role or grid_admin and membership of grid \"" + access.grid.name + "\"");
    Node node;
    s.store.transaction([&] {
      node = node_or_404(s.store, access.grid, call.param("node"));
      call.audit.resource_id = access.grid.name + "/" + node.name;
      s.store.delete_node(node.id);
    });
    if (s.node_events) s.node_events->node_removed(node);  // its agent gets close 4040
    // Its overlay addresses and IPAM slice stay in etcd until a node of the grid frees them.
    release_node_addresses(s, access.grid, node);
    return ApiResult{200, Json::object()};
  });

  r.add("GET", "/v1/nodes/:grid/:node/stats", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    auto node = node_or_404(s.store, access.grid, call.param("node"));
    auto info = [&](const char* key) { return node.info.contains(key) ? node.info[key] : Json(nullptr); };
    Json received = nullptr;
    if (node.info.contains("stats_received_at") && node.info["stats_received_at"].is_number_integer())
      received = time_json(node.info["stats_received_at"].get<std::int64_t>());
    return ApiResult{200, {{"id", access.grid.name + "/" + node.name},
                           {"status", node_status(node)},
                           {"stats", info("stats")},
                           {"received_at", received}}};
  });

  r.add("GET", "/v1/nodes/:grid/:node/token", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    auto node = node_or_404(s.store, access.grid, call.param("node"));
    if (node.token.empty())
      fail(ErrorKind::not_found, "node \"" + node.name + "\" has no node token (kontena node reset-token creates one)");
    return ApiResult{200, {{"id", access.grid.name + "/" + node.name}, {"token", node.token}}};
  });

  r.add("PUT", "/v1/nodes/:grid/:node/token", {true, "node", "reset token"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("node");
    Fields f(call.body);
    auto token = token_field(f);
    bool reset_connection = f.boolean("reset_connection").value_or(false);
    f.reject_unknown();
    auto access = visible_grid(s, call, call.param("grid"));
    Node node;
    s.store.transaction([&] {
      node = node_or_404(s.store, access.grid, call.param("node"));
      ensure_token_unused(s.store, token, node.id);
      node.token = token;
      node.updated_at = s.clock.now_unix_ms();
      s.store.update_node(node);
    });
    call.audit.resource_id = access.grid.name + "/" + node.name;
    // The agent's socket closes with 4031; it reconnects and must then use the new token.
    if (reset_connection && s.node_events) s.node_events->reset_connection(node);
    return ApiResult{200, {{"id", access.grid.name + "/" + node.name}, {"token", node.token}}};
  });

  r.add("DELETE", "/v1/nodes/:grid/:node/token", {true, "node", "clear token"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("node");
    auto access = visible_grid(s, call, call.param("grid"));
    s.store.transaction([&] {
      auto node = node_or_404(s.store, access.grid, call.param("node"));
      call.audit.resource_id = access.grid.name + "/" + node.name;
      node.token.clear();
      node.updated_at = s.clock.now_unix_ms();
      s.store.update_node(node);
    });
    return ApiResult{200, Json::object()};
  });
}

}  // namespace kontena::master
