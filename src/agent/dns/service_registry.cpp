#include "agent/dns/service_registry.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <tuple>

#include "common/error.h"

namespace kontena::agent::dns {

namespace {

std::string stack_part(const std::string& stack) { return stack.empty() ? "null" : stack; }

}  // namespace

std::string service_record_key(const std::string& grid, const std::string& node_id, const ServiceInstance& i) {
  return std::string(kDnsPrefix) + grid + "/" + node_id + "/" + stack_part(i.stack) + "." + i.service + "-" +
         std::to_string(i.instance_number);
}

std::string service_record_json(const ServiceInstance& i) {
  nlohmann::json j = {{"grid", i.grid},
                      {"stack", stack_part(i.stack)},
                      {"service", i.service},
                      {"instance_number", i.instance_number},
                      {"ip", i.ip},
                      {"healthy", i.healthy ? nlohmann::json(*i.healthy) : nlohmann::json(nullptr)},
                      {"exposed", i.exposed},
                      {"node", i.node}};
  return j.dump();
}

bool parse_service_record(const std::string& text, ServiceInstance& out) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  auto string_field = [&](const char* name, std::string& to) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return false;
    to = it->get<std::string>();
    return true;
  };
  ServiceInstance i;
  if (!string_field("grid", i.grid) || !string_field("stack", i.stack) || !string_field("service", i.service) ||
      !string_field("ip", i.ip) || !string_field("node", i.node))
    return false;
  auto number = j.find("instance_number");
  if (number == j.end() || !number->is_number_integer()) return false;
  auto value = number->get<std::int64_t>();
  if (value < 1 || value > 1'000'000) return false;
  i.instance_number = static_cast<int>(value);
  auto healthy = j.find("healthy");
  if (healthy != j.end() && healthy->is_boolean()) i.healthy = healthy->get<bool>();
  else if (healthy != j.end() && !healthy->is_null()) return false;
  auto exposed = j.find("exposed");
  if (exposed != j.end() && !exposed->is_boolean()) return false;
  i.exposed = exposed != j.end() && exposed->get<bool>();
  out = std::move(i);
  return true;
}

ServiceDiscovery::ServiceDiscovery(::kontena::etcd::EtcdClient& etcd, DnsTable& table, std::string grid, std::string node_id,
                                   std::function<std::vector<ServiceInstance>()> local_instances,
                                   ServiceDiscoveryOptions options)
    : etcd_(etcd),
      table_(table),
      grid_(std::move(grid)),
      node_id_(std::move(node_id)),
      local_instances_(std::move(local_instances)),
      options_(options),
      clock_(options.clock ? *options.clock : system_clock_) {
  if (grid_.empty() || grid_.find('/') != std::string::npos)
    fail(ErrorKind::invalid, "dns: the grid name '" + grid_ + "' cannot be part of an etcd key (empty or with '/')");
  if (node_id_.empty() || node_id_.find('/') != std::string::npos)
    fail(ErrorKind::invalid, "dns: the node id '" + node_id_ + "' cannot be part of an etcd key (empty or with '/')");
  if (options_.ttl.count() < 1) fail(ErrorKind::invalid, "dns: the record lease TTL must be at least 1 s");
  prefix_ = std::string(kDnsPrefix) + grid_ + "/";
  own_prefix_ = prefix_ + node_id_ + "/";
}

ServiceDiscovery::~ServiceDiscovery() { stop(); }

void ServiceDiscovery::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    spdlog::info("dns: service discovery started grid={} node={} ttl={}s", grid_, node_id_, options_.ttl.count());
    while (true) {
      sync_once();
      std::unique_lock lock(mutex_);
      // Wake for the next round, a poke, or the keepalive, whichever comes first.
      auto wait = options_.sync_interval;
      auto keepalive_in = std::chrono::duration_cast<std::chrono::milliseconds>(next_keepalive_ - clock_.now());
      if (keepalive_in < wait) wait = std::max(keepalive_in, std::chrono::milliseconds(0));
      wake_.wait_for(lock, wait, [this] { return stopping_ || poked_; });
      if (stopping_) return;
      poked_ = false;
    }
  });
}

void ServiceDiscovery::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ServiceDiscovery::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  wake_.notify_all();
}

bool ServiceDiscovery::etcd_ok() const {
  std::lock_guard lock(mutex_);
  return etcd_ok_;
}

void ServiceDiscovery::rebuild_table() {
  std::vector<ServiceInstance> all = remote_;
  all.insert(all.end(), local_.begin(), local_.end());
  table_.set_instances(std::move(all));
  table_built_ = true;
}

void ServiceDiscovery::new_lease() {
  lease_ = etcd_.lease_grant(options_.ttl);
  last_keepalive_ = clock_.now();
  // Everything goes out again under the new lease; records of ours left from before (another
  // lease, an earlier run of this agent) that are no longer desired are removed.
  published_.clear();
  for (const auto& kv : etcd_.list(own_prefix_))
    if (!desired_.count(kv.key)) etcd_.remove(kv.key);
}

void ServiceDiscovery::ensure_lease(Clock::time_point now) {
  if (lease_ == 0) {
    new_lease();
    return;
  }
  if (now - last_keepalive_ < keepalive_period()) return;
  if (etcd_.lease_keepalive(lease_)) {
    last_keepalive_ = now;
    return;
  }
  spdlog::info("dns: the lease of this node's records ended; publishing them again under a new one");
  new_lease();
}

void ServiceDiscovery::publish() {
  for (const auto& [key, value] : desired_) {
    auto it = published_.find(key);
    if (it != published_.end() && it->second == value) continue;
    etcd_.put(key, value, lease_);
    published_[key] = value;
  }
  for (auto it = published_.begin(); it != published_.end();) {
    if (desired_.count(it->first)) {
      ++it;
      continue;
    }
    etcd_.remove(it->first);
    it = published_.erase(it);
  }
}

bool ServiceDiscovery::read_remote() {
  std::int64_t revision = etcd_.revision(prefix_);
  if (revision == remote_revision_) return false;
  auto records = etcd_.list(prefix_);
  std::vector<ServiceInstance> remote;
  std::size_t unreadable = 0;
  std::map<std::string, std::string> own;
  for (const auto& kv : records) {
    if (kv.key.starts_with(own_prefix_)) {
      own.emplace(kv.key, kv.value);
      continue;
    }
    ServiceInstance instance;
    if (!parse_service_record(kv.value, instance)) {
      ++unreadable;
      continue;
    }
    remote.push_back(std::move(instance));
  }
  if (unreadable > 0) spdlog::warn("dns: {} record(s) under {} are not service records; ignored", unreadable, prefix_);
  // Records of ours that are gone or changed behind our back (the lease ended, someone removed
  // them): publish them again now.
  bool lost = false;
  for (auto it = published_.begin(); it != published_.end();) {
    auto found = own.find(it->first);
    if (found == own.end() || found->second != it->second) {
      lost = true;
      it = published_.erase(it);
    } else {
      ++it;
    }
  }
  if (lost) {
    if (!etcd_.lease_keepalive(lease_)) {
      spdlog::info("dns: the lease of this node's records ended; publishing them again under a new one");
      new_lease();
    } else {
      last_keepalive_ = clock_.now();
    }
    publish();
    revision = etcd_.revision(prefix_);
  }
  remote_revision_ = revision;
  bool changed = remote != remote_;
  remote_ = std::move(remote);
  return changed;
}

bool ServiceDiscovery::sync_once() {
  std::lock_guard round(round_mutex_);
  // The local instances first: they reach the table whatever etcd does.
  std::vector<ServiceInstance> local;
  try {
    local = local_instances_();
  } catch (const std::exception& e) {
    spdlog::warn("dns: the local service instances could not be read, keeping the last ones: {}", e.what());
    local = local_;
  }
  for (auto& instance : local) {
    instance.grid = grid_;
    instance.node = node_id_;
    if (instance.stack.empty()) instance.stack = "null";
  }
  std::sort(local.begin(), local.end(), [](const ServiceInstance& a, const ServiceInstance& b) {
    return std::tie(a.stack, a.service, a.instance_number, a.ip) < std::tie(b.stack, b.service, b.instance_number, b.ip);
  });
  bool local_changed = local != local_;
  if (local_changed) {
    local_ = std::move(local);
    desired_.clear();
    for (const auto& instance : local_)
      desired_[service_record_key(grid_, node_id_, instance)] = service_record_json(instance);
  }
  if (local_changed || !table_built_) rebuild_table();

  bool ok = true;
  std::string error;
  try {
    ensure_lease(clock_.now());
    publish();
    if (read_remote()) rebuild_table();
  } catch (const Error& e) {
    ok = false;
    error = e.what();
    // A write refused for the lease (it ended between keepalives): a new one next round.
    if (e.kind() == ErrorKind::not_found) lease_ = 0;
    // Whatever this round did not finish, the next one redoes: nothing is assumed written.
    remote_revision_ = -1;
  } catch (const std::exception& e) {
    ok = false;
    error = e.what();
    remote_revision_ = -1;
  }

  std::lock_guard lock(mutex_);
  next_keepalive_ = lease_ != 0 ? last_keepalive_ + keepalive_period() : Clock::time_point::max();
  if (!ok && etcd_ok_)
    spdlog::warn("dns: the grid's etcd cannot be reached; names keep resolving from the last table ({} names), "
                 "local changes still show: {}",
                 table_.size(), error);
  if (ok && !etcd_ok_) spdlog::info("dns: the grid's etcd is reachable again; service records are in sync");
  etcd_ok_ = ok;
  return ok;
}

}  // namespace kontena::agent::dns
