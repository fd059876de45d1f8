// How a service pod's container joins the grid's overlay (DESIGN §5): the seam between the
// reconciler and the node's network (overlay, IPAM in etcd, DNS). The agent's NetworkSync is the
// real one; unit tests use a fake. Calls come from the reconciler's pass threads (several at once).
#pragma once
#include <set>
#include <string>

#include "agent/docker/docker_client.h"
#include "protocol/service_pod.h"

namespace kontena::agent::pods {

class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  // Fills spec for a pod whose network has no fixed address: the overlay network, an address
  // from IPAM owned by spec.name (the same one again for a recreated container), the node's DNS
  // and the overlay_cidr label. Throws kontena::Error (unavailable: the overlay is not ready or
  // etcd has no majority; conflict: the node's slice is full) with a message for the user.
  virtual void attach(const protocol::ServicePod& pod, docker::ContainerSpec& spec) = 0;
  // The container `name` is gone for good: its address goes back to IPAM. Never throws.
  virtual void release(const std::string& container_name) = 0;
  // Addresses of this node held by containers not in `existing` are released. Never throws.
  virtual void cleanup(const std::set<std::string>& existing) = 0;
};

}  // namespace kontena::agent::pods
