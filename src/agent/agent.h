// The agent's session logic: waits for the Docker Engine, keeps one WebSocket session with the
// master (handshake headers, /nodes/update + /nodes/stats, RPC dispatch, ping/pong liveness) and
// reconnects with backoff until stopped or told to stop by a close code (agent_must_stop()).
//
// Seams (DESIGN §2.4): the DockerClient (blocking; called on the `blocking` executor), the Clock
// (timestamps), the Dialer (how the WebSocket is opened) and the stats source. Everything else
// runs on one event loop (`loop`); none of it is thread-safe.
//
// Later issues plug in through on_request()/on_notification() and request()/notify().
#pragma once
#include "common/asio.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/connection/master_url.h"
#include "agent/connection/websocket.h"
#include "agent/docker/docker_client.h"
#include "agent/host_stats.h"
#include "agent/options.h"
#include "common/clock.h"
#include "protocol/rpc.h"

namespace kontena::agent {

using Json = nlohmann::json;

// Process exit statuses of kontena-agent.
inline constexpr int kExitOk = 0;            // stopped by SIGTERM/SIGINT
inline constexpr int kExitUsage = 2;         // bad flags / environment (no token, bad URL)
inline constexpr int kExitStoppedByMaster = 3;  // a close code for which the agent must stop

// What the master told this node; later issues (overlay, etcd, reconcile) read it.
struct MasterState {
  Json master_info = Json::object();  // /agent/master_info: {"version"}
  Json node_info = Json::object();    // /agent/node_info, whole
  std::string node_name;              // the name the master gave the node (may carry a -N suffix)
  int node_number = 0;
  bool initial_member = false;
  Json grid = Json::object();         // node_info.grid
};

// A human explanation of a close code ("the master removed this node"), for log lines.
std::string describe_close_code(std::uint16_t code);

// Takes params by value: the handler coroutine starts later than the call that creates it.
using RequestHandler = std::function<asio::awaitable<Json>(Json params)>;
using NotificationHandler = std::function<void(const Json& params)>;
// Returns the /nodes/stats object; called on the blocking executor.
using StatsSource = std::function<Json(const Json& docker_info, std::int64_t now_unix_ms)>;

class Session;

class Agent {
 public:
  // options.master_url must parse (parse_master_url) and a token must be set: main() checks both
  // first. dialer = nullptr: the real one (make_dialer with options.tls).
  Agent(asio::any_io_executor loop, asio::any_io_executor blocking, AgentOptions options,
        std::shared_ptr<docker::DockerClient> docker, const Clock& clock, std::unique_ptr<Dialer> dialer = nullptr);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs until stop() (returns kExitOk) or a close code for which the agent must stop (returns
  // kExitStoppedByMaster). Call once.
  asio::awaitable<int> run();
  // Graceful stop: closes the WebSocket with 1000 and makes run() return kExitOk. A second call
  // drops the connection without waiting for the close handshake.
  void stop();

  // --- extension points (register before run())
  void on_request(std::string method, RequestHandler handler);
  void on_notification(std::string method, NotificationHandler handler);
  void set_stats_source(StatsSource source);
  // Called (posted to the loop) each time a session with the master opens.
  void on_session_open(std::function<void()> handler);
  // Agent -> master RPC on the current session; an error response (503) when not connected or
  // when the session ends first, 504 when the master does not answer within request_timeout.
  asio::awaitable<protocol::RpcResponse> request(std::string method, Json params);
  // Fire and forget; dropped when not connected.
  void notify(std::string method, Json params);

  // --- state (for later issues and tests)
  const MasterState& master_state() const { return master_state_; }
  const std::string& node_id() const { return options_.node_id; }
  const std::string& node_name() const { return options_.node_name; }
  const Json& docker_info() const { return docker_info_; }
  bool connected() const { return session_ != nullptr; }
  int sessions_opened() const { return sessions_opened_; }
  const AgentOptions& options() const { return options_; }

 private:
  friend class Session;

  asio::awaitable<bool> wait_for_docker();
  asio::awaitable<void> sleep(Millis delay);
  asio::awaitable<Json> fetch_docker_info();
  void register_builtin_handlers();

  asio::any_io_executor loop_;
  asio::any_io_executor blocking_;
  AgentOptions options_;
  MasterUrl url_;
  std::shared_ptr<docker::DockerClient> docker_;
  const Clock& clock_;
  std::unique_ptr<Dialer> dialer_;
  asio::steady_timer retry_timer_;
  std::map<std::string, RequestHandler> request_handlers_;
  std::map<std::string, std::vector<NotificationHandler>> notification_handlers_;
  StatsSource stats_source_;
  std::vector<std::function<void()>> session_open_handlers_;
  std::shared_ptr<HostStatsCollector> stats_collector_;
  std::shared_ptr<Session> session_;
  MasterState master_state_;
  Json docker_info_ = Json::object();
  std::string logged_addresses_;  // the addresses last logged ("private public")
  bool stopping_ = false;
  int sessions_opened_ = 0;
};

}  // namespace kontena::agent
