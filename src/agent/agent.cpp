#include "agent/agent.h"

#include <boost/beast/websocket/error.hpp>
#include <deque>
#include <random>

#include "agent/backoff.h"
#include "agent/blocking.h"
#include "agent/node_info.h"
#include "common/error.h"
#include "common/log.h"
#include "protocol/agent_protocol.h"

namespace kontena::agent {

namespace websocket = beast::websocket;
using SteadyClock = std::chrono::steady_clock;

std::string describe_close_code(std::uint16_t code) {
  switch (code) {
    case protocol::kCloseMissingHeader: return "the master says a handshake header is missing or malformed";
    case protocol::kCloseInvalidGridToken: return "the master rejected the grid token (check --grid-token / KONTENA_TOKEN)";
    case protocol::kCloseInvalidNodeToken: return "the master rejected the node token (check --node-token / KONTENA_NODE_TOKEN)";
    case protocol::kCloseNodeTokenUsed: return "the node token is already bound to another node id";
    case protocol::kCloseMissingToken: return "the master got no grid or node token";
    case protocol::kCloseGridTokenForTokenNode:
      return "this node was created with a node token: connect with --node-token / KONTENA_NODE_TOKEN, not the grid token";
    case protocol::kCloseNodeIdUsed: return "the node id belongs to another node of the grid (set --node-id / KONTENA_NODE_ID)";
    case protocol::kCloseBadVersion: return "the master does not accept this agent version";
    case protocol::kCloseClockSkew: return "the master says this node's clock is off (check NTP on the node)";
    case protocol::kClosePingTimeout: return "the master did not get pongs in time";
    case protocol::kCloseDisconnected: return "the master marked this node disconnected";
    case protocol::kCloseNodeRemoved: return "the master removed this node";
    case protocol::kCloseNewerConnection: return "another agent connected as this node";
    case 1000: return "the master closed the connection normally";
    case 1001: return "the master is going away (restart or shutdown)";
    case 1006: return "the connection was lost";
    case 1011: return "the master had an internal error";
    case 1012: return "the master is restarting";
    default: return "the master closed the connection";
  }
}

// --------------------------------------------------------------------------------------------
// One WebSocket session with the master.

struct SessionEnd {
  enum Kind { none, lost, closed_by_master, ping_timeout, stopped } kind = none;
  CloseStatus close;
  std::string error;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Agent& agent, std::unique_ptr<WsConnection> conn)
      : agent_(agent),
        conn_(std::move(conn)),
        outbox_signal_(agent.loop_),
        ping_timer_(agent.loop_),
        update_timer_(agent.loop_),
        close_timer_(agent.loop_),
        done_(agent.loop_),
        last_inbound_(SteadyClock::now()),
        rng_(std::random_device{}()) {}

  asio::awaitable<SessionEnd> run() {
    conn_->set_control_callback([this] { last_inbound_ = SteadyClock::now(); });
    spawn(reader());
    spawn(writer());
    spawn(pinger());
    spawn(updater());
    while (running_ > 0) {
      done_.expires_at(SteadyClock::time_point::max());
      beast::error_code ec;
      co_await done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    conn_->set_control_callback(nullptr);
    co_return end_;
  }

  // stop(): close 1000 after what is queued; bounded by the close handshake timeout.
  void close_gracefully() {
    if (closing_) return;
    set_end(SessionEnd::stopped);
    outbox_.push_back(Outgoing{Outgoing::close, "agent shutting down", 1000});
    outbox_signal_.cancel();
    // The close handshake is bounded; so is the wait for what is queued before it.
    close_timer_.expires_after(agent_.options_.connect_timeout);
    close_timer_.async_wait([weak = weak_from_this()](const beast::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) self->shutdown();
    });
  }

  // Drops the connection now; run() returns once every task has ended.
  void shutdown() {
    if (closing_) return;
    closing_ = true;
    conn_->abort();
    outbox_signal_.cancel();
    ping_timer_.cancel();
    update_timer_.cancel();
    close_timer_.cancel();
    for (auto& [id, pending] : pending_) pending->timer.cancel();
  }

  void send(std::string text) {
    if (closing_) return;
    outbox_.push_back(Outgoing{Outgoing::text, std::move(text), 0});
    outbox_signal_.cancel();
  }

  asio::awaitable<protocol::RpcResponse> request(std::string method, Json params) {
    auto self = shared_from_this();
    std::int64_t id = 0;
    do id = std::uniform_int_distribution<std::int64_t>(1, (std::int64_t{1} << 31) - 1)(rng_);
    while (pending_.count(id));
    auto pending = std::make_shared<Pending>(agent_.loop_);
    pending_[id] = pending;
    protocol::RpcRequest req{id, method, std::move(params)};
    send(protocol::encode(req));
    pending->timer.expires_after(agent_.options_.request_timeout);
    beast::error_code ec;
    if (!closing_) co_await pending->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    pending_.erase(id);
    if (pending->response) co_return std::move(*pending->response);
    if (closing_) co_return protocol::rpc_error(id, 503, "the connection to the master closed before it answered " + method);
    co_return protocol::rpc_error(id, 504, "the master did not answer " + method + " within " +
                                               format_duration(agent_.options_.request_timeout));
  }

 private:
  struct Outgoing {
    enum Kind { text, ping, close } kind;
    std::string data;
    std::uint16_t code;
  };
  struct Pending {
    explicit Pending(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    std::optional<protocol::RpcResponse> response;
  };

  void set_end(SessionEnd::Kind kind, std::string error = {}) {
    if (end_.kind != SessionEnd::none) return;
    end_.kind = kind;
    end_.error = std::move(error);
  }

  void spawn(asio::awaitable<void> task) {
    ++running_;
    asio::co_spawn(agent_.loop_, std::move(task), [self = shared_from_this()](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          self->set_end(SessionEnd::lost, std::string("internal error: ") + ex.what());
          spdlog::error("session task failed error={}", ex.what());
        }
      }
      self->shutdown();
      --self->running_;
      self->done_.cancel();
    });
  }

  asio::awaitable<void> reader() {
    while (!closing_) {
      beast::error_code ec;
      std::string text = co_await conn_->read(ec);
      if (ec) {
        if (ec == websocket::error::closed) {
          end_.close = conn_->close_status();
          set_end(SessionEnd::closed_by_master);
        } else if (!closing_) {
          set_end(SessionEnd::lost, ec.message());
        }
        co_return;
      }
      last_inbound_ = SteadyClock::now();
      dispatch(text);
    }
  }

  asio::awaitable<void> writer() {
    while (true) {
      while (outbox_.empty() && !closing_) {
        outbox_signal_.expires_at(SteadyClock::time_point::max());
        beast::error_code ignored;
        co_await outbox_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      if (closing_) co_return;
      Outgoing item = std::move(outbox_.front());
      outbox_.pop_front();
      beast::error_code ec;
      switch (item.kind) {
        case Outgoing::text: co_await conn_->write(item.data, ec); break;
        case Outgoing::ping: co_await conn_->ping(ec); break;
        case Outgoing::close:
          co_await conn_->close(item.code, item.data, ec);
          spdlog::debug("websocket closed code={} error={}", item.code, ec ? ec.message() : "none");
          co_return;  // -> shutdown()
      }
      if (ec) {
        if (!closing_) set_end(SessionEnd::lost, ec.message());
        co_return;
      }
    }
  }

  asio::awaitable<void> pinger() {
    const auto& o = agent_.options_;
    beast::error_code ec;
    while (!closing_) {
      ping_timer_.expires_after(o.ping_interval);
      co_await ping_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (closing_) co_return;
      auto sent = SteadyClock::now();
      outbox_.push_back(Outgoing{Outgoing::ping, {}, 0});
      outbox_signal_.cancel();
      ping_timer_.expires_after(o.ping_timeout);
      co_await ping_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (closing_) co_return;
      if (last_inbound_ < sent) {
        // A pong (or close frame) may already be here, its completion queued behind this timer's
        // (e.g. after the process was stopped and resumed): give the reader a moment first.
        ping_timer_.expires_after(std::min(Millis(50), std::max(Millis(1), o.ping_timeout / 4)));
        co_await ping_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (closing_) co_return;
      }
      if (last_inbound_ < sent) {
        spdlog::warn("the master did not answer a ping in time, reconnecting timeout={}", format_duration(o.ping_timeout));
        set_end(SessionEnd::ping_timeout);
        co_return;  // -> shutdown()
      }
    }
  }

  asio::awaitable<void> updater() {
    co_await send_node_update();
    while (!closing_) {
      update_timer_.expires_after(agent_.options_.update_interval);
      beast::error_code ec;
      co_await update_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (closing_) co_return;
      co_await send_node_update();
      if (closing_) co_return;
      co_await send_stats();
    }
  }

  asio::awaitable<void> send_node_update() {
    Json info = co_await agent_.fetch_docker_info();
    if (closing_) co_return;
    AddressOptions ao{agent_.options_.public_ip, agent_.options_.private_ip, agent_.options_.peer_interface};
    NodeAddresses addresses = resolve_addresses(ao, agent_.options_.proc_root);
    std::string logged = addresses.private_ip + " " + addresses.public_ip;
    if (logged != agent_.logged_addresses_) {
      spdlog::info("node addresses private_ip={} public_ip={} source=\"{}\"", addresses.private_ip, addresses.public_ip,
                   addresses.source);
      agent_.logged_addresses_ = logged;
    }
    const std::string version = KONTENA_VERSION;
    Json params = Json::array();
    params.push_back(build_node_info(info, addresses, agent_.options_.labels, version));
    std::string method(protocol::kMethodNodesUpdate);
    auto response = co_await request(std::move(method), std::move(params));
    if (closing_) co_return;
    if (!response.ok()) {
      spdlog::warn("the master did not accept the node update code={} message=\"{}\"", response.error.value("code", 0),
                   response.error.value("message", std::string()));
    } else if (!registered_) {
      registered_ = true;
      spdlog::info("node registered with the master node_id={} name={}", agent_.options_.node_id, agent_.options_.node_name);
    } else {
      spdlog::debug("node update sent");
    }
  }

  asio::awaitable<void> send_stats() {
    auto source = agent_.stats_source_;
    Json info = agent_.docker_info_;
    std::int64_t now = agent_.clock_.now_unix_ms();
    auto collect = [source, info, now] { return source(info, now); };
    auto stats = co_await run_blocking(agent_.blocking_, std::move(collect));
    if (!stats.ok()) {
      spdlog::warn("cannot collect host stats error=\"{}\"", stats.error_message());
      co_return;
    }
    if (closing_) co_return;
    Json params = Json::array();
    params.push_back(std::move(stats.value));
    send(protocol::encode(protocol::RpcNotification{std::string(protocol::kMethodNodesStats), std::move(params)}));
  }

  void dispatch(const std::string& text) {
    protocol::RpcMessage message;
    try {
      message = protocol::parse_rpc(text);
    } catch (const std::exception& e) {
      spdlog::warn("ignoring a message from the master that is not RPC error=\"{}\"", e.what());
      return;
    }
    if (auto* req = std::get_if<protocol::RpcRequest>(&message)) {
      handle_request(std::move(*req));
    } else if (auto* res = std::get_if<protocol::RpcResponse>(&message)) {
      auto it = pending_.find(res->id);
      if (it == pending_.end()) {
        spdlog::debug("ignoring a response to no pending request id={}", res->id);
        return;
      }
      it->second->response = std::move(*res);
      it->second->timer.cancel();
    } else if (auto* note = std::get_if<protocol::RpcNotification>(&message)) {
      auto it = agent_.notification_handlers_.find(note->method);
      if (it == agent_.notification_handlers_.end()) {
        spdlog::debug("ignoring a notification the agent does not handle method={}", note->method);
        return;
      }
      for (const auto& handler : it->second) {
        try {
          handler(note->params);
        } catch (const std::exception& e) {
          spdlog::warn("handling a notification failed method={} error=\"{}\"", note->method, e.what());
        }
      }
    }
  }

  // The handler runs as its own coroutine; its result or exception becomes the response. The
  // completion handler holds the session until the answer is queued.
  void handle_request(protocol::RpcRequest req) {
    auto it = agent_.request_handlers_.find(req.method);
    if (it == agent_.request_handlers_.end()) {
      spdlog::debug("the master called a method the agent does not implement method={}", req.method);
      send(protocol::encode(protocol::rpc_error(req.id, 501, "method not implemented by the agent: " + req.method)));
      return;
    }
    asio::co_spawn(agent_.loop_, it->second(req.params),
                   [self = shared_from_this(), id = req.id, method = req.method](std::exception_ptr e, Json result) {
                     protocol::RpcResponse response;
                     if (!e) {
                       response = protocol::rpc_result(id, std::move(result));
                     } else {
                       try {
                         std::rethrow_exception(e);
                       } catch (const Error& error) {
                         response = protocol::rpc_error(id, http_status(error.kind()), error.what());
                       } catch (const std::exception& error) {
                         spdlog::warn("a master request failed method={} error=\"{}\"", method, error.what());
                         response = protocol::rpc_error(id, 500, error.what());
                       } catch (...) {
                         response = protocol::rpc_error(id, 500, "unknown error");
                       }
                     }
                     self->send(protocol::encode(response));
                   });
  }

  Agent& agent_;
  std::unique_ptr<WsConnection> conn_;
  std::deque<Outgoing> outbox_;
  asio::steady_timer outbox_signal_;
  asio::steady_timer ping_timer_;
  asio::steady_timer update_timer_;
  asio::steady_timer close_timer_;
  asio::steady_timer done_;
  SteadyClock::time_point last_inbound_;
  std::map<std::int64_t, std::shared_ptr<Pending>> pending_;
  std::mt19937_64 rng_;
  SessionEnd end_;
  int running_ = 0;
  bool closing_ = false;
  bool registered_ = false;
};

// --------------------------------------------------------------------------------------------

Agent::Agent(asio::any_io_executor loop, asio::any_io_executor blocking, AgentOptions options,
             std::shared_ptr<docker::DockerClient> docker, const Clock& clock, std::unique_ptr<Dialer> dialer)
    : loop_(std::move(loop)),
      blocking_(std::move(blocking)),
      options_(std::move(options)),
      url_(parse_master_url(options_.master_url)),
      docker_(std::move(docker)),
      clock_(clock),
      dialer_(std::move(dialer)),
      retry_timer_(loop_),
      stats_collector_(std::make_shared<HostStatsCollector>(options_.proc_root)) {
  if (!dialer_) dialer_ = make_dialer(loop_, options_.tls);
  stats_source_ = [collector = stats_collector_](const Json& info, std::int64_t now) { return collector->collect(info, now); };
  register_builtin_handlers();
}

Agent::~Agent() = default;

void Agent::register_builtin_handlers() {
  on_request(std::string(protocol::kMethodAgentPing), [this](Json) -> asio::awaitable<Json> {
    co_return Json{{"time", format_time_ms(clock_.now_unix_ms())}};
  });
  on_notification(std::string(protocol::kMethodMasterInfo), [this](const Json& params) {
    Json info = params.is_array() && !params.empty() ? params[0] : Json::object();
    master_state_.master_info = info;
    spdlog::info("master info received version={}", info.is_object() ? info.value("version", std::string("?")) : "?");
  });
  on_notification(std::string(protocol::kMethodNodeInfo), [this](const Json& params) {
    Json info = params.is_array() && !params.empty() ? params[0] : Json::object();
    if (!info.is_object()) {
      spdlog::warn("ignoring node info that is not an object");
      return;
    }
    master_state_.node_info = info;
    master_state_.node_name = info.value("name", std::string());
    master_state_.node_number = info.contains("node_number") && info["node_number"].is_number_integer()
                                    ? info["node_number"].get<int>()
                                    : 0;
    master_state_.initial_member = info.contains("initial_member") && info["initial_member"].is_boolean()
                                       ? info["initial_member"].get<bool>()
                                       : false;
    master_state_.grid = info.contains("grid") && info["grid"].is_object() ? info["grid"] : Json::object();
    spdlog::info("node info received name={} node_number={} initial_member={} grid={} overlay_ip={}",
                 master_state_.node_name, master_state_.node_number, master_state_.initial_member,
                 master_state_.grid.value("name", std::string()),
                 info.contains("overlay_ip") && info["overlay_ip"].is_string() ? info["overlay_ip"].get<std::string>() : "");
  });
}

void Agent::on_request(std::string method, RequestHandler handler) { request_handlers_[std::move(method)] = std::move(handler); }

void Agent::on_notification(std::string method, NotificationHandler handler) {
  notification_handlers_[std::move(method)].push_back(std::move(handler));
}

void Agent::set_stats_source(StatsSource source) { stats_source_ = std::move(source); }

void Agent::on_session_open(std::function<void()> handler) { session_open_handlers_.push_back(std::move(handler)); }

asio::awaitable<protocol::RpcResponse> Agent::request(std::string method, Json params) {
  if (!session_) co_return protocol::rpc_error(0, 503, "not connected to the master");
  auto session = session_;
  co_return co_await session->request(std::move(method), std::move(params));
}

void Agent::notify(std::string method, Json params) {
  if (!session_) return;
  session_->send(protocol::encode(protocol::RpcNotification{std::move(method), std::move(params)}));
}

void Agent::stop() {
  if (stopping_) {
    if (session_) session_->shutdown();
    return;
  }
  spdlog::info("stopping the agent");
  stopping_ = true;
  retry_timer_.cancel();
  dialer_->cancel();
  if (session_) session_->close_gracefully();
}

asio::awaitable<void> Agent::sleep(Millis delay) {
  retry_timer_.expires_after(delay);
  beast::error_code ec;
  co_await retry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<Json> Agent::fetch_docker_info() {
  auto call = [docker = docker_] { return docker->info(); };
  auto info = co_await run_blocking(blocking_, std::move(call));
  if (!info.ok())
    spdlog::warn("cannot read docker info, using the last known one socket={} error=\"{}\"", options_.docker_socket,
                 info.error_message());
  else if (info.value.is_object())
    docker_info_ = std::move(info.value);
  co_return docker_info_;
}

asio::awaitable<bool> Agent::wait_for_docker() {
  Backoff backoff(options_.backoff_base, options_.backoff_max);
  while (!stopping_) {
    auto call = [docker = docker_] { return docker->info(); };
    auto result = co_await run_blocking(blocking_, std::move(call));
    std::string error = result.error_message();
    Json& info = result.value;
    if (error.empty() && !info.is_object()) error = "docker info is not a JSON object";
    std::string id = error.empty() ? info.value("ID", std::string()) : std::string();
    std::string name = error.empty() ? info.value("Name", std::string()) : std::string();
    if (error.empty() && options_.node_id.empty() && id.empty())
      error = "docker info has no ID (set --node-id / KONTENA_NODE_ID)";
    if (error.empty() && options_.node_name.empty() && name.empty())
      error = "docker info has no Name (set --node-name / KONTENA_NODE_NAME)";
    if (error.empty()) {
      if (options_.node_id.empty()) options_.node_id = id;
      if (options_.node_name.empty()) options_.node_name = name;
      docker_info_ = std::move(info);
      spdlog::info("docker engine ready socket={} engine_id={} version={} node_id={} node_name={}", options_.docker_socket,
                   id, docker_info_.value("ServerVersion", std::string("?")), options_.node_id, options_.node_name);
      co_return true;
    }
    if (stopping_) break;
    auto delay = backoff.next();
    spdlog::warn("the docker engine is not reachable, retrying socket={} retry_in={} error=\"{}\"", options_.docker_socket,
                 format_duration(delay), error);
    co_await sleep(delay);
  }
  co_return false;
}

asio::awaitable<int> Agent::run() {
  if (!co_await wait_for_docker()) co_return kExitOk;
  const std::string version = KONTENA_VERSION;
  NodeIdentity identity{options_.grid_token, options_.node_token, options_.node_id, options_.node_name, options_.labels,
                        version};
  Backoff backoff(options_.backoff_base, options_.backoff_max);
  while (!stopping_) {
    Headers headers = build_handshake_headers(identity, clock_.now_unix_ms());
    spdlog::debug("connecting to the master url={}", url_.to_string());
    DialResult dialed = co_await dialer_->dial(url_, headers, options_.connect_timeout);
    std::unique_ptr<WsConnection> conn = std::move(dialed.connection);
    const std::string& error = dialed.error;
    if (stopping_) {
      if (conn) {
        beast::error_code ec;
        const std::string reason = "agent shutting down";
        co_await conn->close(1000, reason, ec);
      }
      break;
    }
    if (conn) {
      ++sessions_opened_;
      spdlog::info("connected to the master url={} master_version={} node_id={} node_name={}", url_.to_string(),
                   conn->peer_version().empty() ? "?" : conn->peer_version(), options_.node_id, options_.node_name);
      session_ = std::make_shared<Session>(*this, std::move(conn));
      for (const auto& handler : session_open_handlers_) asio::post(loop_, handler);
      auto started = SteadyClock::now();
      SessionEnd end = co_await session_->run();
      session_.reset();
      auto up_for = SteadyClock::now() - started;
      if (end.kind == SessionEnd::stopped || stopping_) break;
      if (end.kind == SessionEnd::closed_by_master) {
        std::uint16_t code = end.close.code;
        if (protocol::agent_must_stop(code)) {
          spdlog::error("{} ({}): stopping{}", describe_close_code(code), code,
                        end.close.reason.empty() ? "" : " reason=\"" + end.close.reason + "\"");
          co_return kExitStoppedByMaster;
        }
        spdlog::warn("{} ({}), reconnecting reason=\"{}\"", describe_close_code(code), code, end.close.reason);
      } else if (end.kind == SessionEnd::lost) {
        spdlog::warn("the connection to the master was lost, reconnecting error=\"{}\"", end.error);
      }
      if (up_for >= options_.stable_after) backoff.reset();
    } else {
      spdlog::warn("cannot connect to the master error=\"{}\"", error);
    }
    auto delay = backoff.next();
    spdlog::info("reconnecting to the master retry_in={} attempt={}", format_duration(delay), backoff.attempt());
    co_await sleep(delay);
  }
  spdlog::info("agent stopped");
  co_return kExitOk;
}

}  // namespace kontena::agent
