#include "agent/network_sync.h"

#include <spdlog/spdlog.h>

#include "agent/dns/dns_server.h"
#include "agent/dns/dns_table.h"
#include "agent/dns/service_registry.h"
#include "agent/etcd/member_config.h"
#include "agent/etcd/supervisor.h"
#include "agent/ipam/ipam.h"
#include "agent/network/command_runner.h"
#include "agent/network/docker_network.h"
#include "agent/network/overlay.h"
#include "agent/node_info.h"
#include "common/error.h"
#include "common/ipv4.h"
#include "etcd/http_etcd_client.h"
#include "protocol/agent_protocol.h"

namespace kontena::agent {

namespace {

std::vector<std::string> string_list(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& v : j)
    if (v.is_string() && !v.get<std::string>().empty()) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace

std::string retry_while_unavailable(const std::function<std::string()>& attempt,
                                    std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds pause,
                                    const std::function<bool()>& stopping) {
  for (int tries = 1;; ++tries) {
    try {
      return attempt();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::unavailable || stopping() ||
          std::chrono::steady_clock::now() + pause >= deadline)
        throw;
      spdlog::debug("network: retrying after an unavailable answer try={} error=\"{}\"", tries, e.what());
    }
    std::this_thread::sleep_for(pause);
  }
}

std::pair<std::string, int> node_overlay_address(const std::string& subnet, int node_number) {
  auto cidr = net::try_parse_cidr(subnet, net::HostBits::drop);
  if (!cidr || cidr->prefix < 8 || cidr->prefix > 30)
    invalid("subnet", "the grid subnet \"" + subnet + "\" is not an IPv4 CIDR between /8 and /30");
  // Node numbers are host addresses of the subnet: not its network or broadcast address.
  if (node_number < 1 || static_cast<std::uint64_t>(node_number) >= std::uint64_t{cidr->size()} - 1)
    invalid("node_number", "node number " + std::to_string(node_number) + " does not fit in the grid subnet " + subnet);
  return {net::format_ipv4(cidr->base + static_cast<std::uint32_t>(node_number)), cidr->prefix};
}

NetworkSync::NetworkSync(Agent& agent, docker::DockerClient& docker, NetworkOptions options)
    : agent_(agent), docker_(docker), options_(std::move(options)) {
  runner_ = network::make_process_runner();
  overlay_ = std::make_unique<network::Overlay>(*runner_);
  // Runs on the agent's loop: only copies what is needed and wakes the thread.
  agent_.on_notification(std::string(protocol::kMethodNodeInfo), [this](const nlohmann::json& params) {
    if (params.is_array() && !params.empty() && params[0].is_object()) on_node_info(params[0]);
  });
}

NetworkSync::~NetworkSync() { stop(false); }

void NetworkSync::start() {
  if (!options_.enabled) {
    spdlog::info("network: overlay, etcd, IPAM and DNS are off (--no-overlay): containers use Docker's default network");
    return;
  }
  thread_ = std::thread([this] { run(); });
}

void NetworkSync::stop(bool stop_etcd) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  stop_components(stop_etcd, false);
}

// Takes the running parts out under the lock and stops them outside it (their threads may wait
// for the lock). forget: also drop the grid's client, IPAM and what was converged.
void NetworkSync::stop_components(bool stop_etcd, bool forget) {
  std::unique_ptr<dns::ServiceDiscovery> discovery;
  std::unique_ptr<dns::DnsServer> server;
  std::unique_ptr<etcd::EtcdSupervisor> supervisor;
  {
    std::lock_guard lock(mu_);
    discovery = std::move(discovery_);
    server = std::move(dns_);
    supervisor = std::move(supervisor_);
    if (forget) {
      ipam_.reset();
      etcd_.reset();
      ready_ = false;
      slice_.clear();
      applied_.reset();
      built_.reset();
      owned_.clear();
    }
  }
  if (discovery) discovery->stop();
  if (server) server->stop();
  if (supervisor) supervisor->stop(stop_etcd);
}

void NetworkSync::on_node_info(const nlohmann::json& info) {
  Desired d;
  d.node_id = info.value("node_id", std::string());
  if (d.node_id.empty()) d.node_id = agent_.node_id();
  d.node_number = info.contains("node_number") && info["node_number"].is_number_integer() ? info["node_number"].get<int>() : 0;
  d.peers = string_list(info.value("peer_ips", nlohmann::json::array()));
  const auto grid = info.value("grid", nlohmann::json::object());
  if (grid.is_object()) {
    d.grid = grid.value("name", std::string());
    d.subnet = grid.value("subnet", std::string());
    d.initial_size = grid.contains("initial_size") && grid["initial_size"].is_number_integer() ? grid["initial_size"].get<int>() : 0;
  }
  if (d.grid.empty() || d.subnet.empty() || d.node_number < 1 || d.node_id.empty()) {
    spdlog::warn("network: node info without grid, subnet, node number or node id: overlay not configured");
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (desired_ && *desired_ == d) return;
    desired_ = d;
    wake_ = true;
  }
  cv_.notify_all();
}

void NetworkSync::run() {
  std::string last_error;
  for (;;) {
    std::optional<Desired> want;
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
      want = desired_;
    }
    bool ok = true;
    if (want) {
      try {
        converge(*want);
        if (!last_error.empty()) spdlog::info("network: ready again overlay_ip={} slice={}", overlay_ip_, slice_);
        last_error.clear();
      } catch (const std::exception& e) {
        ok = false;
        std::string msg = e.what();
        {
          std::lock_guard lock(mu_);
          error_ = msg;
        }
        if (msg != last_error) spdlog::warn("network: not ready error=\"{}\"", msg);
        last_error = msg;
      }
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, ok && want ? options_.resync : options_.retry, [this] { return stopping_ || wake_; });
    wake_ = false;
    if (stopping_) return;
  }
}

void NetworkSync::converge(const Desired& want) {
  auto [overlay_ip, prefix] = node_overlay_address(want.subnet, want.node_number);
  bool changed_grid;
  {
    std::lock_guard lock(mu_);
    changed_grid = built_ && (built_->grid != want.grid || built_->subnet != want.subnet ||
                              built_->initial_size != want.initial_size || built_->node_number != want.node_number ||
                              built_->node_id != want.node_id);
  }
  // Another grid layout: everything below is rebuilt (rare: a node moved, a subnet changed).
  if (changed_grid) stop_components(true, true);

  // 1. overlay devices
  AddressOptions addr_options{agent_.options().public_ip, agent_.options().private_ip, agent_.options().peer_interface};
  NodeAddresses addresses = resolve_addresses(addr_options, agent_.options().proc_root);
  network::OverlayConfig oc;
  oc.address = overlay_ip + "/" + std::to_string(prefix);
  oc.local_ip = addresses.private_ip;
  // The underlay link's MTU is read again only when the node's private address changes (two
  // `ip` runs, not worth every resync).
  if (oc.local_ip != mtu_local_ip_) {
    overlay_mtu_ = network::overlay_mtu(*runner_, oc.local_ip);
    mtu_local_ip_ = oc.local_ip;
  }
  oc.mtu = overlay_mtu_;
  for (const auto& p : want.peers)
    if (p != addresses.private_ip) oc.peers.push_back(p);
  auto changes = overlay_->ensure(oc);
  for (const auto& c : changes) spdlog::info("network: overlay {}", c);

  // 2. etcd member on initial nodes
  bool initial = want.node_number <= want.initial_size;
  {
    std::lock_guard lock(mu_);
    built_ = want;
    overlay_ip_ = overlay_ip;
    prefix_ = prefix;
    if (initial && !supervisor_) {
      auto config = etcd::member_config_for(want.grid, want.subnet, want.initial_size, want.node_number, options_.etcd_bin,
                                            options_.data_dir + "/etcd");
      auto timeout = options_.etcd_timeout;
      supervisor_ = std::make_unique<etcd::EtcdSupervisor>(
          config, [timeout](std::vector<std::string> endpoints) {
            return kontena::etcd::make_http_etcd_client(std::move(endpoints), timeout);
          });
      supervisor_->start();
      spdlog::info("network: etcd member node-{} supervised data_dir={}/etcd", want.node_number, options_.data_dir);
    }
    // 3. etcd client and IPAM
    if (!etcd_) {
      etcd_ = kontena::etcd::make_http_etcd_client(etcd::grid_etcd_endpoints(want.subnet, want.initial_size),
                                                   options_.etcd_timeout);
      ipam::IpamConfig ic;
      ic.subnet = want.subnet;
      // Ipam refers to the client: its deleter keeps the client alive as long as any copy of it
      // (a pod being attached while the grid layout changes).
      auto client = etcd_;
      ipam_ = std::shared_ptr<ipam::Ipam>(new ipam::Ipam(*client, ic), [client](ipam::Ipam* p) { delete p; });
    }
  }
  std::shared_ptr<ipam::Ipam> ipam = ipam_;
  std::string slice = ipam->node_subnet(want.node_id);

  // 4. Docker's network
  network::KontenaNetworkSpec spec;
  spec.subnet = want.subnet;
  spec.gateway = overlay_ip;
  spec.ip_range = slice;
  spec.mtu = oc.mtu;
  if (network::ensure_kontena_network(docker_, spec))
    spdlog::info("network: docker network kontena created subnet={} gateway={} ip_range={}", want.subnet, overlay_ip, slice);

  // 5. DNS and service discovery
  std::lock_guard lock(mu_);
  slice_ = slice;
  if (!table_) table_ = std::make_unique<dns::DnsTable>();
  if (!dns_) {
    dns::DnsServerOptions so;
    so.listen = {overlay_ip + ":" + std::to_string(options_.dns_port)};
    so.upstreams = dns::resolv_conf_nameservers("/etc/resolv.conf", {overlay_ip});
    dns_ = std::make_unique<dns::DnsServer>(*table_, so);
    dns_->start();
    spdlog::info("network: DNS listening on {}:{} upstreams={}", overlay_ip, options_.dns_port, so.upstreams.size());
  }
  if (!discovery_) {
    dns::ServiceDiscoveryOptions sdo;
    sdo.ttl = options_.sd_ttl;
    sdo.sync_interval = options_.sd_interval;
    std::string node_name = agent_.master_state().node_name;
    auto local = [this, grid = want.grid, node_name]() {
      std::vector<dns::ServiceInstance> out;
      if (!instances_) return out;
      for (const auto& ri : instances_()) {
        dns::ServiceInstance si;
        si.grid = ri.pod.grid_name.empty() ? grid : ri.pod.grid_name;
        si.stack = ri.pod.stack_name;
        si.service = ri.pod.service_name;
        si.instance_number = ri.pod.instance_number;
        si.ip = ri.ip;
        si.healthy = ri.healthy;
        auto exposed = ri.pod.labels.find("io.kontena.service.exposed");
        si.exposed = exposed != ri.pod.labels.end() && exposed->second == "true";
        si.node = node_name;
        out.push_back(std::move(si));
      }
      return out;
    };
    discovery_ = std::make_unique<dns::ServiceDiscovery>(*etcd_, *table_, want.grid, want.node_id, local, sdo);
    discovery_->start();
  }
  ready_ = true;
  error_.clear();
  applied_ = want;
  cv_.notify_all();  // pods waiting in attach()
}

void NetworkSync::poke_discovery() {
  std::lock_guard lock(mu_);
  if (discovery_) discovery_->poke();
}

void NetworkSync::attach(const protocol::ServicePod& pod, docker::ContainerSpec& spec) {
  std::shared_ptr<ipam::Ipam> ipam;
  std::string node_id, overlay_ip;
  int prefix;
  const auto deadline = std::chrono::steady_clock::now() + options_.attach_wait;
  {
    std::unique_lock lock(mu_);
    if (!options_.enabled) return;
    // Right after the agent starts (or the grid's etcd forms) the network may be a few seconds
    // away from ready: a deploy waits for it rather than failing at once.
    cv_.wait_until(lock, deadline, [this] { return stopping_ || (ready_ && ipam_ && applied_); });
    if (stopping_) fail(ErrorKind::unavailable, "the agent is stopping");
    if (!ready_ || !ipam_ || !applied_)
      fail(ErrorKind::unavailable, "the overlay network of this node is not ready" +
                                       (error_.empty() ? std::string(" yet") : ": " + error_));
    ipam = ipam_;
    node_id = applied_->node_id;
    overlay_ip = overlay_ip_;
    prefix = prefix_;
  }
  // IPAM's errors name the container and say why (etcd without majority, a full slice); etcd that
  // is about to answer again is waited for, within the same deadline.
  std::string ip = retry_while_unavailable([&] { return ipam->allocate(node_id, spec.name); }, deadline,
                                           options_.retry, [this] {
                                             std::lock_guard lock(mu_);
                                             return stopping_;
                                           });
  const std::string net = pod.network ? pod.network->name : std::string("kontena");
  spec.network_ips.clear();
  spec.network_ips[net] = ip;
  spec.network_mode = net;
  if (spec.dns.empty()) spec.dns = {overlay_ip};
  spec.labels[protocol::kLabelOverlayCidr] = ip + "/" + std::to_string(prefix);
  std::lock_guard lock(mu_);
  owned_[spec.name] = ip;
}

void NetworkSync::release(const std::string& container_name) {
  std::shared_ptr<ipam::Ipam> ipam;
  std::string ip, node_id;
  {
    std::lock_guard lock(mu_);
    if (!ipam_ || !applied_) return;  // the periodic cleanup frees it later
    if (auto it = owned_.find(container_name); it != owned_.end()) {
      ip = it->second;
      owned_.erase(it);
    }
    ipam = ipam_;
    node_id = applied_->node_id;
  }
  try {
    // Allocated by an earlier run of the agent: IPAM knows it by its owner.
    if (ip.empty()) ip = ipam->address_of(node_id, container_name).value_or("");
    if (ip.empty()) return;
    if (ipam->release(ip, container_name)) spdlog::info("network: address released ip={} container={}", ip, container_name);
  } catch (const std::exception& e) {
    spdlog::warn("network: address release failed ip={} container={} error=\"{}\" (the cleanup retries)", ip,
                 container_name, e.what());
  }
}

void NetworkSync::cleanup(const std::set<std::string>& existing) {
  std::shared_ptr<ipam::Ipam> ipam;
  std::string node_id;
  {
    std::lock_guard lock(mu_);
    if (!ready_ || !ipam_ || !applied_) return;
    ipam = ipam_;
    node_id = applied_->node_id;
  }
  try {
    for (const auto& ip : ipam->release_unused(node_id, existing))
      spdlog::info("network: unused address released ip={}", ip);
  } catch (const std::exception& e) {
    spdlog::debug("network: address cleanup failed error=\"{}\"", e.what());
  }
  std::lock_guard lock(mu_);
  for (auto it = owned_.begin(); it != owned_.end();) it = existing.count(it->first) ? std::next(it) : owned_.erase(it);
}

kontena::etcd::EtcdClient* NetworkSync::etcd_client() {
  std::lock_guard lock(mu_);
  return etcd_.get();
}

ipam::Ipam* NetworkSync::ipam() {
  std::lock_guard lock(mu_);
  return ipam_.get();
}

bool NetworkSync::ready() const {
  std::lock_guard lock(mu_);
  return ready_;
}

nlohmann::json NetworkSync::member_status() {
  std::lock_guard lock(mu_);
  if (!supervisor_) return nullptr;
  auto s = supervisor_->status();
  return {{"state", s.state},       {"pid", s.pid},         {"error", s.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.error)},
          {"restarts", s.restarts}, {"adopted", s.adopted}, {"cluster_state", s.cluster_state}};
}

nlohmann::json NetworkSync::status() {
  std::lock_guard lock(mu_);
  nlohmann::json j{{"enabled", options_.enabled},
                   {"ready", ready_},
                   {"error", error_.empty() ? nlohmann::json(nullptr) : nlohmann::json(error_)},
                   {"overlay_ip", overlay_ip_.empty() ? nlohmann::json(nullptr) : nlohmann::json(overlay_ip_)},
                   {"slice", slice_.empty() ? nlohmann::json(nullptr) : nlohmann::json(slice_)},
                   {"peers", applied_ ? nlohmann::json(applied_->peers) : nlohmann::json::array()}};
  if (dns_) {
    auto st = dns_->stats();
    j["dns"] = {{"listen", overlay_ip_ + ":" + std::to_string(options_.dns_port)}, {"records", table_ ? table_->size() : 0},
                {"queries", st.queries}};
  }
  return j;
}

}  // namespace kontena::agent
