#include "agent/node_info.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <fstream>
#include <sstream>

namespace kontena::agent {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string default_route_interface(std::string_view text) {
  // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; destination and mask 00000000.
  std::istringstream in{std::string(text)};
  std::string line;
  std::getline(in, line);  // header
  std::string best;
  long best_metric = -1;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> iface >> dest >> gateway >> flags >> refcnt >> use >> metric >> mask)) continue;
    if (dest != "00000000" || mask != "00000000") continue;
    unsigned long f = std::strtoul(flags.c_str(), nullptr, 16);
    if ((f & 0x1) == 0) continue;  // RTF_UP
    long m = std::strtol(metric.c_str(), nullptr, 10);
    if (best.empty() || m < best_metric) {
      best = iface;
      best_metric = m;
    }
  }
  return best;
}

NodeAddresses choose_addresses(const AddressOptions& options, const std::vector<Ipv4Interface>& interfaces,
                               const std::string& default_interface) {
  NodeAddresses out;
  auto address_of = [&](const std::string& name) -> std::string {
    for (const auto& i : interfaces)
      if (i.name == name && !i.address.empty()) return i.address;
    return {};
  };
  if (!options.private_ip.empty()) {
    out.private_ip = options.private_ip;
    out.source = "option";
  }
  if (out.private_ip.empty() && !options.peer_interface.empty()) {
    out.private_ip = address_of(options.peer_interface);
    if (!out.private_ip.empty()) out.source = "interface " + options.peer_interface;
  }
  if (out.private_ip.empty() && !default_interface.empty()) {
    out.private_ip = address_of(default_interface);
    if (!out.private_ip.empty()) out.source = "default route interface " + default_interface;
  }
  if (out.private_ip.empty()) {
    // Container bridges and overlays (docker0, br-*, veth*, kontena*, vxlan*) come last.
    auto virtual_iface = [](const std::string& n) {
      for (const char* p : {"docker", "br-", "veth", "kontena", "vxlan", "weave", "virbr", "cni", "flannel"})
        if (n.rfind(p, 0) == 0) return true;
      return false;
    };
    for (int pass = 0; pass < 2 && out.private_ip.empty(); ++pass)
      for (const auto& i : interfaces)
        if (!i.loopback && i.up && !i.address.empty() && (pass == 1 || !virtual_iface(i.name))) {
          out.private_ip = i.address;
          out.source = "first interface " + i.name;
          break;
        }
  }
  if (out.private_ip.empty()) {
    out.private_ip = "127.0.0.1";
    out.source = "no interface with an IPv4 address";
  }
  out.public_ip = options.public_ip.empty() ? out.private_ip : options.public_ip;
  return out;
}

std::vector<Ipv4Interface> list_ipv4_interfaces() {
  std::vector<Ipv4Interface> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN] = {};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) == nullptr) continue;
    out.push_back(Ipv4Interface{a->ifa_name, buf, (a->ifa_flags & IFF_LOOPBACK) != 0, (a->ifa_flags & IFF_UP) != 0});
  }
  ::freeifaddrs(list);
  return out;
}

NodeAddresses resolve_addresses(const AddressOptions& options, const std::string& proc_root) {
  return choose_addresses(options, list_ipv4_interfaces(), default_route_interface(read_text_file(proc_root + "/net/route")));
}

nlohmann::json build_node_info(const nlohmann::json& docker_info, const NodeAddresses& addresses,
                               const std::vector<std::string>& labels, const std::string& agent_version) {
  nlohmann::json info = docker_info.is_object() ? docker_info : nlohmann::json::object();
  info["PublicIp"] = addresses.public_ip;
  info["PrivateIp"] = addresses.private_ip;
  info["AgentVersion"] = agent_version;
  info["Labels"] = labels;
  return info;
}

}  // namespace kontena::agent
