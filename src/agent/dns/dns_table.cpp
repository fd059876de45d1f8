#include "agent/dns/dns_table.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace kontena::agent::dns {

namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_label(std::string_view s) {
  if (s.empty() || s.size() > kMaxLabel) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

bool null_stack(std::string_view stack) { return stack.empty() || stack == "null"; }

bool parse_ipv4(const std::string& ip, Ipv4& out) {
  in_addr addr{};
  if (inet_pton(AF_INET, ip.c_str(), &addr) != 1) return false;
  std::copy_n(reinterpret_cast<const std::uint8_t*>(&addr.s_addr), 4, out.begin());
  return true;
}

// A name under construction: the service-level entries collect healthy addresses, instance
// entries every address; both are deduplicated at the end.
struct Builder {
  std::unordered_map<std::string, std::vector<Ipv4>> names;

  void add(const std::string& name, const Ipv4* address) {
    auto& addresses = names[name];
    if (address) addresses.push_back(*address);
    // The names between this one and the zone exist without addresses.
    std::string_view rest = name;
    while (true) {
      auto dot = rest.find('.');
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
      if (rest.size() < kZone.size()) break;
      names.try_emplace(std::string(rest));
    }
  }
};

}  // namespace

bool in_zone(std::string_view name) {
  if (name == kZone) return true;
  return name.size() > kZone.size() && name.ends_with(kZone) && name[name.size() - kZone.size() - 1] == '.';
}

std::string instance_problem(const ServiceInstance& i) {
  Ipv4 address;
  if (!parse_ipv4(i.ip, address)) return "'" + i.ip + "' is not an IPv4 address";
  if (!is_label(i.grid)) return "grid name '" + i.grid + "' is not a DNS label";
  if (!null_stack(i.stack) && !is_label(i.stack)) return "stack name '" + i.stack + "' is not a DNS label";
  if (!is_label(i.service)) return "service name '" + i.service + "' is not a DNS label";
  if (i.instance_number < 1) return "instance number " + std::to_string(i.instance_number) + " is below 1";
  std::string instance_label = i.service + "-" + std::to_string(i.instance_number);
  if (instance_label.size() > kMaxLabel) return "'" + instance_label + "' is longer than a DNS label (63)";
  // The longest name we make: <svc>-<n>.<stack>.<grid>.kontena.local
  std::size_t longest = instance_label.size() + 1 + i.stack.size() + 1 + i.grid.size() + 1 + kZone.size();
  if (longest > 253) return "the instance's DNS name would be longer than 253 characters";
  return {};
}

const DnsTable::Record* DnsTable::Snapshot::find(std::string_view name) const {
  auto it = records_.find(name);
  return it == records_.end() ? nullptr : &it->second;
}

DnsTable::DnsTable() : snapshot_(std::make_shared<const Snapshot>()) {}

void DnsTable::set_instances(std::vector<ServiceInstance> instances) {
  Builder builder;
  std::size_t left_out = 0;
  std::string first_problem;
  for (const auto& i : instances) {
    std::string problem = instance_problem(i);
    if (!problem.empty()) {
      if (left_out++ == 0) first_problem = i.stack + "/" + i.service + "-" + std::to_string(i.instance_number) + ": " + problem;
      continue;
    }
    Ipv4 address;
    parse_ipv4(i.ip, address);
    std::string grid = lowercase(i.grid);
    std::string service = lowercase(i.service);
    std::string instance = service + "-" + std::to_string(i.instance_number);
    const Ipv4* service_address = i.healthy == false ? nullptr : &address;
    std::string zone(kZone);
    if (null_stack(i.stack)) {
      builder.add(service + "." + grid + "." + zone, service_address);
      builder.add(instance + "." + grid + "." + zone, &address);
      builder.add(service + "." + zone, service_address);
      builder.add(instance + "." + zone, &address);
    } else {
      std::string stack = lowercase(i.stack);
      builder.add(service + "." + stack + "." + grid + "." + zone, service_address);
      builder.add(instance + "." + stack + "." + grid + "." + zone, &address);
      if (i.exposed) {
        builder.add(stack + "." + grid + "." + zone, service_address);
        builder.add(stack + "-" + std::to_string(i.instance_number) + "." + grid + "." + zone, &address);
      }
    }
  }
  if (left_out > 0)
    spdlog::warn("dns: left out {} service instance(s) that cannot be served; first: {}", left_out, first_problem);

  auto next = std::make_shared<Snapshot>();
  next->records_.reserve(builder.names.size());
  for (auto& [name, addresses] : builder.names) {
    // Sorted and unique: the same answers whatever order the instances came in.
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    next->records_.emplace(name, Record{std::move(addresses)});
  }
  snapshot_.store(std::shared_ptr<const Snapshot>(std::move(next)));
}

DnsTable::Answer DnsTable::lookup(std::string_view name) const {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string key = lowercase(name);
  Answer answer;
  answer.in_zone = in_zone(key);
  if (!answer.in_zone) return answer;
  auto snapshot = snapshot_.load();
  const Record* record = snapshot->find(key);
  if (!record) return answer;
  answer.exists = true;
  for (const auto& address : record->addresses) answer.ips.push_back(to_string(address));
  return answer;
}

std::size_t DnsTable::size() const { return snapshot_.load()->size(); }

}  // namespace kontena::agent::dns
