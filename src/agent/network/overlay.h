// The node's end of the grid overlay (DESIGN §5, README.md in this directory): a Linux bridge that
// holds the node's overlay address, and a VXLAN device enslaved to it whose flood entries (one
// per peer node) join the bridges of all nodes into one L2 network. Docker's `kontena` network is
// then created on top of that bridge (docker_network.h).
#pragma once
#include <string>
#include <vector>

#include "agent/network/command_runner.h"

namespace kontena::agent::network {

struct OverlayConfig {
  std::string bridge = "kontena0";
  std::string vxlan = "vxkontena";
  int vni = 81;
  int port = 4789;  // UDP destination port of the VXLAN packets
  int mtu = 1450;   // 1500 of the underlay minus the 50 bytes of VXLAN/UDP/IP/Ethernet headers
  std::string address;             // the node's overlay address with the grid prefix, "10.81.0.3/16"
  std::string local_ip;            // this node's underlay (private) IP
  std::vector<std::string> peers;  // other nodes' underlay IPs
};

// Drives `ip`, `bridge` and `iptables` through a CommandRunner. Not thread-safe: one Overlay per
// node, called from one place at a time.
class Overlay {
 public:
  explicit Overlay(CommandRunner& run);

  // Idempotent convergence, reading the current state with `ip -j` / `bridge -j`: creates or
  // fixes the bridge (address, removing any other IPv4 address on it; MTU; fixed MAC, bridge_mac();
  // up), the VXLAN device
  // (re-created when its local IP, VNI, port, underlay device or learning differs; MTU; master;
  // up) and its flood entries (appends missing peers, deletes peers no longer listed, never
  // touches other entries); then the KONTENA-OVERLAY iptables chain when iptables works here.
  // Returns what changed, one line each (empty: nothing to do). Throws Error(invalid) for a bad
  // config (or a local IP on no interface), Error(conflict) when a device of that name is of
  // another kind, Error(unavailable) with the failing command and its stderr when one fails.
  std::vector<std::string> ensure(const OverlayConfig& config);

  // The flood entries (peer underlay IPs) now on the VXLAN device, sorted; empty when it is gone.
  std::vector<std::string> peers(const std::string& vxlan = "vxkontena");

  // Removes the VXLAN device, the bridge and the iptables chain (whichever exist). Remove Docker's
  // network on the bridge first: Docker does not expect its bridge to vanish.
  void teardown(const OverlayConfig& config);

 private:
  CommandResult must(const std::vector<std::string>& argv);
  void ensure_bridge(const OverlayConfig& c, std::vector<std::string>& changes);
  void ensure_vxlan(const OverlayConfig& c, const std::string& dev, std::vector<std::string>& changes);
  void ensure_flood(const OverlayConfig& c, std::vector<std::string>& changes);
  void ensure_filter(const OverlayConfig& c, std::vector<std::string>& changes);
  bool iptables_usable();

  CommandRunner& run_;
  bool iptables_checked_ = false;
  bool iptables_ok_ = false;
};

// The bridge's MAC address, fixed and derived from the node's overlay IP: "02:4b:0a:51:00:03" for
// 10.81.0.3 (locally administered; Docker's container MACs start with 02:42). Without a fixed MAC
// a Linux bridge takes the lowest MAC of its ports, so it changes as containers come and go, and
// the other nodes' ARP entries for this node's overlay IP (its etcd member, its DNS) point at a MAC
// that is gone until they expire: half a minute without etcd. Throws Error(invalid) for a bad IP.
std::string bridge_mac(const std::string& overlay_ip);

// The interface that holds the IPv4 address ip (for the VXLAN's `dev`), empty when none does.
std::string interface_of(CommandRunner& run, const std::string& ip);
// The MTU of interface dev (ip -j link show), 0 when it cannot be read.
int interface_mtu(CommandRunner& run, const std::string& dev);
// The overlay's MTU on a node whose private IP is local_ip: `wanted`, or less when the underlay
// cannot carry it with VXLAN's 50 bytes of headers (a cloud VM's 1400-byte link gives 1350).
int overlay_mtu(CommandRunner& run, const std::string& local_ip, int wanted = 1450);

// The name of the iptables chain that keeps non-peers from injecting into the overlay.
inline constexpr const char* kOverlayChain = "KONTENA-OVERLAY";

}  // namespace kontena::agent::network
