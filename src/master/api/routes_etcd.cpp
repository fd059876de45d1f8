// The grid's etcd and health (docs/api/etcd-network.md): /v1/etcd/:grid/<key> proxied through a
// connected node of the grid, /v1/nodes/:grid/:node/health and /v1/grids/:grid/health from the
// agents' /etcd/health reports. The master never talks to etcd itself.
#include <algorithm>
#include <optional>

#include "common/error.h"
#include "common/log.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/node_rpc.h"
#include "protocol/etcd_rpc.h"

namespace kontena::master {

namespace {

constexpr std::chrono::milliseconds kKeyTimeout{10'000};
constexpr std::chrono::milliseconds kNodeHealthTimeout{5'000};
// The grid health asks every connected node at once and waits this long for all of them.
constexpr std::chrono::milliseconds kGridHealthTimeout{3'000};

// The route's rest of the path is the key: "/v1/etcd/demo/kontena/ipam" -> "/kontena/ipam".
std::string key_param(const ApiCall& call) {
  std::string key = call.param("key");
  if (key.empty()) key = "/";
  protocol::validate_etcd_key(key);
  return key;
}

std::optional<bool> bool_query(const ApiCall& call, const std::string& name) {
  auto it = call.request.query.find(name);
  if (it == call.request.query.end()) return std::nullopt;
  if (it->second == "true" || it->second == "1" || it->second.empty()) return true;
  if (it->second == "false" || it->second == "0") return false;
  invalid(name, name + " must be true or false; got \"" + it->second + "\"");
}

void require_etcd_admin(const ApiCall& call, const GridAccess& access) {
  require(can_admin_grid(call.user(), access.member),
          "changing the etcd of grid \"" + access.grid.name +
              "\" needs the master_admin role or grid_admin and membership of the grid");
}

// What grid health shows of one node's /etcd/health report.
Json etcd_summary(const Json& report) {
  Json out = Json::object();
  for (const char* key : {"member", "healthy", "total", "majority", "leader", "error", "members_error"})
    if (report.contains(key)) out[key] = report[key];
  return out;
}

// A node whose etcd member reports trouble: "etcd member is failed: <error>".
std::optional<std::string> member_problem(const Json& member) {
  if (!member.is_object()) return std::nullopt;
  std::string state = member.value("state", std::string());
  std::string error = member.contains("error") && member["error"].is_string() ? member["error"].get<std::string>() : "";
  if ((state.empty() || state == "running") && error.empty()) return std::nullopt;
  std::string text = "its etcd member is " + (state.empty() ? std::string("in trouble") : state);
  if (!error.empty()) text += ": " + error;
  return text;
}

Json grid_health(ApiServices& s, const Grid& grid) {
  auto nodes = s.store.nodes_of_grid(grid.id);
  struct Asked {
    const Node* node;
    std::future<protocol::RpcResponse> answer;
  };
  std::vector<Asked> asked;
  for (const auto& node : nodes)
    if (node.connected)
      asked.push_back({&node, ask_node(s, node, std::string(protocol::kMethodEtcdHealth), Json::array(), kGridHealthTimeout)});

  Json node_list = Json::array();
  Json problems = Json::array();
  std::vector<int> initial_numbers;
  Json best;  // the report with the most healthy members, initial members preferred
  bool best_initial = false;
  for (const auto& node : nodes) {
    bool initial = is_initial_member(node, grid);
    if (initial) initial_numbers.push_back(node.node_number);
    Json entry{{"name", node.name}, {"node_number", node.node_number}, {"initial_member", initial},
               {"connected", node.connected}};
    std::string who = initial ? node.name + " (initial member " + std::to_string(node.node_number) + ")" : node.name;
    auto it = std::find_if(asked.begin(), asked.end(), [&node](const Asked& a) { return a.node == &node; });
    if (it == asked.end()) {
      entry["etcd"] = Json{{"error", "node is offline"}};
      if (initial) problems.push_back(who + " is offline");
    } else {
      try {
        Json report = node_result(it->answer, node, std::string(protocol::kMethodEtcdHealth), kGridHealthTimeout);
        entry["etcd"] = etcd_summary(report);
        if (auto problem = member_problem(report.value("member", Json()))) problems.push_back(who + ": " + *problem);
        if (report.contains("error") && report["error"].is_string() && initial)
          problems.push_back(who + ": " + report["error"].get<std::string>());
        int healthy = report.value("healthy", 0);
        bool better = best.is_null() || healthy > best.value("healthy", 0) ||
                      (healthy == best.value("healthy", 0) && initial && !best_initial);
        if (better && !report.contains("error")) {
          best = report;
          best_initial = initial;
        }
      } catch (const Error& e) {
        entry["etcd"] = Json{{"error", e.what()}};
        problems.push_back(who + " did not report its health: " + e.what());
      }
    }
    node_list.push_back(std::move(entry));
  }
  for (int number = 1; number <= grid.initial_size; ++number)
    if (std::find(initial_numbers.begin(), initial_numbers.end(), number) == initial_numbers.end())
      problems.push_back("initial member " + std::to_string(number) + " of " + std::to_string(grid.initial_size) +
                         " has not joined: the grid's etcd runs on its first " + std::to_string(grid.initial_size) +
                         " nodes");

  Json etcd{{"members", grid.initial_size}, {"healthy", nullptr}, {"majority", nullptr}, {"leader", nullptr}};
  if (best.is_null()) {
    problems.push_back(asked.empty() ? "no node of grid \"" + grid.name + "\" is connected: etcd's health is unknown"
                                     : "no node could report etcd's health");
  } else {
    int healthy = best.value("healthy", 0);
    bool majority = healthy > grid.initial_size / 2;
    etcd["healthy"] = healthy;
    etcd["majority"] = majority;
    etcd["leader"] = best.value("leader", std::string()).empty() ? Json() : best["leader"];
    if (!majority)
      problems.push_back("etcd has lost its majority: " + std::to_string(healthy) + " of " +
                         std::to_string(grid.initial_size) +
                         " members healthy; deploys cannot get overlay addresses until a majority of the initial "
                         "nodes is back");
  }
  return Json{{"grid", grid.name},         {"initial_size", grid.initial_size}, {"nodes", node_list},
              {"etcd", etcd},              {"healthy", problems.empty()},       {"problems", problems}};
}

}  // namespace

void add_etcd_routes(Router& r, ApiServices& s) {
  r.add("GET", "/v1/etcd/:grid/*key", {}, [&s](ApiCall& call) {
    std::string key = key_param(call);
    bool recursive = bool_query(call, "recursive").value_or(false);
    auto access = visible_grid(s, call, call.param("grid"));
    Json params = Json::array({{{"key", key}, {"recursive", recursive}}});
    return ApiResult{200, call_grid(s, access.grid, std::string(protocol::kMethodEtcdGet), params, kKeyTimeout)};
  });

  r.add("POST", "/v1/etcd/:grid/*key", {true, "etcd", "set"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("key");
    std::string key = key_param(call);
    Fields f(call.body);
    auto value = f.string("value", true, protocol::kMaxEtcdValueBytes);
    f.reject_unknown();
    auto access = visible_grid(s, call, call.param("grid"));
    require_etcd_admin(call, access);
    call.audit.resource_id = access.grid.name + key;
    Json params = Json::array({{{"key", key}, {"value", *value}}});
    return ApiResult{200, call_grid(s, access.grid, std::string(protocol::kMethodEtcdSet), params, kKeyTimeout)};
  });

  r.add("DELETE", "/v1/etcd/:grid/*key", {true, "etcd", "delete"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("key");
    std::string key = key_param(call);
    // DELETE bodies are not parsed for every route: this one takes {"recursive": bool} (or ?recursive=).
    call.body = parse_body(call.request.body);
    Fields f(call.body);
    auto recursive = f.boolean("recursive");
    f.reject_unknown();
    if (!recursive) recursive = bool_query(call, "recursive");
    auto access = visible_grid(s, call, call.param("grid"));
    require_etcd_admin(call, access);
    call.audit.resource_id = access.grid.name + key;
    Json params = Json::array({{{"key", key}, {"recursive", recursive.value_or(false)}}});
    return ApiResult{200, call_grid(s, access.grid, std::string(protocol::kMethodEtcdDelete), params, kKeyTimeout)};
  });

  r.add("GET", "/v1/nodes/:grid/:node/health", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    auto node = node_or_404(s.store, access.grid, call.param("node"));
    if (!node.connected)
      fail(ErrorKind::unavailable, "node \"" + node.name + "\" is offline: its agent reports its health (kontena node ls)");
    Json report = call_node(s, node, std::string(protocol::kMethodEtcdHealth), Json::array(), kNodeHealthTimeout);
    if (!report.is_object()) report = Json::object();
    report["node"] = node.name;
    report["node_number"] = node.node_number;
    report["initial_member"] = is_initial_member(node, access.grid);
    report["connected"] = true;
    return ApiResult{200, report};
  });

  r.add("GET", "/v1/grids/:grid/health", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    return ApiResult{200, grid_health(s, access.grid)};
  });
}

}  // namespace kontena::master
