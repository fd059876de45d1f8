#include "agent/ipam/ipam.h"

#include <algorithm>
#include <charconv>

#include "common/error.h"
#include "common/log.h"

namespace kontena::agent::ipam {

using Json = nlohmann::json;

namespace {

// Node ids are Docker engine ids ("JFG7:SRD6:...") or names; owners are container names.
bool safe_name(const std::string& name) {
  return !name.empty() && name.size() <= 253 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == ':';
  });
}

void check_node(const std::string& node_id) {
  if (!safe_name(node_id))
    fail(ErrorKind::invalid, "node id \"" + node_id + "\" cannot name an IPAM claim (letters, digits, - _ . : only)");
}

// Adds what was being done to an unavailable etcd's message (which already says why and what to do).
[[noreturn]] void rethrow_unavailable(const Error& e, const std::string& doing) {
  throw Error(ErrorKind::unavailable, doing + ": " + e.what(), e.field());
}

}  // namespace

Ipam::Ipam(etcd::EtcdClient& etcd, IpamConfig config, const Clock* clock)
    : etcd_(etcd), config_(std::move(config)), clock_(clock ? clock : &system_clock_), prefix_("/kontena/ipam/") {
  if (!safe_name(config_.pool))
    fail(ErrorKind::invalid, "IPAM pool name \"" + config_.pool + "\" must be letters, digits, - _ . only", "pool");
  subnet_ = parse_cidr(config_.subnet, "grid subnet");
  if (subnet_.prefix < 8 || subnet_.prefix > 24)
    fail(ErrorKind::invalid,
         "grid subnet " + config_.subnet + " must have a prefix from /8 to /24 (nodes take the lower half, "
         "containers the upper half), e.g. 10.81.0.0/16",
         "subnet");
  iprange_.prefix = subnet_.prefix + 1;
  iprange_.base = subnet_.base + (std::uint32_t{1} << (32 - iprange_.prefix));
  slice_prefix_ = config_.slice_prefix == 0 ? std::min(subnet_.prefix + 9, 28) : config_.slice_prefix;
  if (slice_prefix_ < iprange_.prefix || slice_prefix_ > 30)
    fail(ErrorKind::invalid,
         "slice prefix /" + std::to_string(slice_prefix_) + " does not fit grid subnet " + config_.subnet +
             ": it must be from /" + std::to_string(iprange_.prefix) + " (the whole upper half) to /30, or 0 for auto",
         "slice_prefix");
}

std::string Ipam::address_key(const std::string& ip) const { return prefix_ + "addresses/" + config_.pool + "/" + ip; }

std::string Ipam::record(const std::string& node_id, const std::string& owner) const {
  return Json{{"owner", owner}, {"node", node_id}, {"at", clock_->now_unix_ms()}}.dump();
}

void Ipam::ensure_pool() {
  if (pool_checked_) return;
  const std::string key = prefix_ + "pools/" + config_.pool;
  const std::string wanted = Json{{"subnet", subnet_.str()}, {"iprange", iprange_.str()}}.dump();
  if (!etcd_.create(key, wanted)) {
    auto existing = etcd_.get(key);
    if (existing) {
      Json stored = Json::parse(existing->value, nullptr, false);
      std::string stored_subnet = stored.is_object() ? stored.value("subnet", "") : "";
      if (stored_subnet != subnet_.str())
        fail(ErrorKind::conflict, "IPAM pool " + config_.pool + " in etcd has subnet \"" + stored_subnet +
                                      "\", but this agent is configured with " + subnet_.str() +
                                      ": every node of a grid must use the grid's subnet");
    }
  }
  pool_checked_ = true;
}

std::optional<Cidr> Ipam::existing_slice(const std::string& node_id) {
  auto claim = etcd_.get(prefix_ + "pool-nodes/" + config_.pool + "/" + node_id);
  if (!claim) return std::nullopt;
  Cidr slice;
  try {
    slice = parse_cidr(claim->value, "slice");
  } catch (const Error&) {
    return std::nullopt;
  }
  // The node record is only an index: the claim under subnets/ is what counts.
  auto owner = etcd_.get(prefix_ + "subnets/" + config_.pool + "/" + slice.str());
  if (!owner || owner->value != node_id) return std::nullopt;
  return slice;
}

std::string Ipam::node_subnet(const std::string& node_id) {
  check_node(node_id);
  std::lock_guard lock(mutex_);
  try {
    ensure_pool();
    if (auto slice = existing_slice(node_id)) return slice->str();
    return claim_slice(node_id);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::unavailable) throw;
    rethrow_unavailable(e, "node " + node_id + " cannot claim its container address slice");
  }
}

std::string Ipam::claim_slice(const std::string& node_id) {
  const std::string claims = prefix_ + "subnets/" + config_.pool + "/";
  const std::string index = prefix_ + "pool-nodes/" + config_.pool + "/" + node_id;
  std::set<std::string> taken;
  std::vector<Cidr> held;  // claims of any size (a pool may hold slices of an earlier slice size)
  for (const auto& kv : etcd_.list(claims)) {
    std::string slice = kv.key.substr(claims.size());
    // A claim made before a crash that left no index record: adopt it.
    if (kv.value == node_id) {
      etcd_.put(index, slice);
      return slice;
    }
    taken.insert(slice);
    try {
      held.push_back(parse_cidr(slice, "slice"));
    } catch (const Error&) {
      // not ours to judge: its key stays taken as it is
    }
  }
  auto overlaps_held = [&](const Cidr& c) {
    for (const auto& h : held)
      if (c.base <= h.last() && h.base <= c.last()) return true;
    return false;
  };
  const std::uint32_t slice_size = std::uint32_t{1} << (32 - slice_prefix_);
  const std::uint32_t count = iprange_.size() / slice_size;
  for (std::uint32_t i = 0; i < count; ++i) {
    Cidr slice{iprange_.base + i * slice_size, slice_prefix_};
    const std::string cidr = slice.str();
    if (taken.count(cidr) || overlaps_held(slice)) continue;
    if (!etcd_.create(claims + cidr, node_id)) continue;  // another node was quicker
    etcd_.put(index, cidr);
    spdlog::info("ipam: slice claimed node={} slice={} pool={}", node_id, cidr, config_.pool);
    return cidr;
  }
  fail(ErrorKind::conflict, "no free address slice in " + iprange_.str() + " of IPAM pool " + config_.pool + " (" +
                                std::to_string(taken.size()) + " nodes already hold one of the " +
                                std::to_string(count) + " /" + std::to_string(slice_prefix_) +
                                " slices): remove nodes that left the grid, or use a larger grid subnet");
}

std::vector<Ipam::Address> Ipam::slice_addresses(const Cidr& slice) {
  // List the enclosing whole octets ("10.81.130.") rather than the whole pool, then filter.
  const int octets = slice.prefix / 8;
  std::string dotted = format_ipv4(slice.base);
  std::size_t cut = 0;
  for (int i = 0; i < octets; ++i) cut = dotted.find('.', cut) + 1;
  const std::string base = prefix_ + "addresses/" + config_.pool + "/";
  std::vector<Address> out;
  for (const auto& kv : etcd_.list(base + dotted.substr(0, cut))) {
    Address address;
    address.ip = kv.key.substr(base.size());
    try {
      address.value = parse_ipv4(address.ip, "address");
    } catch (const Error&) {
      continue;
    }
    if (!slice.contains(address.value)) continue;
    address.raw = kv.value;
    address.create_revision = kv.create_revision;
    Json json = Json::parse(kv.value, nullptr, false);
    if (json.is_object()) {
      if (json.contains("owner") && json["owner"].is_string()) address.owner = json["owner"].get<std::string>();
      if (json.contains("node") && json["node"].is_string()) address.node = json["node"].get<std::string>();
      if (json.contains("at") && json["at"].is_number_integer()) address.at = json["at"].get<std::int64_t>();
    }
    out.push_back(std::move(address));
  }
  return out;
}

std::string Ipam::allocate(const std::string& node_id, const std::string& owner, const std::string& preferred) {
  check_node(node_id);
  if (owner.empty()) fail(ErrorKind::invalid, "an address needs an owner (the container name)", "owner");
  std::lock_guard lock(mutex_);
  try {
    ensure_pool();
    auto claimed = existing_slice(node_id);
    const Cidr slice = claimed ? *claimed : parse_cidr(claim_slice(node_id), "slice");
    const std::string cidr = slice.str();
    auto addresses = slice_addresses(slice);

    std::set<std::uint32_t> used;
    const Address* newest = nullptr;
    for (const auto& address : addresses) {
      if (address.owner == owner) return address.ip;
      used.insert(address.value);
      if (!newest || address.create_revision > newest->create_revision) newest = &address;
    }
    const std::uint32_t first = slice.base + 1;
    const std::uint32_t last = slice.last() - 1;  // the broadcast address is never handed out
    const std::string value = record(node_id, owner);

    if (!preferred.empty()) {
      std::uint32_t ip = 0;
      bool usable = true;
      try {
        ip = parse_ipv4(preferred, "preferred address");
      } catch (const Error&) {
        usable = false;
      }
      if (usable && ip >= first && ip <= last && !used.count(ip) && etcd_.create(address_key(preferred), value)) {
        cursor_[cidr] = ip;
        spdlog::info("ipam: address allocated ip={} owner={} node={} preferred=true", preferred, owner, node_id);
        return preferred;
      }
    }

    // Round-robin after the address handed out last (this process's memory, else the newest
    // record), so that an address released a moment ago is not reused at once.
    auto cursor = cursor_.find(cidr);
    std::uint32_t after = cursor != cursor_.end() ? cursor->second : newest ? newest->value : slice.base;
    const std::uint32_t hosts = last - first + 1;
    for (std::uint32_t step = 1; step <= hosts; ++step) {
      const std::uint32_t ip = first + ((after < first ? hosts - 1 : after - first) + step) % hosts;
      if (used.count(ip)) continue;
      const std::string text = format_ipv4(ip);
      if (!etcd_.create(address_key(text), value)) {
        used.insert(ip);  // recorded meanwhile by someone else
        continue;
      }
      cursor_[cidr] = ip;
      spdlog::info("ipam: address allocated ip={} owner={} node={}", text, owner, node_id);
      return text;
    }
    fail(ErrorKind::conflict, "the address slice " + cidr + " of node " + node_id + " is full (" +
                                  std::to_string(hosts) + " addresses in use): remove containers that are not "
                                  "needed, or give the grid a larger slice size");
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::unavailable) throw;
    rethrow_unavailable(e, "the deploy cannot get an overlay address for " + owner + " on node " + node_id);
  }
}

bool Ipam::release(const std::string& ip, const std::string& owner) {
  parse_ipv4(ip, "address to release");
  std::lock_guard lock(mutex_);
  auto current = etcd_.get(address_key(ip));
  if (!current) return false;
  if (!owner.empty()) {
    Json json = Json::parse(current->value, nullptr, false);
    if (!json.is_object() || json.value("owner", "") != owner) return false;
  }
  if (!etcd_.compare_and_delete(address_key(ip), current->value)) return false;
  spdlog::info("ipam: address released ip={} owner={}", ip, owner);
  return true;
}

std::optional<std::string> Ipam::address_of(const std::string& node_id, const std::string& owner) {
  check_node(node_id);
  std::lock_guard lock(mutex_);
  auto slice = existing_slice(node_id);
  if (!slice) return std::nullopt;
  for (const auto& address : slice_addresses(*slice))
    if (address.owner == owner) return address.ip;
  return std::nullopt;
}

std::vector<std::string> Ipam::release_unused(const std::string& node_id, const std::set<std::string>& owners_in_use) {
  check_node(node_id);
  std::lock_guard lock(mutex_);
  std::vector<std::string> released;
  auto slice = existing_slice(node_id);
  if (!slice) return released;
  const std::int64_t young = clock_->now_unix_ms() - config_.unused_grace.count();
  for (const auto& address : slice_addresses(*slice)) {
    // A record that cannot be read is kept: never hand out or drop what may be in use.
    if (address.owner.empty() || owners_in_use.count(address.owner)) continue;
    if (address.at > young) continue;
    if (etcd_.compare_and_delete(address_key(address.ip), address.raw)) {
      spdlog::info("ipam: unused address released ip={} owner={} node={}", address.ip, address.owner, node_id);
      released.push_back(address.ip);
    }
  }
  return released;
}

void Ipam::release_node(const std::string& node_id) {
  check_node(node_id);
  std::lock_guard lock(mutex_);
  const std::string claims = prefix_ + "subnets/" + config_.pool + "/";
  const std::string base = prefix_ + "addresses/" + config_.pool + "/";
  for (const auto& kv : etcd_.list(claims)) {
    if (kv.value != node_id) continue;
    const std::string cidr = kv.key.substr(claims.size());
    // Addresses first, then the claim: a failure half-way leaves the slice still claimed, so it
    // is never handed to another node with addresses in it; calling again finishes.
    Cidr slice;
    try {
      slice = parse_cidr(cidr, "slice");
    } catch (const Error&) {
      etcd_.compare_and_delete(kv.key, node_id);
      continue;
    }
    for (const auto& address : slice_addresses(slice)) etcd_.compare_and_delete(base + address.ip, address.raw);
    etcd_.compare_and_delete(kv.key, node_id);
    cursor_.erase(cidr);
    spdlog::info("ipam: node released node={} slice={} pool={}", node_id, cidr, config_.pool);
  }
  etcd_.remove(prefix_ + "pool-nodes/" + config_.pool + "/" + node_id);
}

Json Ipam::describe() {
  const std::string nodes = prefix_ + "pool-nodes/" + config_.pool + "/";
  Json slices = Json::object();
  for (const auto& kv : etcd_.list(nodes)) slices[kv.key.substr(nodes.size())] = kv.value;
  auto addresses = etcd_.list(prefix_ + "addresses/" + config_.pool + "/");
  return {{"pool", config_.pool},
          {"subnet", subnet_.str()},
          {"iprange", iprange_.str()},
          {"slice_prefix", slice_prefix_},
          {"slices", slices},
          {"addresses", addresses.size()}};
}

}  // namespace kontena::agent::ipam
