#include "master/agents/agent_hub.h"

#include <algorithm>
#include <variant>

#include "common/error.h"
#include "common/log.h"
#include "master/agents/handshake.h"
#include "master/api/validation.h"
#include "protocol/agent_protocol.h"

namespace kontena::master {

namespace proto = kontena::protocol;
using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::system_clock;

namespace {

std::int64_t unix_ms(system_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

long long ms_between(system_clock::time_point from, system_clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

int rpc_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid:
    case ErrorKind::bad_request:
      return 400;
    case ErrorKind::not_found:
      return 404;
    case ErrorKind::unavailable:
      return 503;
    default:
      return 500;
  }
}

std::string header(const HttpRequest& r, std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r.header(lower);
}

}  // namespace

// What the transport calls for one accepted socket.
class AgentHub::Listener final : public ChannelListener {
 public:
  Listener(AgentHub& hub, std::uint64_t connection) : hub_(hub), connection_(connection) {}
  void on_text(std::string_view text) override { hub_.on_text(connection_, text); }
  void on_pong(std::string_view payload) override { hub_.on_pong(connection_, payload); }
  void on_closed(std::uint16_t code, std::string_view reason) override { hub_.on_closed(connection_, code, reason); }

 private:
  AgentHub& hub_;
  std::uint64_t connection_;
};

AgentHub::AgentHub(Store& store, const Clock& clock, AgentHubOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {
  if (options_.slow_pong.count() <= 0) options_.slow_pong = options_.ping_timeout / 2;
  handle(std::string(proto::kMethodNodesUpdate),
         [this](const AgentRef& ref, const Json& params) { return nodes_update(ref, params); });
  on_notification(std::string(proto::kMethodNodesStats),
                  [this](const AgentRef& ref, const Json& params) { nodes_stats(ref, params); });
  // The service-pod methods (/node_service_pods/...) are the deployer's: Deployer::register_agent_handlers().
}

AgentHub::~AgentHub() { stop(); }

void AgentHub::mark_all_disconnected() {
  std::size_t count = 0;
  store_.transaction([&] {
    for (const auto& grid : store_.grids()) {
      for (auto node : store_.nodes_of_grid(grid.id)) {
        if (!node.connected) continue;
        node.connected = false;
        store_.update_node(node);
        ++count;
      }
    }
  });
  if (count) spdlog::info("nodes marked disconnected at start count={}", count);
}

// ------------------------------------------------------------------------------------ handshake

Node AgentHub::admit(const HttpRequest& req, system_clock::time_point now) {
  const std::string grid_token = header(req, proto::kHeaderGridToken);
  const std::string node_token = header(req, proto::kHeaderNodeToken);
  const std::string node_id = header(req, proto::kHeaderNodeId);
  const std::string name = header(req, proto::kHeaderNodeName);
  const std::string version = header(req, proto::kHeaderVersion);
  const std::string connected_at = header(req, proto::kHeaderConnectedAt);

  if (grid_token.empty() && node_token.empty())
    throw Rejected{proto::kCloseMissingToken, "missing token: send Kontena-Grid-Token or Kontena-Node-Token"};
  if (node_id.empty()) throw Rejected{proto::kCloseMissingHeader, "missing header Kontena-Node-Id"};
  if (!agents::valid_node_id(node_id))
    throw Rejected{proto::kCloseMissingHeader, "invalid Kontena-Node-Id (expected the Docker engine ID)"};
  if (version.empty()) throw Rejected{proto::kCloseMissingHeader, "missing header Kontena-Version"};
  if (connected_at.empty()) throw Rejected{proto::kCloseMissingHeader, "missing header Kontena-Connected-At"};
  auto at = agents::parse_connected_at(connected_at);
  if (!at) throw Rejected{proto::kCloseMissingHeader, "invalid Kontena-Connected-At (expected \"%F %T.%NZ\" UTC)"};
  if (!agents::version_compatible(version, options_.master_version))
    throw Rejected{proto::kCloseBadVersion,
                   "agent version " + version + " is not compatible with master version " + options_.master_version};
  if (*at < now - (options_.ping_timeout + options_.clock_skew) || *at > now + options_.clock_skew)
    throw Rejected{proto::kCloseClockSkew, "clock skew: agent time " + connected_at + " is " +
                                               std::to_string(ms_between(*at, now)) +
                                               " ms away from the master's (sync the node's clock)"};
  std::vector<std::string> rejected_labels;
  auto labels = agents::parse_labels(header(req, proto::kHeaderNodeLabels), &rejected_labels);
  for (const auto& l : rejected_labels) spdlog::warn("agent label ignored (invalid) node_id={} label={}", node_id, l);

  Node node;
  const std::int64_t now_ms = unix_ms(now);
  store_.transaction([&] {
    if (!node_token.empty()) {
      auto found = store_.node_by_token(node_token);
      if (!found) throw Rejected{proto::kCloseInvalidNodeToken, "invalid node token"};
      node = std::move(*found);
      if (node.node_id.empty()) {
        auto other = store_.node_by_node_id(node.grid_id, node_id);
        if (other && other->id != node.id)
          throw Rejected{proto::kCloseNodeIdUsed, "node id " + node_id + " belongs to another node of the grid (" +
                                                      other->name + ")"};
        node.node_id = node_id;
        spdlog::info("node token bound node={} node_id={}", node.name, node_id);
      } else if (node.node_id != node_id) {
        throw Rejected{proto::kCloseNodeTokenUsed, "node token already used by another node id"};
      }
    } else {
      auto grid = store_.grid_by_token(grid_token);
      if (!grid) throw Rejected{proto::kCloseInvalidGridToken, "invalid grid token"};
      auto found = store_.node_by_node_id(grid->id, node_id);
      if (found) {
        if (!found->token.empty())
          throw Rejected{proto::kCloseGridTokenForTokenNode,
                         "node " + found->name + " was created with a node token: connect with Kontena-Node-Token"};
        node = std::move(*found);
      } else {
        std::string base = name.empty() ? node_id : name;
        try {
          validate_node_name(base);
        } catch (const Error&) {
          throw Rejected{proto::kCloseMissingHeader,
                         "invalid Kontena-Node-Name \"" + base + "\": letters, digits, '_', '.', '-' (e.g. node-1)"};
        }
        auto nodes = store_.nodes_of_grid(grid->id);
        int number = 0;
        for (int candidate = 1; candidate <= 254 && number == 0; ++candidate) {
          bool used = std::any_of(nodes.begin(), nodes.end(), [&](const Node& n) { return n.node_number == candidate; });
          if (!used) number = candidate;
        }
        if (number == 0) throw Rejected{proto::kCloseMissingHeader, "grid " + grid->name + " is full (254 nodes)"};
        auto taken = [&](const std::string& n) {
          return std::any_of(nodes.begin(), nodes.end(), [&](const Node& x) { return x.name == n; });
        };
        std::string unique = base;
        if (taken(unique)) unique = base + "-" + std::to_string(number);
        for (int i = 2; taken(unique); ++i) unique = base + "-" + std::to_string(number) + "-" + std::to_string(i);
        node.grid_id = grid->id;
        node.name = unique;
        node.node_id = node_id;
        node.node_number = number;
        node.labels = labels;
        node.created_at = node.updated_at = now_ms;
        node = store_.insert_node(node);
        spdlog::info("node created by agent grid={} node={} node_id={} node_number={}", grid->name, node.name, node_id,
                     number);
      }
    }
    node.connected = true;
    node.connected_at = now_ms;
    node.last_seen_at = now_ms;
    node.info.erase("updated_at");  // "connecting" until the agent's /nodes/update
    store_.update_node(node);
  });
  return node;
}

std::shared_ptr<ChannelListener> AgentHub::open(const HttpRequest& upgrade, std::shared_ptr<NodeChannel> channel) {
  const auto now = clock_.now();
  const std::string remote = channel->remote_address();
  std::unique_lock lock(mu_);
  Node node;
  try {
    node = admit(upgrade, now);
  } catch (const Rejected& r) {
    spdlog::warn("agent rejected code={} reason=\"{}\" remote={} node_id={} node_name={}", r.code, r.reason, remote,
                 header(upgrade, proto::kHeaderNodeId), header(upgrade, proto::kHeaderNodeName));
    channel->close(r.code, r.reason);
    return nullptr;
  } catch (const std::exception& e) {
    spdlog::error("agent handshake failed remote={} error={}", remote, e.what());
    channel->close(1011, "internal error: see the master's log");
    return nullptr;
  }
  std::optional<Grid> grid = store_.grid_by_id(node.grid_id);

  Completions failed;
  if (auto it = by_node_.find(node.id); it != by_node_.end()) {
    spdlog::info("agent replaced by a newer connection node={} old_remote={} new_remote={}", node.name,
                 sessions_[it->second].channel->remote_address(), remote);
    drop_session(it->second, proto::kCloseNewerConnection, "a newer connection for this node was opened", false,
                 failed);
  }
  Session s;
  s.id = ++next_connection_;
  s.channel = channel;
  s.ref = AgentRef{s.id, node.id, node.grid_id, grid ? grid->name : std::string(), node.name, node.node_id};
  s.opened_at = s.last_ping_at = now;
  auto& session = sessions_[s.id] = std::move(s);
  by_node_[node.id] = session.id;
  {
    std::lock_guard routes(route_mu_);
    routes_[node.id] = Route{session.id, channel};
  }
  spdlog::info("agent connected grid={} node={} node_id={} remote={} version={}", session.ref.grid_name, node.name,
               node.node_id, remote, header(upgrade, proto::kHeaderVersion));

  channel->send_text(proto::encode(proto::RpcNotification{std::string(proto::kMethodMasterInfo),
                                                          Json::array({{{"version", options_.master_version}}})}));
  if (grid) channel->send_text(proto::encode(proto::RpcNotification{std::string(proto::kMethodNodeInfo),
                                                                     Json::array({node_info(node, *grid)})}));
  auto listener = std::make_shared<Listener>(*this, session.id);
  // Calls pending on the replaced connection fail, outside the lock.
  lock.unlock();
  for (auto& [done, response] : failed) done(response);
  return listener;
}

Json AgentHub::node_info(const Node& node, const Grid& grid) { return node_info(node, grid, store_.nodes_of_grid(grid.id)); }

Json AgentHub::node_info(const Node& node, const Grid& grid, const std::vector<Node>& grid_nodes) {
  Json peers = Json::array();
  for (const auto& other : grid_nodes) {
    if (other.id == node.id || !other.connected) continue;
    if (other.info.contains("private_ip") && other.info["private_ip"].is_string() &&
        !other.info["private_ip"].get<std::string>().empty())
      peers.push_back(other.info["private_ip"]);
  }
  auto overlay = agents::overlay_ip(grid.subnet, node.node_number);
  return {{"id", grid.name + "/" + node.name},
          {"node_id", node.node_id},
          {"name", node.name},
          {"labels", node.labels},
          {"node_number", node.node_number},
          {"initial_member", node.node_number >= 1 && node.node_number <= grid.initial_size},
          {"overlay_ip", overlay.empty() ? Json(nullptr) : Json(overlay)},
          {"peer_ips", peers},
          {"availability", node.availability},
          {"grid",
           {{"id", grid.name},
            {"name", grid.name},
            {"initial_size", grid.initial_size},
            {"subnet", grid.subnet},
            {"supernet", grid.supernet},
            {"trusted_subnets", grid.trusted_subnets},
            {"stats", grid.stats},
            {"logs", grid.logs}}}};
}

// ------------------------------------------------------------------------------------ messages

void AgentHub::handle(const std::string& method, RequestHandler handler) {
  std::lock_guard lock(mu_);
  request_handlers_[method] = std::move(handler);
}

void AgentHub::on_notification(const std::string& method, NotificationHandler handler) {
  std::lock_guard lock(mu_);
  notification_handlers_[method] = std::move(handler);
}

void AgentHub::answer(std::uint64_t connection, const proto::RpcResponse& response) {
  std::shared_ptr<NodeChannel> channel;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(connection);
    if (it == sessions_.end()) return;
    channel = it->second.channel;
  }
  channel->send_text(proto::encode(response));
}

void AgentHub::on_text(std::uint64_t connection, std::string_view text) {
  AgentRef ref;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(connection);
    if (it == sessions_.end()) return;  // closed or replaced: nothing it says counts any more
    ref = it->second.ref;
  }
  proto::RpcMessage message;
  try {
    message = proto::parse_rpc(text);
  } catch (const std::exception& e) {
    spdlog::warn("malformed message from agent node={} error=\"{}\" bytes={}", ref.name, e.what(), text.size());
    // A request we can identify still gets an answer.
    auto doc = Json::parse(text.begin(), text.end(), nullptr, false);
    if (!doc.is_discarded() && doc.is_array() && doc.size() >= 2 && doc[0] == 0 && doc[1].is_number_integer())
      answer(connection, proto::rpc_error(doc[1].get<std::int64_t>(), 400, e.what()));
    return;
  }

  if (auto* request = std::get_if<proto::RpcRequest>(&message)) {
    RequestHandler handler;
    {
      std::lock_guard lock(mu_);
      if (auto it = request_handlers_.find(request->method); it != request_handlers_.end()) handler = it->second;
    }
    proto::RpcResponse response;
    if (!handler) {
      spdlog::debug("agent request not implemented node={} method={}", ref.name, request->method);
      response = proto::rpc_error(request->id, 501, "method " + request->method + " is not implemented");
    } else {
      try {
        response = proto::rpc_result(request->id, handler(ref, request->params));
      } catch (const Error& e) {
        int code = rpc_code(e.kind());
        if (code >= 500) spdlog::error("agent request failed node={} method={} error={}", ref.name, request->method, e.what());
        response = proto::rpc_error(request->id, code, e.what());
      } catch (const std::exception& e) {
        spdlog::error("agent request failed node={} method={} error={}", ref.name, request->method, e.what());
        response = proto::rpc_error(request->id, 500, std::string("failed: ") + e.what());
      }
    }
    answer(connection, response);
  } else if (auto* note = std::get_if<proto::RpcNotification>(&message)) {
    NotificationHandler handler;
    {
      std::lock_guard lock(mu_);
      if (auto it = notification_handlers_.find(note->method); it != notification_handlers_.end()) handler = it->second;
    }
    if (!handler) {
      spdlog::debug("agent notification ignored (no handler) node={} method={}", ref.name, note->method);
      return;
    }
    try {
      handler(ref, note->params);
    } catch (const std::exception& e) {
      spdlog::warn("agent notification failed node={} method={} error={}", ref.name, note->method, e.what());
    }
  } else {
    auto& response = std::get<proto::RpcResponse>(message);
    CallDone done;
    {
      std::lock_guard lock(route_mu_);
      auto it = pending_.find(response.id);
      if (it == pending_.end() || it->second.connection != connection) {
        spdlog::debug("agent response to no pending call node={} id={}", ref.name, response.id);
        return;
      }
      done = std::move(it->second.done);
      pending_.erase(it);
    }
    try {
      done(response);
    } catch (const std::exception& e) {
      spdlog::error("agent call callback failed node={} error={}", ref.name, e.what());
    }
  }
}

Json AgentHub::nodes_update(const AgentRef& ref, const Json& params) {
  if (!params.is_array() || params.empty() || !params[0].is_object())
    fail(ErrorKind::bad_request, "/nodes/update params must be [node_info] with node_info an object");
  const Json& in = params[0];
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  auto* session = current_session(ref.node);
  if (!session || session->id != ref.connection) fail(ErrorKind::unavailable, "this connection was replaced or closed");
  bool private_ip_changed = false, labels_changed = false;
  store_.transaction([&] {
    auto node = store_.node_by_id(ref.node);
    if (!node) fail(ErrorKind::not_found, "node " + ref.name + " no longer exists");
    auto copy = [&](const char* from, const char* to, bool number) {
      if (!in.contains(from)) return;
      const Json& v = in[from];
      if (number ? v.is_number() : v.is_string()) node->info[to] = v;
    };
    Json before = node->info.value("private_ip", Json());
    copy("ServerVersion", "docker_version", false);
    copy("OperatingSystem", "os", false);
    copy("KernelVersion", "kernel_version", false);
    copy("NCPU", "cpus", true);
    copy("MemTotal", "mem_total", true);
    copy("PublicIp", "public_ip", false);
    copy("PrivateIp", "private_ip", false);
    copy("AgentVersion", "agent_version", false);
    copy("Name", "hostname", false);
    copy("Driver", "storage_driver", false);
    // The agent's labels (--label / KONTENA_NODE_LABELS) for a node that has none yet.
    if (node->labels.empty() && in.contains("Labels") && in["Labels"].is_array()) {
      std::string joined;
      for (const auto& l : in["Labels"])
        if (l.is_string()) joined += l.get<std::string>() + ",";
      node->labels = agents::parse_labels(joined);
      labels_changed = !node->labels.empty();
    }
    node->info["updated_at"] = unix_ms(now);
    node->last_seen_at = unix_ms(now);
    private_ip_changed = node->info.value("private_ip", Json()) != before;
    store_.update_node(*node);
  });
  spdlog::debug("node info updated node={}", ref.name);
  if (labels_changed) send_node_info(*session);
  if (private_ip_changed) peers_changed_.insert(ref.grid);  // sent by the next tick()
  return Json::object();
}

void AgentHub::nodes_stats(const AgentRef& ref, const Json& params) {
  if (!params.is_array() || params.empty() || !params[0].is_object())
    fail(ErrorKind::bad_request, "/nodes/stats params must be [stats] with stats an object");
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  auto* session = current_session(ref.node);
  if (!session || session->id != ref.connection) return;
  store_.transaction([&] {
    auto node = store_.node_by_id(ref.node);
    if (!node) return;
    node->info["stats"] = params[0];
    node->info["stats_received_at"] = unix_ms(now);
    store_.update_node(*node);
  });
}

// ------------------------------------------------------------------------------------ master -> agent

bool AgentHub::notify(std::int64_t node, std::string_view method, Json params) {
  std::lock_guard lock(route_mu_);
  auto it = routes_.find(node);
  if (it == routes_.end()) return false;
  it->second.channel->send_text(proto::encode(proto::RpcNotification{std::string(method), std::move(params)}));
  return true;
}

void AgentHub::call(std::int64_t node, std::string method, Json params, milliseconds timeout, CallDone done) {
  const auto deadline = clock_.now() + timeout;
  std::unique_lock lock(route_mu_);
  auto it = routes_.find(node);
  if (it == routes_.end()) {
    lock.unlock();
    done(proto::rpc_error(0, 503, "node is not connected"));
    return;
  }
  std::int64_t id = ++next_call_id_;
  pending_[id] = Pending{it->second.connection, deadline, method, std::move(done)};
  it->second.channel->send_text(proto::encode(proto::RpcRequest{id, std::move(method), std::move(params)}));
}

std::future<proto::RpcResponse> AgentHub::call(std::int64_t node, std::string method, Json params, milliseconds timeout) {
  auto promise = std::make_shared<std::promise<proto::RpcResponse>>();
  auto future = promise->get_future();
  call(node, std::move(method), std::move(params), timeout,
       [promise](const proto::RpcResponse& r) { promise->set_value(r); });
  return future;
}

// ------------------------------------------------------------------------------------ liveness

void AgentHub::tick(system_clock::time_point now) {
  Completions completions;
  {
    std::lock_guard lock(mu_);
    std::vector<std::uint64_t> timed_out;
    for (auto& [id, s] : sessions_) {
      if (s.awaiting_pong) {
        if (now - s.ping_sent_at >= options_.ping_timeout) timed_out.push_back(id);
      } else if (now - s.last_ping_at >= options_.ping_interval) {
        s.awaiting_pong = true;
        s.ping_sent_at = s.last_ping_at = now;
        s.channel->ping(std::to_string(++s.ping_seq));
      }
    }
    for (auto id : timed_out) {
      auto& s = sessions_[id];
      spdlog::warn("agent ping timeout: node offline node={} grid={} timeout_ms={} remote={}", s.ref.name,
                   s.ref.grid_name, options_.ping_timeout.count(), s.channel->remote_address());
      drop_session(id, proto::kClosePingTimeout, "ping timeout", true, completions);
    }
    std::lock_guard routes(route_mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        completions.emplace_back(std::move(it->second.done),
                                 proto::rpc_error(it->first, 503, "timeout: the node did not answer " + it->second.method));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [done, response] : completions) {
    try {
      done(response);
    } catch (const std::exception& e) {
      spdlog::error("agent call callback failed error={}", e.what());
    }
  }
  flush_peer_updates();
}

void AgentHub::on_pong(std::uint64_t connection, std::string_view payload) {
  const auto now = clock_.now();
  Completions failed;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(connection);
    if (it == sessions_.end()) return;
    auto& s = it->second;
    if (!s.awaiting_pong || payload != std::to_string(s.ping_seq)) return;  // unsolicited or stale
    auto rtt = std::chrono::duration_cast<milliseconds>(now - s.ping_sent_at);
    if (rtt > options_.ping_timeout) {
      spdlog::warn("agent pong too late: node offline node={} grid={} rtt_ms={} timeout_ms={}", s.ref.name,
                   s.ref.grid_name, rtt.count(), options_.ping_timeout.count());
      drop_session(connection, proto::kClosePingTimeout, "ping timeout", true, failed);
    } else {
      s.awaiting_pong = false;
      if (rtt >= options_.slow_pong)
        spdlog::warn("slow pong from agent node={} grid={} rtt_ms={} threshold_ms={}", s.ref.name, s.ref.grid_name,
                     rtt.count(), options_.slow_pong.count());
      else
        spdlog::trace("pong node={} rtt_ms={}", s.ref.name, rtt.count());
      std::int64_t node_id = s.ref.node;
      try {
        store_.transaction([&] {
          auto node = store_.node_by_id(node_id);
          if (!node) return;
          node->last_seen_at = unix_ms(now);
          store_.update_node(*node);
        });
      } catch (const std::exception& e) {
        spdlog::error("last_seen_at not saved node={} error={}", s.ref.name, e.what());
      }
    }
  }
  for (auto& [done, response] : failed) done(response);
}

void AgentHub::on_closed(std::uint64_t connection, std::uint16_t code, std::string_view reason) {
  Completions failed;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(connection);
    if (it == sessions_.end()) return;  // we closed it (replaced, removed, timed out): already handled
    spdlog::info("agent disconnected: node offline node={} grid={} code={} reason=\"{}\"", it->second.ref.name,
                 it->second.ref.grid_name, code, reason);
    drop_session(connection, 0, {}, true, failed);
  }
  for (auto& [done, response] : failed) done(response);
}

AgentHub::Session* AgentHub::current_session(std::int64_t node) {
  auto it = by_node_.find(node);
  if (it == by_node_.end()) return nullptr;
  auto s = sessions_.find(it->second);
  return s == sessions_.end() ? nullptr : &s->second;
}

void AgentHub::drop_session(std::uint64_t connection, std::uint16_t close_code, const std::string& reason,
                            bool offline, Completions& failed) {
  auto it = sessions_.find(connection);
  if (it == sessions_.end()) return;
  Session s = std::move(it->second);
  sessions_.erase(it);
  if (auto b = by_node_.find(s.ref.node); b != by_node_.end() && b->second == connection) by_node_.erase(b);
  {
    std::lock_guard routes(route_mu_);
    if (auto r = routes_.find(s.ref.node); r != routes_.end() && r->second.connection == connection) routes_.erase(r);
    for (auto p = pending_.begin(); p != pending_.end();) {
      if (p->second.connection == connection) {
        failed.emplace_back(std::move(p->second.done),
                            proto::rpc_error(p->first, 503, "the node disconnected before answering " + p->second.method));
        p = pending_.erase(p);
      } else {
        ++p;
      }
    }
  }
  if (close_code) s.channel->close(close_code, reason);
  if (offline) mark_offline(s.ref.node);
}

void AgentHub::mark_offline(std::int64_t node_id) {
  try {
    store_.transaction([&] {
      auto node = store_.node_by_id(node_id);
      if (!node || !node->connected) return;
      node->connected = false;
      store_.update_node(*node);
    });
  } catch (const std::exception& e) {
    spdlog::error("node not marked offline node_id={} error={}", node_id, e.what());
  }
}

void AgentHub::send_node_info(const Session& session) {
  auto node = store_.node_by_id(session.ref.node);
  if (!node) return;
  auto grid = store_.grid_by_id(node->grid_id);
  if (!grid) return;
  session.channel->send_text(
      proto::encode(proto::RpcNotification{std::string(proto::kMethodNodeInfo), Json::array({node_info(*node, *grid)})}));
}

void AgentHub::flush_peer_updates() {
  std::lock_guard lock(mu_);
  if (peers_changed_.empty()) return;
  std::set<std::int64_t> grids_changed;
  grids_changed.swap(peers_changed_);
  try {
    for (std::int64_t grid_id : grids_changed) {
      const auto grid = store_.grid_by_id(grid_id);
      if (!grid) continue;
      const auto nodes = store_.nodes_of_grid(grid->id);
      for (const auto& node : nodes) {
        const auto* session = current_session(node.id);
        if (!session) continue;
        session->channel->send_text(proto::encode(proto::RpcNotification{
            std::string(proto::kMethodNodeInfo), Json::array({node_info(node, *grid, nodes)})}));
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("node_info to peers not sent error={}", e.what());
  }
}

bool AgentHub::connected(std::int64_t node) const {
  std::lock_guard lock(route_mu_);
  return routes_.count(node) > 0;
}

std::size_t AgentHub::connection_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

// ------------------------------------------------------------------------------------ NodeEvents

void AgentHub::node_removed(const Node& node) {
  Completions failed;
  {
    std::lock_guard lock(mu_);
    auto* s = current_session(node.id);
    if (!s) return;
    spdlog::info("node removed: closing its agent connection node={}", node.name);
    drop_session(s->id, proto::kCloseNodeRemoved, "node removed", false, failed);
  }
  for (auto& [done, response] : failed) done(response);
}

void AgentHub::reset_connection(const Node& node) {
  Completions failed;
  {
    std::lock_guard lock(mu_);
    auto* s = current_session(node.id);
    if (!s) return;
    spdlog::info("node connection reset: closing its agent connection node={}", node.name);
    drop_session(s->id, proto::kCloseDisconnected, "node connection reset", true, failed);
  }
  for (auto& [done, response] : failed) done(response);
}

void AgentHub::node_changed(const Node& node) {
  std::lock_guard lock(mu_);
  auto* s = current_session(node.id);
  if (!s) return;
  try {
    send_node_info(*s);
  } catch (const std::exception& e) {
    spdlog::error("node_info not sent node={} error={}", node.name, e.what());
  }
}

// ------------------------------------------------------------------------------------ timer

std::chrono::milliseconds AgentHub::tick_period() const {
  auto base = std::min(options_.ping_interval, options_.ping_timeout) / 10;
  return std::clamp(base, milliseconds(10), milliseconds(500));
}

void AgentHub::start() {
  std::lock_guard lock(timer_mu_);
  if (timer_.joinable()) return;
  timer_stop_ = false;
  timer_ = std::thread([this] {
    std::unique_lock lock(timer_mu_);
    while (!timer_stop_) {
      timer_cv_.wait_for(lock, tick_period(), [this] { return timer_stop_; });
      if (timer_stop_) break;
      lock.unlock();
      try {
        tick(clock_.now());
      } catch (const std::exception& e) {
        spdlog::error("agent hub tick failed error={}", e.what());
      }
      lock.lock();
    }
  });
}

void AgentHub::stop() {
  {
    std::lock_guard lock(timer_mu_);
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable() && timer_.get_id() != std::this_thread::get_id()) timer_.join();
}

}  // namespace kontena::master
