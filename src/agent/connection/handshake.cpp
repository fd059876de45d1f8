#include "agent/connection/handshake.h"

#include <cstdio>
#include <ctime>

#include "protocol/agent_protocol.h"

namespace kontena::agent {

std::string format_connected_at(std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  int ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::size_t n = std::strftime(buf, sizeof buf, "%F %T", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", ms);
  return buf;
}

Headers build_handshake_headers(const NodeIdentity& identity, std::int64_t now_unix_ms) {
  Headers h;
  if (!identity.node_token.empty()) h.emplace_back(protocol::kHeaderNodeToken, identity.node_token);
  else h.emplace_back(protocol::kHeaderGridToken, identity.grid_token);
  h.emplace_back(protocol::kHeaderNodeId, identity.node_id);
  h.emplace_back(protocol::kHeaderNodeName, identity.node_name);
  h.emplace_back(protocol::kHeaderVersion, identity.version);
  std::string labels;
  for (const auto& l : identity.labels) {
    if (!labels.empty()) labels += ',';
    labels += l;
  }
  h.emplace_back(protocol::kHeaderNodeLabels, labels);
  h.emplace_back(protocol::kHeaderConnectedAt, format_connected_at(now_unix_ms));
  return h;
}

Headers redact_headers(const Headers& headers) {
  Headers out = headers;
  for (auto& [name, value] : out)
    if (name == protocol::kHeaderGridToken || name == protocol::kHeaderNodeToken) value = "***";
  return out;
}

}  // namespace kontena::agent
