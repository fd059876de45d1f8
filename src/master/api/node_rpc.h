// Requests the REST API sends to the agents (through NodeEvents::call, the agent hub): the grid's
// etcd is reached through its nodes (docs/api/etcd-network.md), so are the nodes' health reports
// and the release of a removed node's overlay addresses.
#pragma once
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "master/api/api.h"
#include "protocol/rpc.h"

namespace kontena::master {

// Node numbers 1..initial_size run the grid's etcd members.
bool is_initial_member(const Node& node, const Grid& grid);

// The grid's nodes marked connected, initial members first, each group by node number.
std::vector<Node> connected_nodes(Store& store, const Grid& grid);

// Starts method on the node's agent; the future is ready with the agent's response, or error 503
// when the node is not connected or does not answer within timeout. 503 at once when the master
// has no agent hub.
std::future<protocol::RpcResponse> ask_node(ApiServices& services, const Node& node, std::string method, Json params,
                                            std::chrono::milliseconds timeout);

// Waits for an answer of ask_node (at most timeout and a margin): the result, or throws the
// agent's error as a kontena::Error of its status (the node named where the message needs it).
Json node_result(std::future<protocol::RpcResponse>& answer, const Node& node, const std::string& method,
                 std::chrono::milliseconds timeout);

// ask_node + node_result.
Json call_node(ApiServices& services, const Node& node, const std::string& method, Json params,
               std::chrono::milliseconds timeout);

// Calls method on a connected node of the grid, initial members first; when that node cannot
// answer (503) the next one is tried (two nodes at most). 503 when no node of the grid is connected.
Json call_grid(ApiServices& services, const Grid& grid, const std::string& method, const Json& params,
               std::chrono::milliseconds timeout);

// After a node's removal: asks a connected node of the grid to free the removed node's IPAM slice
// and addresses (/ipam/release_node). Best effort: logged, never an error for the caller; does not
// wait for the answer.
void release_node_addresses(ApiServices& services, const Grid& grid, const Node& removed);

}  // namespace kontena::master
