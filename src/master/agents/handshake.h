// Pure helpers of the agent handshake and of /agent/node_info (no store, no sockets).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kontena::master::agents {

// "2026-11-25 21:03:42.123Z" (also 'T' for the space, any number of fraction digits, or none).
std::optional<std::chrono::system_clock::time_point> parse_connected_at(std::string_view text);
// The same format, milliseconds: what the master answers in Kontena-Connected-At.
std::string format_connected_at(std::chrono::system_clock::time_point t);

// The agent may connect when its major.minor equals the master's (the original's ~> major.minor.0).
bool version_compatible(std::string_view agent_version, std::string_view master_version);

// A Docker engine ID ("ABCD:EFGH:...") or any 1..128 characters of [A-Za-z0-9:._-].
bool valid_node_id(std::string_view node_id);

// "a=1, b=2,,c" -> {"a=1", "b=2", "c"}; items that are not valid labels go to `rejected`.
std::vector<std::string> parse_labels(std::string_view header, std::vector<std::string>* rejected = nullptr);

// Grid subnet base | node_number: ("10.81.0.0/16", 3) -> "10.81.0.3"; empty when the subnet is bad.
std::string overlay_ip(const std::string& subnet, int node_number);

}  // namespace kontena::master::agents
