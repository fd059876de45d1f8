// What the REST API tells the agent hub about nodes it changed, so a connected agent hears of it
// (close 4040 on removal, close 4031 on a token reset with reset_connection, /agent/node_info on
// label or availability changes), and the requests the API sends to agents through it (etcd
// proxying, health, IPAM release: node_rpc.h). The notifications are called after the change is
// committed, outside any transaction.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "master/store/model.h"
#include "protocol/rpc.h"

namespace kontena::master {

class NodeEvents {
 public:
  using CallDone = std::function<void(const protocol::RpcResponse&)>;

  virtual ~NodeEvents() = default;
  virtual void node_removed(const Node& node) = 0;      // already gone from the store
  virtual void node_changed(const Node& node) = 0;      // labels, availability
  virtual void reset_connection(const Node& node) = 0;  // drop the agent's socket, mark it offline
  // Master -> agent request (AgentHub::call): done gets the agent's response, or error 503 when
  // the node is not connected, disconnects first or does not answer within timeout. done may run
  // on any thread, and inside this call when the node is not connected.
  virtual void call(std::int64_t node, std::string method, nlohmann::json params, std::chrono::milliseconds timeout,
                    CallDone done) = 0;
};

}  // namespace kontena::master
