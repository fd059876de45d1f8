// Agent <-> master RPC framing (DESIGN §3): the original's msgpack-RPC arrays, sent as JSON text
// WebSocket frames.
//   request       [0, id, "/handler/method", [params...]]
//   response      [1, id, error|null, result|null]      error = {"code": int, "message": string}
//   notification  [2, "/handler/method", [params...]]
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace kontena::protocol {

using Json = nlohmann::json;

struct RpcRequest {
  std::int64_t id = 0;
  std::string method;
  Json params = Json::array();
};

struct RpcResponse {
  std::int64_t id = 0;
  Json error = nullptr;   // null on success, else {"code", "message"}
  Json result = nullptr;
  bool ok() const { return error.is_null(); }
};

struct RpcNotification {
  std::string method;
  Json params = Json::array();
};

using RpcMessage = std::variant<RpcRequest, RpcResponse, RpcNotification>;

// Parses one text frame. Throws kontena::Error (bad_request) with a message naming what is wrong
// for anything that is not exactly one of the three shapes: never crashes on any input.
RpcMessage parse_rpc(std::string_view text);

std::string encode(const RpcRequest& request);
std::string encode(const RpcResponse& response);
std::string encode(const RpcNotification& notification);

// Error responses use HTTP-like codes, as the original: 400 bad params, 404 unknown node/object,
// 500 failure while handling, 501 method not implemented, 503 not available now.
RpcResponse rpc_error(std::int64_t id, int code, std::string message);
RpcResponse rpc_result(std::int64_t id, Json result);

}  // namespace kontena::protocol
