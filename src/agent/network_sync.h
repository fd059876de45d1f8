// The node's part of the grid network (DESIGN §5), driven by what the master says in
// /agent/node_info: on its own thread it converges, in this order,
//   1. the overlay: bridge kontena0 with the node's overlay IP (grid subnet | node number) and a
//      VXLAN device with flood entries to every peer (agent/network/overlay.h);
//   2. on the first `initial_size` nodes, the etcd member (agent/etcd/supervisor.h), on the
//      overlay IPs, so that it exists before anything needs etcd;
//   3. the etcd client of the grid (the initial members' client URLs) and IPAM: the node's slice;
//   4. Docker's network `kontena` on the bridge with the slice as its IP range;
//   5. the DNS server on the overlay IP (port 53) and service discovery through etcd.
// Each step is idempotent and the whole sequence runs again when node_info changes and every
// `resync` (peers, devices removed by hand, etcd coming back). Until step 4 is done the node is
// "not ready": a pod that needs an overlay address waits for it up to `attach_wait` (also while
// IPAM answers `unavailable`), then fails with the reason (and is retried by the reconciler's backoff).
//
// It is also the reconciler's PodNetwork: addresses come from IPAM owned by the container name.
#pragma once
#include "common/asio.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "agent/pods/pod_network.h"
#include "agent/pods/reconciler.h"

namespace kontena::etcd {
class EtcdClient;
}

namespace kontena::agent {

namespace network {
class CommandRunner;
class Overlay;
}  // namespace network
namespace etcd {
class EtcdSupervisor;
}
namespace ipam {
class Ipam;
}
namespace dns {
class DnsTable;
class DnsServer;
class ServiceDiscovery;
}  // namespace dns

struct NetworkOptions {
  bool enabled = true;                        // --no-overlay turns all of it off
  std::string data_dir = "/var/lib/kontena-agent";  // etcd member data under data_dir/etcd
  std::string etcd_bin = "etcd";
  int dns_port = 53;
  std::chrono::milliseconds etcd_timeout{2000};
  std::chrono::seconds sd_ttl{10};            // service discovery records of a lost node vanish after this
  std::chrono::milliseconds sd_interval{1000};
  std::chrono::milliseconds resync{10'000};
  std::chrono::milliseconds retry{1'000};     // after a failed step
  std::chrono::milliseconds attach_wait{20'000};  // a pod waits this long for the network and an address
};

// The node's overlay address and prefix: ("10.81.0.0/16", 3) -> {"10.81.0.3", 16}. Throws
// kontena::Error(invalid) for a bad subnet or a node number that does not fit.
std::pair<std::string, int> node_overlay_address(const std::string& subnet, int node_number);

// Calls `attempt` until it returns, throws something other than kontena::Error(unavailable), or
// `deadline` has passed (then the last `unavailable` is thrown as it was), pausing `pause` between
// tries and giving up at once when `stopping` says so. For IPAM: right after etcd gets its majority
// back its members answer before they take writes, and a deploy then should wait, not fail.
std::string retry_while_unavailable(const std::function<std::string()>& attempt,
                                    std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds pause,
                                    const std::function<bool()>& stopping);

class NetworkSync : public pods::PodNetwork {
 public:
  NetworkSync(Agent& agent, docker::DockerClient& docker, NetworkOptions options);
  ~NetworkSync() override;
  NetworkSync(const NetworkSync&) = delete;
  NetworkSync& operator=(const NetworkSync&) = delete;

  // Where service discovery takes this node's running instances (set before start()).
  void set_instances_source(std::function<std::vector<pods::RunningInstance>()> source) { instances_ = std::move(source); }
  void start();
  // This node's instances changed: publish them soon (any thread).
  void poke_discovery();
  // stop_etcd: also stop this node's etcd member (the agent's SIGTERM); otherwise it keeps running.
  void stop(bool stop_etcd);

  // pods::PodNetwork
  void attach(const protocol::ServicePod& pod, docker::ContainerSpec& spec) override;
  void release(const std::string& container_name) override;
  void cleanup(const std::set<std::string>& existing) override;

  // For the etcd RPC handlers (agent/etcd_rpc.h): nullptr until the grid is known.
  kontena::etcd::EtcdClient* etcd_client();
  ipam::Ipam* ipam();
  nlohmann::json member_status();   // null when this node is not an initial member
  nlohmann::json status();          // {"ready", "error", "overlay_ip", "slice", "peers", "dns"...}
  bool ready() const;

 private:
  struct Desired {
    std::string node_id;
    std::string grid;
    std::string subnet;
    int initial_size = 0;
    int node_number = 0;
    std::vector<std::string> peers;
    bool operator==(const Desired&) const = default;
  };
  void on_node_info(const nlohmann::json& info);
  void run();
  void converge(const Desired& want);
  void stop_components(bool stop_etcd, bool forget);

  Agent& agent_;
  docker::DockerClient& docker_;
  NetworkOptions options_;
  std::function<std::vector<pods::RunningInstance>()> instances_;

  std::unique_ptr<network::CommandRunner> runner_;
  std::unique_ptr<network::Overlay> overlay_;
  std::string mtu_local_ip_;  // the private address overlay_mtu_ was read for (network thread only)
  int overlay_mtu_ = 0;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false;
  std::optional<Desired> desired_;
  std::optional<Desired> built_;    // the grid layout the components below were made for
  std::optional<Desired> applied_;  // the last config fully converged (ready)
  std::unique_ptr<etcd::EtcdSupervisor> supervisor_;
  std::shared_ptr<kontena::etcd::EtcdClient> etcd_;
  std::shared_ptr<ipam::Ipam> ipam_;
  std::unique_ptr<dns::DnsTable> table_;
  std::unique_ptr<dns::DnsServer> dns_;
  std::unique_ptr<dns::ServiceDiscovery> discovery_;
  std::string overlay_ip_;
  int prefix_ = 16;
  std::string slice_;
  bool ready_ = false;
  std::string error_;             // why not ready (the last failed step)
  std::map<std::string, std::string> owned_;  // container name -> address it got here
  std::thread thread_;
};

}  // namespace kontena::agent
