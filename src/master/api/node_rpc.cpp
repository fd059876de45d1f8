#include "master/api/node_rpc.h"

#include <algorithm>
#include <memory>

#include "common/error.h"
#include "common/log.h"

namespace kontena::master {

namespace {

// The hub answers overdue calls on its tick: allow it that long before giving up on the future.
constexpr std::chrono::milliseconds kAnswerMargin{2'000};

std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

ErrorKind agent_error_kind(int code) {
  // 501: an agent too old for the method; the node cannot answer it now, like an offline node.
  if (code == 501) return ErrorKind::unavailable;
  return kind_from_http_status(code);
}

}  // namespace

bool is_initial_member(const Node& node, const Grid& grid) {
  return node.node_number >= 1 && node.node_number <= grid.initial_size;
}

std::vector<Node> connected_nodes(Store& store, const Grid& grid) {
  std::vector<Node> out;
  for (auto& node : store.nodes_of_grid(grid.id))
    if (node.connected) out.push_back(std::move(node));
  std::stable_sort(out.begin(), out.end(), [&grid](const Node& a, const Node& b) {
    return is_initial_member(a, grid) && !is_initial_member(b, grid);
  });
  return out;
}

std::future<protocol::RpcResponse> ask_node(ApiServices& services, const Node& node, std::string method, Json params,
                                            std::chrono::milliseconds timeout) {
  auto answer = std::make_shared<std::promise<protocol::RpcResponse>>();
  auto future = answer->get_future();
  if (!services.node_events) {
    answer->set_value(protocol::rpc_error(0, 503, "this master has no agent hub"));
    return future;
  }
  services.node_events->call(node.id, std::move(method), std::move(params), timeout,
                             [answer](const protocol::RpcResponse& response) { answer->set_value(response); });
  return future;
}

Json node_result(std::future<protocol::RpcResponse>& answer, const Node& node, const std::string& method,
                 std::chrono::milliseconds timeout) {
  if (answer.wait_for(timeout + kAnswerMargin) != std::future_status::ready)
    fail(ErrorKind::unavailable, "node \"" + node.name + "\" did not answer " + method + " within " + seconds_text(timeout));
  auto response = answer.get();
  if (response.ok()) return response.result;
  int code = response.error.is_object() ? response.error.value("code", 500) : 500;
  std::string message = response.error.is_object() ? response.error.value("message", std::string()) : response.error.dump();
  if (code == 501)
    message = "the agent of node \"" + node.name + "\" does not know " + method + ": upgrade it (" + message + ")";
  else if (code == 503 || code >= 500)
    message = "node \"" + node.name + "\": " + message;
  fail(agent_error_kind(code), message);
}

Json call_node(ApiServices& services, const Node& node, const std::string& method, Json params,
               std::chrono::milliseconds timeout) {
  auto answer = ask_node(services, node, method, std::move(params), timeout);
  return node_result(answer, node, method, timeout);
}

Json call_grid(ApiServices& services, const Grid& grid, const std::string& method, const Json& params,
               std::chrono::milliseconds timeout) {
  auto nodes = connected_nodes(services.store, grid);
  if (nodes.empty())
    fail(ErrorKind::unavailable, "no node of grid \"" + grid.name +
                                     "\" is connected: etcd is reached through the grid's nodes (kontena node ls)");
  constexpr std::size_t kAttempts = 2;
  for (std::size_t i = 0;; ++i) {
    try {
      return call_node(services, nodes[i], method, params, timeout);
    } catch (const Error& e) {
      // Another node may answer when this one is going away or still setting up; any other error
      // is the answer.
      if (e.kind() != ErrorKind::unavailable || i + 1 >= std::min(kAttempts, nodes.size())) throw;
      spdlog::info("node rpc: trying another node grid={} node={} method={} error=\"{}\"", grid.name, nodes[i].name,
                   method, e.what());
    }
  }
}

void release_node_addresses(ApiServices& services, const Grid& grid, const Node& removed) {
  if (removed.node_id.empty()) return;  // no agent ever joined: it has no addresses
  if (!services.node_events) return;
  auto nodes = connected_nodes(services.store, grid);
  if (nodes.empty()) {
    spdlog::warn("ipam: no connected node to release a removed node's addresses grid={} node={} node_id={}", grid.name,
                 removed.name, removed.node_id);
    return;
  }
  const Node& via = nodes.front();
  Json params = Json::array({{{"node_id", removed.node_id}}});
  auto done = [grid = grid.name, node = removed.name, via = via.name](const protocol::RpcResponse& response) {
    if (response.ok())
      spdlog::info("ipam: released a removed node's addresses grid={} node={} via={}", grid, node, via);
    else
      spdlog::warn("ipam: releasing a removed node's addresses failed grid={} node={} via={} error={}", grid, node, via,
                   response.error.dump());
  };
  services.node_events->call(via.id, "/ipam/release_node", std::move(params), std::chrono::seconds(30), std::move(done));
}

}  // namespace kontena::master
