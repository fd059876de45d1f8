// The grid's IP address management, kept in etcd (reference §6, DESIGN §5). The grid subnet's
// lower half holds the nodes' overlay addresses (subnet | node number, not handled here); its
// upper half is cut into equal slices, one per node, and each node hands out container addresses
// from its own slice only (the Docker network's --ip-range). Keys, as the original kontena-ipam:
//   /kontena/ipam/pools/<pool>                 {"subnet","iprange"}
//   /kontena/ipam/subnets/<pool>/<slice cidr>  node id (the node's claim of the slice)
//   /kontena/ipam/pool-nodes/<pool>/<node id>  slice cidr
//   /kontena/ipam/addresses/<pool>/<ip>        {"owner": container name, "node": node id, "at": unix ms}
// Every claim is an etcd create txn, so two agents never get the same slice or address; all state
// is in etcd, so a restarted agent carries on where it was. Thread-safe. See README.md.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/ipv4.h"
#include "etcd/etcd_client.h"

namespace kontena::agent::ipam {

struct IpamConfig {
  std::string pool = "kontena";
  std::string subnet = "10.81.0.0/16";  // the grid subnet, prefix /8 .. /24
  // 0 = auto: subnet prefix + 9, at most 28: a /16 grid gives /25 slices, 256 of them in the upper
  // half (every node number 1..254 gets one), 126 container addresses each.
  int slice_prefix = 0;
  // release_unused() keeps addresses allocated less than this long ago: their container may still
  // be being created.
  std::chrono::milliseconds unused_grace = std::chrono::minutes(1);
};

// IPv4 networks and addresses (common/ipv4.h).
using net::Cidr;
using net::format_ipv4;
using net::parse_cidr;
using net::parse_ipv4;

class Ipam {
 public:
  // Invalid config -> Error(invalid). No etcd call is made here. clock: nullptr = the system clock.
  Ipam(::kontena::etcd::EtcdClient& etcd, IpamConfig config, const Clock* clock = nullptr);

  // The node's container slice: its existing claim, or the lowest free slice of the upper half
  // claimed atomically (a lost race tries the next). Idempotent. Error(unavailable) when etcd has
  // no majority; Error(conflict) when every slice is taken; Error(conflict) when the pool in etcd
  // was created with another subnet.
  std::string node_subnet(const std::string& node_id);
  // An address in the node's slice for owner (a container name, "shop.web-1"). Idempotent: the
  // address owner already holds in the slice is returned. `preferred` is taken when it is in the
  // slice and free. Never the slice's network or broadcast address; otherwise round-robin after
  // the last allocated address. Error(conflict) when the slice is full; Error(unavailable) when
  // etcd cannot answer.
  std::string allocate(const std::string& node_id, const std::string& owner, const std::string& preferred = "");
  // Releases ip when held by owner (owner empty: whoever holds it). true if released.
  bool release(const std::string& ip, const std::string& owner = "");
  // The address owner holds in the node's slice (nullopt: none). For a release by name after an
  // agent restart, when the agent no longer remembers the address.
  std::optional<std::string> address_of(const std::string& node_id, const std::string& owner);
  // Releases the node's addresses whose owner is not in owners_in_use (and that are older than
  // unused_grace); returns the released ips.
  std::vector<std::string> release_unused(const std::string& node_id, const std::set<std::string>& owners_in_use);
  // A node left the grid: releases its slice claim and every address it held. Idempotent.
  void release_node(const std::string& node_id);
  // {"pool","subnet","iprange","slices":{node: slice},"addresses": count}
  nlohmann::json describe();

  const Cidr& subnet() const { return subnet_; }
  const Cidr& iprange() const { return iprange_; }  // the upper half
  int slice_prefix() const { return slice_prefix_; }

 private:
  struct Address {
    std::string ip;
    std::uint32_t value = 0;
    std::string owner;  // empty when the record cannot be read
    std::string node;
    std::int64_t at = 0;
    std::string raw;  // the stored value, for compare-and-delete
    std::int64_t create_revision = 0;
  };

  std::string claim_slice(const std::string& node_id);
  void ensure_pool();
  std::vector<Address> slice_addresses(const Cidr& slice);
  std::optional<Cidr> existing_slice(const std::string& node_id);
  std::string address_key(const std::string& ip) const;
  std::string record(const std::string& node_id, const std::string& owner) const;

  ::kontena::etcd::EtcdClient& etcd_;
  IpamConfig config_;
  SystemClock system_clock_;
  const Clock* clock_;
  Cidr subnet_;
  Cidr iprange_;
  int slice_prefix_ = 0;
  std::string prefix_;  // "/kontena/ipam/"

  std::mutex mutex_;  // one allocation at a time in this process (etcd txns guard across agents)
  bool pool_checked_ = false;
  std::map<std::string, std::uint32_t> cursor_;  // slice -> the address handed out last
};

}  // namespace kontena::agent::ipam
