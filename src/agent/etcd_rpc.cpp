#include "agent/etcd_rpc.h"

#include <cstdio>
#include <memory>
#include <optional>
#include <spdlog/spdlog.h>

#include "agent/blocking.h"
#include "agent/ipam/ipam.h"
#include "common/error.h"
#include "protocol/etcd_rpc.h"

namespace kontena::agent {

namespace {

constexpr std::int64_t kMaxListed = 10'000;           // keys one recursive get returns

const char* const kNoClient =
    "this node has no etcd client yet (its agent is still setting up the grid's network): try again in a moment "
    "or through another node";

// etcdctl writes member ids in hex; JSON numbers over 2^53 would lose digits in many clients.
std::string hex_id(std::uint64_t id) {
  if (id == 0) return "";
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(id));
  return buffer;
}

const Json& single_param(const Json& params, const char* method, const char* shape) {
  const Json* p = &params;
  if (params.is_array()) {
    if (params.size() != 1) invalid("params", std::string(method) + " takes one parameter: " + shape);
    p = &params[0];
  }
  if (!p->is_object()) invalid("params", std::string(method) + " takes an object " + shape);
  return *p;
}

// The prefix under which a recursive get/delete of key works: key's "directory".
std::string children_prefix(const std::string& key) { return key.back() == '/' ? key : key + "/"; }

::kontena::etcd::EtcdClient& client_or_503(const std::shared_ptr<EtcdRpcDeps>& deps) {
  ::kontena::etcd::EtcdClient* client = deps->client ? deps->client() : nullptr;
  if (!client) fail(ErrorKind::unavailable, kNoClient);
  return *client;
}

int initial_members_of(const std::shared_ptr<EtcdRpcDeps>& deps, int from_master) {
  if (deps->initial_members) {
    int n = deps->initial_members();
    if (n > 0) return n;
  }
  return from_master;
}

// Free coroutines taking everything by value (g++ 12: no temporaries with destructors in the
// co_await full-expressions). Params are parsed inside, so bad params become an error response.
asio::awaitable<Json> run_key_op(std::shared_ptr<EtcdRpcDeps> deps, EtcdOp op, Json params) {
  EtcdKeyRequest request = parse_etcd_request(op, params);
  auto call = [deps, op, request] {
    ::kontena::etcd::EtcdClient& client = client_or_503(deps);
    switch (op) {
      case EtcdOp::get: return etcd_get(client, request);
      case EtcdOp::set: return etcd_set(client, request);
      case EtcdOp::remove: return etcd_delete(client, request);
    }
    return Json();
  };
  auto result = co_await run_blocking(deps->worker, std::move(call));
  if (!result.ok()) std::rethrow_exception(result.error);
  co_return result.value;
}

asio::awaitable<Json> run_health(std::shared_ptr<EtcdRpcDeps> deps, int initial_members) {
  auto call = [deps, initial_members] {
    ::kontena::etcd::EtcdClient* client = deps->client ? deps->client() : nullptr;
    Json member = deps->member_status ? deps->member_status() : Json();
    Json network = deps->network_status ? deps->network_status() : Json();
    return etcd_health(client, member, network, initial_members_of(deps, initial_members));
  };
  auto result = co_await run_blocking(deps->worker, std::move(call));
  if (!result.ok()) std::rethrow_exception(result.error);
  co_return result.value;
}

asio::awaitable<Json> run_release_node(std::shared_ptr<EtcdRpcDeps> deps, Json params) {
  const Json& p = single_param(params, "/ipam/release_node", "{node_id}");
  auto id = p.find("node_id");
  if (id == p.end() || !id->is_string() || id->get<std::string>().empty())
    invalid("node_id", "node_id must be the removed node's id (its Docker engine ID), a non-empty string");
  std::string node_id = id->get<std::string>();
  auto call = [deps, node_id] {
    ipam::Ipam* ipam = deps->ipam ? deps->ipam() : nullptr;
    if (!ipam)
      fail(ErrorKind::unavailable, "IPAM is not running on this node yet: release node " + node_id + " through another node");
    ipam->release_node(node_id);
  };
  auto result = co_await run_blocking(deps->worker, std::move(call));
  if (!result.ok()) {
    spdlog::warn("ipam: releasing a removed node failed node_id={} error=\"{}\"", node_id, result.error_message());
    std::rethrow_exception(result.error);
  }
  spdlog::info("ipam: released a removed node's addresses node_id={}", node_id);
  co_return Json{{"node_id", node_id}};
}

}  // namespace

EtcdKeyRequest parse_etcd_request(EtcdOp op, const Json& params) {
  const char* method = op == EtcdOp::get ? "/etcd/get" : op == EtcdOp::set ? "/etcd/set" : "/etcd/delete";
  const char* shape = op == EtcdOp::set ? "{key, value}" : "{key, recursive}";
  const Json& p = single_param(params, method, shape);
  EtcdKeyRequest request;
  auto key = p.find("key");
  if (key == p.end() || !key->is_string()) invalid("key", "key must be a string that starts with \"/\"");
  request.key = key->get<std::string>();
  protocol::validate_etcd_key(request.key);
  if (op == EtcdOp::set) {
    auto value = p.find("value");
    if (value == p.end() || !value->is_string())
      invalid("value", "value must be a string (etcd stores bytes; send JSON as text)");
    request.value = value->get<std::string>();
    if (request.value.size() > protocol::kMaxEtcdValueBytes) invalid("value", "value must be at most 1 MiB");
  } else if (auto recursive = p.find("recursive"); recursive != p.end() && !recursive->is_null()) {
    if (!recursive->is_boolean()) invalid("recursive", "recursive must be true or false");
    request.recursive = recursive->get<bool>();
  }
  return request;
}

Json etcd_get(::kontena::etcd::EtcdClient& client, const EtcdKeyRequest& request) {
  if (!request.recursive) {
    auto kv = client.get(request.key);
    if (!kv) fail(ErrorKind::not_found, "etcd has no key " + request.key + " (kontena etcd list shows the keys)");
    return Json{{"key", kv->key}, {"value", kv->value}};
  }
  auto children = client.list(children_prefix(request.key), kMaxListed + 1);
  bool truncated = static_cast<std::int64_t>(children.size()) > kMaxListed;
  if (truncated) children.resize(kMaxListed);
  // Without directories, "/a" itself may be a key too.
  std::optional<::kontena::etcd::KeyValue> self;
  if (request.key.back() != '/') self = client.get(request.key);
  if (children.empty() && !self)
    fail(ErrorKind::not_found, "etcd has no key " + request.key + " and no key under " + children_prefix(request.key));
  Json list = Json::array();
  for (const auto& kv : children) list.push_back({{"key", kv.key}, {"value", kv.value}});
  Json out{{"key", request.key}, {"children", std::move(list)}, {"truncated", truncated}};
  if (self) out["value"] = self->value;
  return out;
}

Json etcd_set(::kontena::etcd::EtcdClient& client, const EtcdKeyRequest& request) {
  client.put(request.key, request.value);
  spdlog::info("etcd: key set by the master key={} bytes={}", request.key, request.value.size());
  return Json{{"key", request.key}, {"value", request.value}};
}

Json etcd_delete(::kontena::etcd::EtcdClient& client, const EtcdKeyRequest& request) {
  if (request.recursive && request.key == "/")
    invalid("key", "a recursive delete of \"/\" would erase all of the grid's network state (IPAM, load balancers): "
                   "name a narrower prefix");
  std::int64_t deleted = client.remove(request.key, false);
  if (request.recursive) deleted += client.remove(children_prefix(request.key), true);
  if (deleted == 0)
    fail(ErrorKind::not_found, "etcd has no key " + request.key +
                                   (request.recursive ? " and no key under " + children_prefix(request.key) : std::string()));
  spdlog::info("etcd: keys deleted by the master key={} recursive={} deleted={}", request.key, request.recursive, deleted);
  return Json{{"deleted", deleted}};
}

Json etcd_health(::kontena::etcd::EtcdClient* client, const Json& member_status, const Json& network_status,
                 int initial_members) {
  Json out{{"member", member_status}, {"network", network_status}};
  Json endpoints = Json::array();
  Json members = Json::array();
  int healthy = 0;
  std::uint64_t leader = 0;
  if (!client) {
    out["error"] = kNoClient;
  } else {
    for (const auto& status : client->endpoint_status()) {
      if (status.healthy) {
        ++healthy;
        if (status.leader != 0) leader = status.leader;
      }
      endpoints.push_back({{"endpoint", status.endpoint},
                           {"healthy", status.healthy},
                           {"error", status.error},
                           {"member_id", hex_id(status.member_id)},
                           {"leader", hex_id(status.leader)},
                           {"version", status.version},
                           {"db_size", status.db_size}});
    }
    try {
      for (const auto& member : client->members())
        members.push_back({{"id", hex_id(member.id)},
                           {"name", member.name},
                           {"peer_urls", member.peer_urls},
                           {"client_urls", member.client_urls}});
    } catch (const std::exception& e) {
      out["members_error"] = e.what();
    }
  }
  int total = initial_members > 0 ? initial_members : static_cast<int>(endpoints.size());
  out["endpoints"] = std::move(endpoints);
  out["members"] = std::move(members);
  out["healthy"] = healthy;
  out["total"] = total;
  out["majority"] = total > 0 && healthy > total / 2;
  out["leader"] = hex_id(leader);
  return out;
}

void register_etcd_rpc(Agent& agent, EtcdRpcDeps deps) {
  auto shared = std::make_shared<EtcdRpcDeps>(std::move(deps));
  auto key_op = [&agent, shared](std::string_view method, EtcdOp op) {
    agent.on_request(std::string(method), [shared, op](Json params) { return run_key_op(shared, op, std::move(params)); });
  };
  key_op(protocol::kMethodEtcdGet, EtcdOp::get);
  key_op(protocol::kMethodEtcdSet, EtcdOp::set);
  key_op(protocol::kMethodEtcdDelete, EtcdOp::remove);
  Agent* owner = &agent;
  agent.on_request(std::string(protocol::kMethodEtcdHealth), [shared, owner](Json) {
    // Read on the loop: the master state is not thread-safe.
    const Json& grid = owner->master_state().grid;
    auto size = grid.find("initial_size");
    int initial = size != grid.end() && size->is_number_integer() ? size->get<int>() : 0;
    return run_health(shared, initial);
  });
  agent.on_request(std::string(protocol::kMethodIpamReleaseNode),
                   [shared](Json params) { return run_release_node(shared, std::move(params)); });
}

}  // namespace kontena::agent
