// The pure half of the etcd member supervisor (DESIGN §5, reference §7): what an initial node's
// etcd member is (name, URLs, flags) and how it starts (bootstrap a new cluster, rejoin with its
// data, or take the place of a lost initial node). No I/O; the supervisor (supervisor.h) asks the
// cluster and runs the process. README.md in this directory has the rules.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "etcd/etcd_client.h"

namespace kontena::agent::etcd {

struct EtcdMemberConfig {
  std::string etcd_bin = "etcd";
  std::string data_dir;                          // this member's data; also holds etcd.pid and etcd.log
  std::string cluster_token;                     // the grid name
  int node_number = 0;                           // member name "node-<N>"; 1..initial_peer_urls.size()
  std::vector<std::string> initial_peer_urls;    // [i] = peer URL of node i+1, e.g. "http://10.81.0.2:2380"
  std::vector<std::string> initial_client_urls;  // [i] = client URL of node i+1, e.g. "http://10.81.0.2:2379"
  std::vector<std::string> listen_client_urls;   // e.g. {"http://127.0.0.1:2379", "http://10.81.0.2:2379"}
  int heartbeat_ms = 100;
  int election_ms = 1000;

  std::string member_name() const { return "node-" + std::to_string(node_number); }
  const std::string& peer_url() const { return initial_peer_urls.at(static_cast<std::size_t>(node_number - 1)); }
  const std::string& client_url() const { return initial_client_urls.at(static_cast<std::size_t>(node_number - 1)); }
  // Where this agent asks its own member (the loopback listener when there is one).
  std::string local_client_url() const;
  // The client URLs of the other initial members (asked before this member starts).
  std::vector<std::string> other_client_urls() const;
};

// Throws Error(invalid) naming the field when the config cannot describe an initial member.
void validate_member_config(const EtcdMemberConfig& config);

// The config of node N of a grid: peers http://<subnet base + i>:2380 for i in 1..initial_size,
// clients :2379, listening on 127.0.0.1 and the node's overlay address. Error(invalid) when the
// grid name is empty, the subnet is not an IPv4 CIDR with room for initial_size nodes, or N is not
// 1..initial_size (only initial nodes run a member; the others use grid_etcd_endpoints()).
EtcdMemberConfig member_config_for(const std::string& grid, const std::string& subnet, int initial_size,
                                   int node_number, const std::string& etcd_bin, const std::string& data_dir);

// The client endpoints every node of the grid uses: the initial members' client URLs.
std::vector<std::string> grid_etcd_endpoints(const std::string& subnet, int initial_size, int client_port = 2379);

struct BootstrapPlan {
  enum class Kind {
    restart_with_data,  // data_dir/member exists: etcd uses its data, the flags only have to be valid
    bootstrap,          // no cluster answered, or it is still bootstrapping: one of the initial members
    replace,            // a member with this name/peer URL had run: remove it, add this one, join
    join,               // the cluster does not know this member: add it, join
    resume_join,        // the cluster has this member added but not started (an earlier add): join
  };
  Kind kind = Kind::bootstrap;
  std::string cluster_state;                  // "new" | "existing" (--initial-cluster-state)
  std::vector<std::string> initial_cluster;   // "node-1=http://10.81.0.1:2380", ...
  std::optional<std::uint64_t> remove_member; // the lost predecessor's id (replace)
  bool add_member = false;                    // member_add({own peer URL}) before the start
  std::string reason;                         // one line for the log
};

const char* to_string(BootstrapPlan::Kind kind) noexcept;

// Decides how this member starts. members: the cluster's answer to members() (asked over the
// other members' client URLs), nullopt when no one answered. saved_initial_cluster: what the
// member started with last time (data_dir/kontena-member.json), used when it has data.
// Error(invalid) when the config is invalid.
BootstrapPlan plan_bootstrap(const EtcdMemberConfig& config, bool has_data,
                             std::optional<std::vector<kontena::etcd::Member>> members,
                             const std::vector<std::string>& saved_initial_cluster = {});

// The etcd command line (argv, argv[0] = etcd_bin) for a plan.
std::vector<std::string> etcd_arguments(const EtcdMemberConfig& config, const BootstrapPlan& plan,
                                        const std::string& data_dir);

// Runs the membership changes of a plan (remove the predecessor, then add this member) through a
// client of the cluster. When they fail (no majority answers), throws Error(unavailable) saying the
// cluster has lost its majority and this member cannot join until a majority is back.
void apply_membership(const EtcdMemberConfig& config, const BootstrapPlan& plan, kontena::etcd::EtcdClient& cluster);

}  // namespace kontena::agent::etcd
