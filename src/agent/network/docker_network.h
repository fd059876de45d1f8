// Docker's `kontena` network on a node: a bridge network over the overlay bridge the agent made
// (overlay.h), spanning the whole grid subnet, handing out addresses only from the node's slice.
#pragma once
#include <string>

#include "agent/docker/docker_client.h"

namespace kontena::agent::network {

struct KontenaNetworkSpec {
  std::string name = "kontena";
  std::string bridge = "kontena0";  // the Linux bridge Overlay::ensure made
  std::string subnet;               // the grid subnet, "10.81.0.0/16"
  std::string gateway;              // the node's overlay IP (the bridge's address), "10.81.0.3"
  std::string ip_range;             // the node's slice from IPAM, "10.81.128.0/24"
  int mtu = 1450;
};

// The NetworkSpec Docker is asked for.
docker::NetworkSpec docker_network_spec(const KontenaNetworkSpec& want);

// Creates the network when missing. When it exists with another subnet, gateway, IP range, bridge,
// MTU or driver, it is removed and created again, but only while no container is attached to it;
// otherwise throws Error(conflict) naming the setting that differs. Returns true when it created
// the network, false when it was already as wanted.
bool ensure_kontena_network(docker::DockerClient& docker, const KontenaNetworkSpec& want);

}  // namespace kontena::agent::network
