// What the agent reports about its node in /nodes/update: the Engine's /info plus its addresses,
// version and labels (protocol/agent_protocol.h). Addresses come from flags/env or the local
// interfaces: never from an outside lookup.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kontena::agent {

struct Ipv4Interface {
  std::string name;
  std::string address;  // dotted quad
  bool loopback = false;
  bool up = true;
};

struct AddressOptions {
  std::string public_ip;       // --public-ip / KONTENA_PUBLIC_IP
  std::string private_ip;      // --private-ip / KONTENA_PRIVATE_IP
  std::string peer_interface;  // --peer-interface / KONTENA_PEER_INTERFACE
};

struct NodeAddresses {
  std::string public_ip;
  std::string private_ip;
  std::string source;  // how private_ip was chosen: for log lines
};

// The interface of the IPv4 default route in /proc/net/route text ("" when there is none).
std::string default_route_interface(std::string_view proc_net_route);

// private = the option, else the first IPv4 of peer_interface, else of the default route's
// interface, else the first non-loopback IPv4 that is up (container bridges such as docker0 and
// br-* last), else 127.0.0.1; public = the option, else private.
NodeAddresses choose_addresses(const AddressOptions& options, const std::vector<Ipv4Interface>& interfaces,
                               const std::string& default_interface);

// The machine's IPv4 interfaces (getifaddrs) and /proc/net/route: choose_addresses on real data.
std::vector<Ipv4Interface> list_ipv4_interfaces();
NodeAddresses resolve_addresses(const AddressOptions& options, const std::string& proc_root = "/proc");

// The /nodes/update payload: docker_info with PublicIp, PrivateIp, AgentVersion and Labels (which
// replaces the Engine's own labels).
nlohmann::json build_node_info(const nlohmann::json& docker_info, const NodeAddresses& addresses,
                               const std::vector<std::string>& labels, const std::string& agent_version);

// Reads a whole (small) file: /proc text. Returns "" when it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace kontena::agent
