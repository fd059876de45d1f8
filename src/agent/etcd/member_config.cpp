#include "agent/etcd/member_config.h"

#include <algorithm>

#include "common/error.h"
#include "common/ipv4.h"

namespace kontena::agent::etcd {

namespace {

using kontena::etcd::Member;

constexpr int peer_port = 2380;

bool starts_with_http(const std::string& url) { return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0; }

// The overlay addresses of nodes 1..initial_size: the subnet's base + N (10.81.0.0/16 -> 10.81.0.N).
std::vector<std::string> initial_node_addresses(const std::string& subnet, int initial_size) {
  if (initial_size < 1) invalid("initial_size", "a grid's initial_size must be at least 1 (3, 5 or 7 are recommended)");
  auto cidr = net::try_parse_cidr(subnet, net::HostBits::drop);
  if (!cidr)
    invalid("subnet", "the grid subnet \"" + subnet + "\" is not an IPv4 network in CIDR form (e.g. 10.81.0.0/16)");
  auto [base, prefix] = *cidr;
  // Node numbers 1..initial_size must be host addresses of the subnet (not the broadcast address).
  std::uint64_t hosts = prefix >= 31 ? 0 : (std::uint64_t{1} << (32 - prefix)) - 2;
  if (static_cast<std::uint64_t>(initial_size) > hosts)
    invalid("subnet", "the grid subnet " + subnet + " has no room for " + std::to_string(initial_size) +
                          " initial nodes; use a larger subnet (e.g. 10.81.0.0/16)");
  std::vector<std::string> out;
  for (int i = 1; i <= initial_size; ++i) out.push_back(net::format_ipv4(base + static_cast<std::uint32_t>(i)));
  return out;
}

std::string entry(const std::string& name, const std::string& peer_url) { return name + "=" + peer_url; }

bool has_url(const std::vector<std::string>& urls, const std::string& url) {
  return std::find(urls.begin(), urls.end(), url) != urls.end();
}

// A member's name for --initial-cluster: its own, else the initial node whose peer URL it has (a
// member added but not started has no name yet), else one made from its id. etcd matches the
// members of an existing cluster by peer URL; only this member's own name must be right.
std::string name_for(const EtcdMemberConfig& config, const Member& member) {
  if (!member.name.empty()) return member.name;
  for (std::size_t i = 0; i < config.initial_peer_urls.size(); ++i)
    if (has_url(member.peer_urls, config.initial_peer_urls[i])) return "node-" + std::to_string(i + 1);
  char hex[17] = {};
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(member.id));
  return std::string("member-") + hex;
}

// The current members (but `skip`, and any with our peer URL), then this member as node-N.
std::vector<std::string> existing_cluster(const EtcdMemberConfig& config, const std::vector<Member>& members,
                                          std::optional<std::uint64_t> skip) {
  std::vector<std::string> out;
  for (const auto& member : members) {
    if (skip && member.id == *skip) continue;
    if (has_url(member.peer_urls, config.peer_url())) continue;
    for (const auto& url : member.peer_urls) out.push_back(entry(name_for(config, member), url));
  }
  out.push_back(entry(config.member_name(), config.peer_url()));
  return out;
}

std::vector<std::string> initial_cluster(const EtcdMemberConfig& config) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < config.initial_peer_urls.size(); ++i)
    out.push_back(entry("node-" + std::to_string(i + 1), config.initial_peer_urls[i]));
  return out;
}

}  // namespace

std::string EtcdMemberConfig::local_client_url() const {
  for (const auto& url : listen_client_urls)
    if (url.find("://127.0.0.1:") != std::string::npos || url.find("://localhost:") != std::string::npos) return url;
  return client_url();
}

std::vector<std::string> EtcdMemberConfig::other_client_urls() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < initial_client_urls.size(); ++i)
    if (static_cast<int>(i) + 1 != node_number) out.push_back(initial_client_urls[i]);
  return out;
}

void validate_member_config(const EtcdMemberConfig& config) {
  if (config.etcd_bin.empty()) invalid("etcd_bin", "the etcd binary is not set (Debian: /usr/bin/etcd from etcd-server)");
  if (config.data_dir.empty()) invalid("data_dir", "the etcd member needs a data directory");
  if (config.cluster_token.empty()) invalid("cluster_token", "the etcd cluster token (the grid name) is empty");
  if (config.initial_peer_urls.empty()) invalid("initial_peer_urls", "the etcd member has no initial peer URLs");
  if (config.initial_client_urls.size() != config.initial_peer_urls.size())
    invalid("initial_client_urls", "the etcd member needs one client URL per initial peer URL (" +
                                       std::to_string(config.initial_peer_urls.size()) + "), got " +
                                       std::to_string(config.initial_client_urls.size()));
  int size = static_cast<int>(config.initial_peer_urls.size());
  if (config.node_number < 1 || config.node_number > size)
    invalid("node_number", "node number " + std::to_string(config.node_number) + " is not an initial node (1.." +
                               std::to_string(size) + "): only the grid's first initial_size nodes run an etcd member");
  for (const auto* urls : {&config.initial_peer_urls, &config.initial_client_urls, &config.listen_client_urls})
    for (const auto& url : *urls)
      if (!starts_with_http(url)) invalid("urls", "\"" + url + "\" is not an http:// URL");
  for (std::size_t i = 0; i < config.initial_peer_urls.size(); ++i)
    for (std::size_t j = i + 1; j < config.initial_peer_urls.size(); ++j)
      if (config.initial_peer_urls[i] == config.initial_peer_urls[j])
        invalid("initial_peer_urls", "initial nodes " + std::to_string(i + 1) + " and " + std::to_string(j + 1) +
                                         " have the same peer URL " + config.initial_peer_urls[i]);
  if (config.listen_client_urls.empty()) invalid("listen_client_urls", "the etcd member listens on no client URL");
  if (config.heartbeat_ms <= 0 || config.election_ms < 5 * config.heartbeat_ms)
    invalid("election_ms", "etcd's election timeout must be at least 5 heartbeats (heartbeat " +
                               std::to_string(config.heartbeat_ms) + " ms, election " +
                               std::to_string(config.election_ms) + " ms)");
}

EtcdMemberConfig member_config_for(const std::string& grid, const std::string& subnet, int initial_size,
                                   int node_number, const std::string& etcd_bin, const std::string& data_dir) {
  if (grid.empty()) invalid("grid", "the grid name (the etcd cluster token) is empty");
  auto addresses = initial_node_addresses(subnet, initial_size);
  if (node_number < 1 || node_number > initial_size)
    invalid("node_number", "node number " + std::to_string(node_number) + " is not one of the grid's " +
                               std::to_string(initial_size) +
                               " initial nodes: only nodes 1..initial_size run an etcd member (the others use the "
                               "initial members' client URLs)");
  EtcdMemberConfig config;
  config.etcd_bin = etcd_bin;
  config.data_dir = data_dir;
  config.cluster_token = grid;
  config.node_number = node_number;
  for (const auto& address : addresses) {
    config.initial_peer_urls.push_back("http://" + address + ":" + std::to_string(peer_port));
    config.initial_client_urls.push_back("http://" + address + ":2379");
  }
  config.listen_client_urls = {"http://127.0.0.1:2379", config.client_url()};
  validate_member_config(config);
  return config;
}

std::vector<std::string> grid_etcd_endpoints(const std::string& subnet, int initial_size, int client_port) {
  if (client_port < 1 || client_port > 65535) invalid("client_port", "etcd client port " + std::to_string(client_port) + " is not 1..65535");
  std::vector<std::string> out;
  for (const auto& address : initial_node_addresses(subnet, initial_size))
    out.push_back("http://" + address + ":" + std::to_string(client_port));
  return out;
}

const char* to_string(BootstrapPlan::Kind kind) noexcept {
  switch (kind) {
    case BootstrapPlan::Kind::restart_with_data: return "restart_with_data";
    case BootstrapPlan::Kind::bootstrap: return "bootstrap";
    case BootstrapPlan::Kind::replace: return "replace";
    case BootstrapPlan::Kind::join: return "join";
    case BootstrapPlan::Kind::resume_join: return "resume_join";
  }
  return "unknown";
}

BootstrapPlan plan_bootstrap(const EtcdMemberConfig& config, bool has_data, std::optional<std::vector<Member>> members,
                             const std::vector<std::string>& saved_initial_cluster) {
  validate_member_config(config);
  BootstrapPlan plan;
  if (has_data) {
    // etcd ignores the initial-cluster flags when it has data; they only have to name this member.
    plan.kind = BootstrapPlan::Kind::restart_with_data;
    plan.cluster_state = "existing";
    plan.initial_cluster = saved_initial_cluster.empty() ? initial_cluster(config) : saved_initial_cluster;
    plan.reason = "the member has data in its data dir";
    return plan;
  }
  if (!members) {
    plan.kind = BootstrapPlan::Kind::bootstrap;
    plan.cluster_state = "new";
    plan.initial_cluster = initial_cluster(config);
    plan.reason = "no other member answered: bootstrapping the grid's etcd cluster";
    return plan;
  }
  // Our predecessor: the member with our peer URL, else the one with our name.
  const Member* ours = nullptr;
  for (const auto& member : *members)
    if (has_url(member.peer_urls, config.peer_url())) ours = &member;
  if (!ours)
    for (const auto& member : *members)
      if (member.name == config.member_name()) ours = &member;

  if (!ours) {
    plan.kind = BootstrapPlan::Kind::join;
    plan.cluster_state = "existing";
    plan.add_member = true;
    plan.initial_cluster = existing_cluster(config, *members, std::nullopt);
    plan.reason = "the cluster has no member " + config.member_name() + ": adding it";
    return plan;
  }
  bool started = !ours->client_urls.empty();
  if (!started && !ours->name.empty() && has_url(ours->peer_urls, config.peer_url())) {
    // Named but never published its client URLs: created by the initial cluster of a bootstrap
    // that this member has not joined yet.
    plan.kind = BootstrapPlan::Kind::bootstrap;
    plan.cluster_state = "new";
    plan.initial_cluster = initial_cluster(config);
    plan.reason = "the cluster is still bootstrapping and waits for " + config.member_name();
    return plan;
  }
  if (!started && ours->name.empty() && has_url(ours->peer_urls, config.peer_url())) {
    // Added (by an earlier attempt of this member) but never started: join as that member.
    plan.kind = BootstrapPlan::Kind::resume_join;
    plan.cluster_state = "existing";
    plan.initial_cluster = existing_cluster(config, *members, std::nullopt);
    plan.reason = "the cluster has " + config.member_name() + " added but not started: joining";
    return plan;
  }
  plan.kind = BootstrapPlan::Kind::replace;
  plan.cluster_state = "existing";
  plan.remove_member = ours->id;
  plan.add_member = true;
  plan.initial_cluster = existing_cluster(config, *members, ours->id);
  plan.reason = "the cluster has a member " + (ours->name.empty() ? config.member_name() : ours->name) +
                " that ran before and this node has no data: replacing it";
  return plan;
}

std::vector<std::string> etcd_arguments(const EtcdMemberConfig& config, const BootstrapPlan& plan,
                                        const std::string& data_dir) {
  auto join = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
    return out;
  };
  return {
      config.etcd_bin,
      "--name", config.member_name(),
      "--data-dir", data_dir,
      "--listen-peer-urls", config.peer_url(),
      "--initial-advertise-peer-urls", config.peer_url(),
      "--listen-client-urls", join(config.listen_client_urls),
      "--advertise-client-urls", config.client_url(),
      "--initial-cluster", join(plan.initial_cluster),
      "--initial-cluster-state", plan.cluster_state,
      "--initial-cluster-token", config.cluster_token,
      "--heartbeat-interval", std::to_string(config.heartbeat_ms),
      "--election-timeout", std::to_string(config.election_ms),
      // Small machines: snapshots and compaction keep memory and disk low; the grid's data is small.
      "--snapshot-count", "10000",
      "--quota-backend-bytes", std::to_string(512LL * 1024 * 1024),
      "--auto-compaction-mode", "periodic",
      "--auto-compaction-retention", "1",
      "--max-snapshots", "3",
      "--max-wals", "3",
      "--logger", "zap",
      "--log-outputs", "stderr",
  };
}

void apply_membership(const EtcdMemberConfig& config, const BootstrapPlan& plan, kontena::etcd::EtcdClient& cluster) {
  int size = static_cast<int>(config.initial_peer_urls.size());
  auto lost_majority = [&](const std::string& step, const std::exception& e) {
    std::string said = e.what();
    // etcd's strict reconfiguration check also refuses changes until the members it has were
    // connected for 5 s (right after a restart): that clears by itself.
    std::string hint = said.find("unhealthy cluster") != std::string::npos
                           ? "; if a majority is online, etcd accepts the change once its members have been "
                             "connected for a few seconds"
                           : "";
    fail(ErrorKind::unavailable,
         "the grid's etcd cluster has lost its majority: " + config.member_name() + " cannot " + step +
             " until a majority of the initial nodes (" + std::to_string(size / 2 + 1) + " of " +
             std::to_string(size) + ") is back online; it keeps retrying" + hint + " (etcd: " + said + ")");
  };
  if (plan.remove_member) {
    try {
      cluster.member_remove(*plan.remove_member);
    } catch (const Error& e) {
      // Removed already (an earlier attempt got that far): go on with the add.
      if (e.kind() != ErrorKind::not_found) lost_majority("replace its lost predecessor", e);
    }
  }
  if (plan.add_member) {
    try {
      cluster.member_add({config.peer_url()});
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::conflict) lost_majority("join the cluster", e);
    }
  }
}

}  // namespace kontena::agent::etcd
