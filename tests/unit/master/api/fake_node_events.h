// A fake agent hub for the API tests: records the node notifications and the master -> agent
// calls, and answers each call at once with what `answer` returns (default: error 501).
#pragma once
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/api/node_events.h"
#include "protocol/rpc.h"

namespace kontena::master::testing {

class FakeNodeEvents : public NodeEvents {
 public:
  struct Call {
    std::int64_t node = 0;
    std::string method;
    nlohmann::json params;
    std::chrono::milliseconds timeout{0};
  };
  using Answer = std::function<protocol::RpcResponse(const Call&)>;

  void node_removed(const Node& node) override { removed.push_back(node.name); }
  void node_changed(const Node&) override {}
  void reset_connection(const Node&) override {}
  void call(std::int64_t node, std::string method, nlohmann::json params, std::chrono::milliseconds timeout,
            CallDone done) override {
    Call c{node, std::move(method), std::move(params), timeout};
    {
      std::lock_guard lock(mu_);
      calls_.push_back(c);
    }
    done(answer ? answer(c) : protocol::rpc_error(0, 501, "not implemented by the fake"));
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<Call> calls(const std::string& method) const {
    std::vector<Call> out;
    for (const auto& c : calls())
      if (c.method == method) out.push_back(c);
    return out;
  }

  static protocol::RpcResponse ok(nlohmann::json result) { return protocol::rpc_result(0, std::move(result)); }
  static protocol::RpcResponse error(int code, std::string message) { return protocol::rpc_error(0, code, std::move(message)); }

  Answer answer;
  std::vector<std::string> removed;

 private:
  mutable std::mutex mu_;
  std::vector<Call> calls_;
};

}  // namespace kontena::master::testing
