// The agent hub (DESIGN §3, reference §4): admits agent WebSockets (handshake headers, tokens,
// close codes 4000-4041), keeps one live connection per node, serves the agents' RPC requests and
// notifications, sends the master's own (/agent/master_info, /agent/node_info, calls), and keeps
// liveness with WebSocket pings: a node whose pong does not come within ping_timeout, or whose
// socket closes, goes offline.
//
// Time comes from a Clock; tick(now) does the periodic work (pings, their timeouts, call timeouts),
// so unit tests drive the hub with a ManualClock and fake NodeChannels. start() runs tick() on a
// thread of its own for the real server.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "master/agents/node_channel.h"
#include "master/api/node_events.h"
#include "master/http/message.h"
#include "master/store/store.h"
#include "protocol/rpc.h"

namespace kontena::master {

struct AgentHubOptions {
  std::chrono::milliseconds ping_interval{std::chrono::seconds(30)};  // KONTENA_PING_INTERVAL
  std::chrono::milliseconds ping_timeout{std::chrono::seconds(5)};    // WEBSOCKET_TIMEOUT
  std::chrono::milliseconds clock_skew{std::chrono::seconds(1)};      // KONTENA_CLOCK_SKEW
  // A pong later than this is logged as a warning; 0 = half of ping_timeout.
  std::chrono::milliseconds slow_pong{0};
  std::string master_version = KONTENA_VERSION;
};

// The agent on the other end of a request or notification.
struct AgentRef {
  std::uint64_t connection = 0;  // hub-local id of the socket
  std::int64_t node = 0;         // Node::id
  std::int64_t grid = 0;         // Grid::id
  std::string grid_name;
  std::string name;              // node name
  std::string node_id;           // the agent's Docker engine ID
};

class AgentHub final : public NodeEvents {
 public:
  using Json = nlohmann::json;
  // Returns the result; throws kontena::Error to answer an error (invalid/bad_request -> 400,
  // not_found -> 404, unavailable -> 503, others -> 500).
  using RequestHandler = std::function<Json(const AgentRef&, const Json& params)>;
  using NotificationHandler = std::function<void(const AgentRef&, const Json& params)>;
  using CallDone = std::function<void(const protocol::RpcResponse&)>;

  AgentHub(Store& store, const Clock& clock, AgentHubOptions options = {});
  ~AgentHub() override;
  AgentHub(const AgentHub&) = delete;
  AgentHub& operator=(const AgentHub&) = delete;

  const AgentHubOptions& options() const { return options_; }

  // At master start: no socket survives a restart, so every node is disconnected.
  void mark_all_disconnected();

  // The methods below that touch the store (open, tick, NodeEvents, ...) must not be called from
  // inside a store transaction.
  // The HttpServer's WebSocket handler: validates the handshake (closing the channel with the
  // protocol's close code when it fails: nothing changes in the store then), binds or creates the
  // node, marks it connected, sends /agent/master_info and /agent/node_info. Returns the channel's
  // listener, or nullptr when rejected.
  std::shared_ptr<ChannelListener> open(const HttpRequest& upgrade, std::shared_ptr<NodeChannel> channel);

  // Handlers of agent requests and notifications, by method. /nodes/update and /nodes/stats are
  // built in; register others before the server starts. Handlers run outside the hub's lock on the
  // connection's thread.
  void handle(const std::string& method, RequestHandler handler);
  void on_notification(const std::string& method, NotificationHandler handler);

  // Master -> agent; safe from any thread, also inside a store transaction. notify returns false
  // when the node has no connection.
  bool notify(std::int64_t node, std::string_view method, Json params);
  // done gets the agent's response, or error 503 when the node is not connected, disconnects
  // before answering or does not answer within timeout. done may run on any thread, never inside
  // the call to call() itself except when the node is not connected.
  void call(std::int64_t node, std::string method, Json params, std::chrono::milliseconds timeout, CallDone done) override;
  std::future<protocol::RpcResponse> call(std::int64_t node, std::string method, Json params,
                                          std::chrono::milliseconds timeout);

  // Periodic work at `now`: pings due, pongs overdue (close 4030, offline), calls overdue.
  void tick(std::chrono::system_clock::time_point now);
  // Runs tick(clock.now()) every tick_period() on a thread of its own until stop().
  void start();
  void stop();
  std::chrono::milliseconds tick_period() const;

  bool connected(std::int64_t node) const;
  std::size_t connection_count() const;

  // NodeEvents (from the REST API)
  void node_removed(const Node& node) override;       // close 4040
  void node_changed(const Node& node) override;       // re-send /agent/node_info
  void reset_connection(const Node& node) override;   // close 4031, offline

  // The /agent/node_info payload of a node.
  Json node_info(const Node& node, const Grid& grid);

 private:
  class Listener;
  struct Session {
    std::uint64_t id = 0;
    std::shared_ptr<NodeChannel> channel;
    AgentRef ref;
    std::chrono::system_clock::time_point opened_at, last_ping_at, ping_sent_at;
    bool awaiting_pong = false;
    std::uint64_t ping_seq = 0;
  };
  struct Pending {
    std::uint64_t connection = 0;
    std::chrono::system_clock::time_point deadline;
    std::string method;
    CallDone done;
  };
  struct Rejected {
    std::uint16_t code;
    std::string reason;
  };
  using Completions = std::vector<std::pair<CallDone, protocol::RpcResponse>>;

  // Listener events.
  void on_text(std::uint64_t connection, std::string_view text);
  void on_pong(std::uint64_t connection, std::string_view payload);
  void on_closed(std::uint64_t connection, std::uint16_t code, std::string_view reason);

  Node admit(const HttpRequest& upgrade, std::chrono::system_clock::time_point now);  // throws Rejected
  Json nodes_update(const AgentRef& ref, const Json& params);
  void nodes_stats(const AgentRef& ref, const Json& params);
  void answer(std::uint64_t connection, const protocol::RpcResponse& response);

  // With mu_ held.
  Session* current_session(std::int64_t node);
  void drop_session(std::uint64_t connection, std::uint16_t close_code, const std::string& reason, bool mark_offline,
                    Completions& failed);
  void mark_offline(std::int64_t node);
  void send_node_info(const Session& session);
  // The /agent/node_info payload from one read of the grid's nodes (peers = the others' private IPs).
  Json node_info(const Node& node, const Grid& grid, const std::vector<Node>& grid_nodes);
  // From tick(): one /agent/node_info to every connected node of each grid whose peer addresses
  // changed since the last tick. Coalesced so that N agents joining a grid cost O(N) node list reads
  // per tick, not O(N) per join (which made joins slow down with the cube of the grid size).
  void flush_peer_updates();

  struct Route {
    std::uint64_t connection = 0;
    std::shared_ptr<NodeChannel> channel;
  };

  Store& store_;
  const Clock& clock_;
  AgentHubOptions options_;

  // Lock order: mu_, then route_mu_. The store is used under mu_ only, never under route_mu_, so
  // notify() and call() (route_mu_ only) are safe anywhere, even inside a store transaction.
  mutable std::mutex mu_;
  std::map<std::uint64_t, Session> sessions_;
  std::map<std::int64_t, std::uint64_t> by_node_;
  std::map<std::string, RequestHandler, std::less<>> request_handlers_;
  std::map<std::string, NotificationHandler, std::less<>> notification_handlers_;
  std::uint64_t next_connection_ = 0;
  std::set<std::int64_t> peers_changed_;  // grids whose nodes must hear of new peer addresses

  mutable std::mutex route_mu_;
  std::map<std::int64_t, Route> routes_;  // node -> its current connection
  std::map<std::int64_t, Pending> pending_;
  std::int64_t next_call_id_ = 0;

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;
  std::thread timer_;
};

}  // namespace kontena::master
