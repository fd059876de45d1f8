#include "protocol/rpc.h"

#include "common/error.h"

namespace kontena::protocol {

namespace {

[[noreturn]] void bad(const std::string& why) { fail(ErrorKind::bad_request, "malformed RPC message: " + why); }

std::int64_t id_of(const Json& v) {
  if (!v.is_number_integer()) bad("the id must be an integer");
  return v.get<std::int64_t>();
}

std::string method_of(const Json& v) {
  if (!v.is_string()) bad("the method must be a string");
  auto m = v.get<std::string>();
  if (m.empty() || m.front() != '/') bad("the method must start with '/' (e.g. /nodes/update)");
  return m;
}

Json params_of(const Json& v) {
  if (!v.is_array()) bad("the params must be an array");
  return v;
}

}  // namespace

RpcMessage parse_rpc(std::string_view text) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) bad("not JSON");
  if (!doc.is_array() || doc.empty()) bad("expected a JSON array [type, ...]");
  if (!doc[0].is_number_integer()) bad("the first element (type) must be 0, 1 or 2");
  switch (doc[0].get<std::int64_t>()) {
    case 0: {
      if (doc.size() != 4) bad("a request is [0, id, method, params]");
      return RpcRequest{id_of(doc[1]), method_of(doc[2]), params_of(doc[3])};
    }
    case 1: {
      if (doc.size() != 4) bad("a response is [1, id, error, result]");
      const Json& err = doc[2];
      if (!err.is_null() && !(err.is_object() && err.contains("message"))) bad("a response error must be null or {code, message}");
      return RpcResponse{id_of(doc[1]), err, doc[3]};
    }
    case 2: {
      if (doc.size() != 3) bad("a notification is [2, method, params]");
      return RpcNotification{method_of(doc[1]), params_of(doc[2])};
    }
    default:
      bad("the first element (type) must be 0, 1 or 2");
  }
}

std::string encode(const RpcRequest& r) { return Json::array({0, r.id, r.method, r.params}).dump(); }
std::string encode(const RpcResponse& r) { return Json::array({1, r.id, r.error, r.result}).dump(); }
std::string encode(const RpcNotification& n) { return Json::array({2, n.method, n.params}).dump(); }

RpcResponse rpc_error(std::int64_t id, int code, std::string message) {
  return RpcResponse{id, Json{{"code", code}, {"message", std::move(message)}}, nullptr};
}
RpcResponse rpc_result(std::int64_t id, Json result) { return RpcResponse{id, nullptr, std::move(result)}; }

}  // namespace kontena::protocol
