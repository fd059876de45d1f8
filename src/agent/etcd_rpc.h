// The master's requests about the grid's etcd and IPAM, answered by this node's agent (the master
// never talks to etcd itself: docs/api/etcd-network.md "Agent RPC"):
//   /etcd/get    [{"key", "recursive": bool}] -> {"key", "value"}, or recursive
//                {"key", "children": [{"key", "value"}], "truncated": bool}; 404 when nothing
//   /etcd/set    [{"key", "value"}]           -> {"key", "value"}
//   /etcd/delete [{"key", "recursive": bool}] -> {"deleted": n}; 404 when nothing
//   /etcd/health []                           -> this node's view of the cluster (never fails for
//                an unhealthy cluster: it reports it)
//   /ipam/release_node [{"node_id"}]          -> {"node_id"}: frees a removed node's IPAM slice
// Keys start with "/" and have no ".." segment and no NUL (422 otherwise). 503 when this node has
// no etcd client (or IPAM) yet, or etcd has no majority. Every etcd call runs on `worker`, never on
// the event loop (a call without quorum waits for the client's timeout).
#pragma once
#include "common/asio.h"

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/agent.h"
#include "etcd/etcd_client.h"

namespace kontena::agent {

namespace ipam {
class Ipam;
}

// ::kontena::etcd: the grid's etcd client, not kontena::agent::etcd (this node's etcd member).
struct EtcdRpcDeps {
  asio::any_io_executor worker;  // where the blocking etcd calls run (the agent's worker pool)
  // The functions are called on `worker`.
  std::function<::kontena::etcd::EtcdClient*()> client;  // nullptr while this node has no etcd client yet
  std::function<Json()> member_status;         // this node's etcd member status; null when not an initial member
  std::function<ipam::Ipam*()> ipam;           // nullptr while IPAM is not running on this node
  std::function<Json()> network_status;        // overlay/IPAM/DNS summary of this node; may be null
  // How many initial members the grid has (the grid's initial_size); 0 = ask the agent's master state.
  std::function<int()> initial_members;
};

void register_etcd_rpc(Agent& agent, EtcdRpcDeps deps);

// The parsed params of /etcd/get, /etcd/set and /etcd/delete (keys: protocol::validate_etcd_key).
// Throws Error(invalid) naming what is wrong.
struct EtcdKeyRequest {
  std::string key;
  std::string value;       // /etcd/set
  bool recursive = false;  // /etcd/get, /etcd/delete
};
enum class EtcdOp { get, set, remove };
EtcdKeyRequest parse_etcd_request(EtcdOp op, const Json& params);

// The handlers' work, blocking (what runs on the worker); exposed for tests.
Json etcd_get(::kontena::etcd::EtcdClient& client, const EtcdKeyRequest& request);
Json etcd_set(::kontena::etcd::EtcdClient& client, const EtcdKeyRequest& request);
Json etcd_delete(::kontena::etcd::EtcdClient& client, const EtcdKeyRequest& request);
// client may be nullptr (reported as an error field). initial_members: the grid's initial_size.
Json etcd_health(::kontena::etcd::EtcdClient* client, const Json& member_status, const Json& network_status,
                 int initial_members);

}  // namespace kontena::agent
