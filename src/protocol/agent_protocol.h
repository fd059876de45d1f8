// The agent <-> master WebSocket contract (DESIGN §3, reference §4): handshake headers, close
// codes, RPC method names and the shapes of the payloads both sides exchange.
#pragma once
#include <cstdint>
#include <string_view>

namespace kontena::protocol {

// The agent opens the WebSocket on this path of the master URL (ws://, wss://, http:// or https://).
inline constexpr std::string_view kAgentPath = "/";

// --- handshake headers (request; the master answers with kHeaderVersion and kHeaderConnectedAt)
inline constexpr std::string_view kHeaderGridToken = "Kontena-Grid-Token";
inline constexpr std::string_view kHeaderNodeToken = "Kontena-Node-Token";
inline constexpr std::string_view kHeaderNodeId = "Kontena-Node-Id";        // Docker engine ID
inline constexpr std::string_view kHeaderNodeName = "Kontena-Node-Name";    // hostname by default
inline constexpr std::string_view kHeaderVersion = "Kontena-Version";       // agent (or master) version
inline constexpr std::string_view kHeaderNodeLabels = "Kontena-Node-Labels";  // comma separated k=v
inline constexpr std::string_view kHeaderConnectedAt = "Kontena-Connected-At";  // "%F %T.%3NZ" UTC

// --- close codes. The agent stops (exits non-zero) on the codes for which agent_must_stop() is true;
// on the others it reconnects with backoff.
enum CloseCode : std::uint16_t {
  kCloseMissingHeader = 4000,        // a required header is missing or malformed
  kCloseInvalidGridToken = 4001,     // agent stops
  kCloseInvalidNodeToken = 4002,     // agent stops
  kCloseNodeTokenUsed = 4003,        // node token already bound to another node id; agent stops
  kCloseMissingToken = 4004,         // neither grid nor node token; agent stops
  kCloseGridTokenForTokenNode = 4005,  // node was pre-created with a node token; agent stops
  kCloseNodeIdUsed = 4006,           // node id belongs to another node of the grid; agent stops
  kCloseBadVersion = 4010,           // agent version incompatible with the master; agent stops
  kCloseClockSkew = 4020,            // Kontena-Connected-At too far from the master's clock
  kClosePingTimeout = 4030,          // the agent did not answer pings in time
  kCloseDisconnected = 4031,         // node marked disconnected by the master (e.g. token reset)
  kCloseNodeRemoved = 4040,          // node removed from the grid; agent stops
  kCloseNewerConnection = 4041,      // another agent connected as the same node; agent stops
};

constexpr bool agent_must_stop(std::uint16_t code) {
  switch (code) {
    case kCloseInvalidGridToken:
    case kCloseInvalidNodeToken:
    case kCloseNodeTokenUsed:
    case kCloseMissingToken:
    case kCloseGridTokenForTokenNode:
    case kCloseNodeIdUsed:
    case kCloseBadVersion:
    case kCloseNodeRemoved:
    case kCloseNewerConnection:
      return true;
    default:
      return false;
  }
}

// --- RPC methods (reference §4)
// agent -> master request  /nodes/update  params [node_info]  result {} ; marks the node online.
//   node_info = the Engine's GET /info object as Docker returns it (ID, Name, ServerVersion,
//   OperatingSystem, KernelVersion, NCPU, MemTotal, Driver, ...) plus
//   "PublicIp", "PrivateIp" (strings), "AgentVersion" (string), "Labels" (array of "k=v" strings,
//   the agent's --label / KONTENA_NODE_LABELS; replaces Docker's own engine labels).
inline constexpr std::string_view kMethodNodesUpdate = "/nodes/update";
// agent -> master notification  /nodes/stats  params [stats]  every 60 s:
//   stats = {"cpu": {"num_cores", "system", "user", "idle", "load": [1m, 5m, 15m]},
//            "memory": {"total", "free", "used", "cached", "buffers"},   (bytes)
//            "filesystem": [{"name", "total", "used", "free"}],          (the Docker data root)
//            "usage": {"container_count"}, "created_at": RFC 3339}
inline constexpr std::string_view kMethodNodesStats = "/nodes/stats";
// master -> agent notifications sent right after the socket opens.
inline constexpr std::string_view kMethodMasterInfo = "/agent/master_info";  // [{"version"}]
inline constexpr std::string_view kMethodNodeInfo = "/agent/node_info";
//   [{"id", "name", "labels", "node_number", "initial_member", "overlay_ip", "peer_ips",
//     "availability", "grid": {"id", "name", "initial_size", "subnet", "supernet", "trusted_subnets",
//     "stats", "logs"}}]  -- also sent again when the node changes (labels, availability).
// master -> agent request /agent/ping params [] result {"time": RFC 3339}: an RPC-level check used
// by tests and tools; liveness itself uses WebSocket ping/pong control frames (below).
inline constexpr std::string_view kMethodAgentPing = "/agent/ping";

// --- liveness defaults (both sides send WebSocket ping frames; configurable everywhere)
inline constexpr int kDefaultPingIntervalSeconds = 30;
inline constexpr int kDefaultPingTimeoutSeconds = 5;   // WEBSOCKET_TIMEOUT
inline constexpr int kDefaultClockSkewSeconds = 1;     // KONTENA_CLOCK_SKEW
inline constexpr int kNodeUpdateIntervalSeconds = 60;  // /nodes/update and /nodes/stats

}  // namespace kontena::protocol
