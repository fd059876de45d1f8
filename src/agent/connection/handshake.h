// The WebSocket handshake headers the agent sends (protocol/agent_protocol.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kontena::agent {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct NodeIdentity {
  std::string grid_token;
  std::string node_token;  // sent instead of the grid token when set
  std::string node_id;
  std::string node_name;
  std::vector<std::string> labels;
  std::string version;
};

// "%F %T.%3NZ" in UTC: "2026-11-24 14:20:00.123Z" (Kontena-Connected-At).
std::string format_connected_at(std::int64_t unix_ms);

// Kontena-Node-Token or Kontena-Grid-Token, Kontena-Node-Id, Kontena-Node-Name, Kontena-Version,
// Kontena-Node-Labels (comma separated; sent empty when there are none), Kontena-Connected-At.
Headers build_handshake_headers(const NodeIdentity& identity, std::int64_t now_unix_ms);

// The headers with token values replaced by "***": for log lines.
Headers redact_headers(const Headers& headers);

}  // namespace kontena::agent
