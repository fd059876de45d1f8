#include "master/deployer/convert.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>

namespace kontena::master::deployer {

namespace {

const Json* get(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string str(const Json& j, const char* key, std::string def = {}) {
  const Json* v = get(j, key);
  return v && v->is_string() ? v->get<std::string>() : def;
}

std::vector<std::string> strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  const Json* v = get(j, key);
  if (!v || !v->is_array()) return out;
  for (const auto& s : *v)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

std::optional<std::int64_t> opt_int(const Json& j, const char* key) {
  const Json* v = get(j, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->is_number_integer() ? v->get<std::int64_t>() : static_cast<std::int64_t>(v->get<double>());
}

std::optional<double> opt_number(const Json& j, const char* key) {
  const Json* v = get(j, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

bool boolean(const Json& j, const char* key) {
  const Json* v = get(j, key);
  return v && v->is_boolean() && v->get<bool>();
}

std::vector<protocol::PodHook> hooks_of(const Json& spec, const char* phase, int instance_number,
                                        const std::set<std::string>& done) {
  std::vector<protocol::PodHook> out;
  const Json* hooks = get(spec, "hooks");
  if (!hooks) return out;
  const Json* list = get(*hooks, phase);
  if (!list || !list->is_array()) return out;
  for (const auto& h : *list) {
    if (!h.is_object()) continue;
    if (!hook_applies(h.contains("instances") ? h["instances"] : Json("*"), instance_number)) continue;
    protocol::PodHook hook;
    hook.name = str(h, "name");
    hook.cmd = str(h, "cmd");
    hook.oneshot = boolean(h, "oneshot");
    if (hook.oneshot && done.count(hook.name)) continue;
    out.push_back(std::move(hook));
  }
  return out;
}

}  // namespace

std::string service_path(const Service& service) {
  return (service.stack_name.empty() ? std::string("null") : service.stack_name) + "/" + service.name;
}

std::string node_key(std::int64_t node_id) { return node_id ? std::to_string(node_id) : std::string(); }

std::vector<scheduler::Port> spec_ports(const Json& spec) {
  std::vector<scheduler::Port> out;
  const Json* ports = get(spec, "ports");
  if (!ports || !ports->is_array()) return out;
  for (const auto& p : *ports) {
    auto node_port = opt_int(p, "node_port");
    if (!node_port || *node_port <= 0) continue;
    scheduler::Port port;
    port.node_port = static_cast<int>(*node_port);
    port.container_port = static_cast<int>(opt_int(p, "container_port").value_or(0));
    port.protocol = str(p, "protocol", "tcp");
    out.push_back(port);
  }
  return out;
}

scheduler::ServiceSpec service_spec(const Service& service, const Grid& grid) {
  const Json& spec = service.spec;
  scheduler::ServiceSpec s;
  s.stack = service.stack_name.empty() ? "null" : service.stack_name;
  s.name = service.name;
  std::string strategy = "ha";
  if (const Json* d = get(spec, "deploy")) strategy = str(*d, "strategy", "ha");
  s.strategy = scheduler::parse_strategy(strategy);
  s.instances = static_cast<int>(opt_int(spec, "instances").value_or(1));
  s.affinity = strings(spec, "affinity");
  s.default_affinity = grid.default_affinity;
  s.stateful = boolean(spec, "stateful");
  s.cpus = opt_number(spec, "cpus");
  s.memory = opt_int(spec, "mem_limit");
  s.memory_swap = opt_int(spec, "memswap_limit");
  s.ports = spec_ports(spec);
  s.volumes_from = strings(spec, "volumes_from");
  s.net = str(spec, "network_mode");
  return s;
}

scheduler::SchedulerNode scheduler_node(const Node& node, std::chrono::system_clock::time_point not_before,
                                        std::vector<scheduler::NodeInstance> others) {
  scheduler::SchedulerNode n;
  n.id = node_key(node.id);
  n.name = node.name;
  n.node_number = node.node_number;
  n.labels = node.labels;
  n.availability = node.availability == "drain" ? scheduler::Availability::drain : scheduler::Availability::active;
  n.connected = node.connected;
  auto seen = std::chrono::system_clock::time_point(std::chrono::milliseconds(node.last_seen_at));
  n.last_seen = std::max(seen, not_before);
  if (auto c = opt_number(node.info, "cpus")) n.cpus = *c;
  if (auto m = opt_int(node.info, "mem_total")) n.mem_total = *m;
  if (const Json* stats = get(node.info, "stats")) {
    if (const Json* mem = get(*stats, "memory")) {
      if (auto total = opt_int(*mem, "total")) {
        n.has_memory_stats = true;
        if (n.mem_total == 0) n.mem_total = *total;
        n.mem_used = opt_int(*mem, "used").value_or(0);
        n.mem_cached = opt_int(*mem, "cached").value_or(0);
        n.mem_buffers = opt_int(*mem, "buffers").value_or(0);
      }
    }
  }
  n.instances = std::move(others);
  return n;
}

double min_health(const Json& spec) {
  if (const Json* d = get(spec, "deploy"))
    if (auto m = opt_number(*d, "min_health"); m && *m >= 0 && *m <= 1) return *m;
  return 0.8;
}

int max_in_flight(int instances, double min_health) {
  if (instances <= 0) return 1;
  // The epsilon keeps 20 * (1 - 0.8) at 4 despite binary floating point.
  double n = std::floor(instances * (1.0 - min_health) + 1e-9);
  int limit = static_cast<int>(std::clamp(n, 1.0, 20.0));
  return limit;
}

bool hook_applies(const Json& instances, int instance_number) {
  std::string text = "*";
  if (instances.is_string()) text = instances.get<std::string>();
  else if (instances.is_number_integer()) text = std::to_string(instances.get<long long>());
  else if (!instances.is_null()) return false;
  if (text == "*" || text.empty()) return true;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    if (auto end = item.find_last_not_of(" \t"); end != std::string::npos) item.erase(end + 1);
    if (item == "*") return true;
    if (!item.empty() && std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        item.size() < 9 && std::stoi(item) == instance_number)
      return true;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return false;
}

std::vector<std::string> volume_strings(const Json& volumes, const std::string& stack) {
  std::vector<std::string> out;
  if (!volumes.is_array()) return out;
  bool null_stack = stack.empty() || stack == "null";
  for (const auto& v : volumes) {
    if (v.is_string()) {
      out.push_back(v.get<std::string>());
      continue;
    }
    std::string type = str(v, "type", "anonymous");
    std::string source = str(v, "source");
    std::string target = str(v, "target");
    std::string flags = str(v, "flags");
    if (target.empty()) continue;
    std::string s;
    if (type == "anonymous" || source.empty()) s = target;
    else if (type == "named") s = (null_stack ? source : stack + "." + source) + ":" + target;
    else s = source + ":" + target;
    if (!flags.empty()) s += ":" + flags;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> shell_words(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < text.size()) word += text[++i];
      else word += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(word);
  return out;
}

protocol::ServicePod service_pod(const Service& service, const ServiceInstance& instance, const std::string& grid_name,
                                 const std::set<std::string>& done_hooks, bool exposed) {
  const Json& spec = service.spec;
  protocol::ServicePod pod;
  pod.service_id = std::to_string(service.id);
  pod.service_name = service.name;
  pod.stack_name = service.stack_name.empty() ? "null" : service.stack_name;
  pod.grid_name = grid_name;
  pod.instance_number = instance.instance_number;
  pod.deploy_rev = instance.deploy_rev;
  pod.service_revision = service.revision;
  std::string desired = instance.desired_state;
  if (desired != "running" && desired != "stopped" && desired != "terminated") desired = "stopped";
  if (service.state == "stopped" && desired == "running") desired = "stopped";
  pod.desired_state = desired;
  pod.image = str(spec, "image");
  if (const Json* cmd = get(spec, "command")) {
    if (cmd->is_array()) pod.cmd = strings(spec, "command");
    else if (cmd->is_string()) pod.cmd = shell_words(cmd->get<std::string>());
  }
  if (const Json* ep = get(spec, "entrypoint")) {
    if (ep->is_array()) pod.entrypoint = strings(spec, "entrypoint");
    else if (ep->is_string()) pod.entrypoint = shell_words(ep->get<std::string>());
  }
  pod.env = strings(spec, "environment");
  // Secrets need the vault (a later issue): the deploy logs a warning event, nothing is sent.
  if (const Json* ports = get(spec, "ports"); ports && ports->is_array()) {
    for (const auto& p : *ports) {
      protocol::PodPort port;
      port.container_port = static_cast<int>(opt_int(p, "container_port").value_or(0));
      port.node_port = static_cast<int>(opt_int(p, "node_port").value_or(0));
      port.protocol = str(p, "protocol", "tcp");
      port.ip = str(p, "ip", "0.0.0.0");
      if (port.container_port > 0) pod.ports.push_back(port);
    }
  }
  if (const Json* v = get(spec, "volumes")) pod.volumes = volume_strings(*v, pod.stack_name);
  pod.net = str(spec, "network_mode");
  if (pod.net.empty() || pod.net == "bridge") {
    pod.network = protocol::PodNetwork{"kontena", ""};
    const std::string grid_domain = grid_name + ".kontena.local";
    if (!pod.null_stack()) pod.dns_search.push_back(pod.stack_name + "." + grid_domain);
    pod.dns_search.push_back(grid_domain);
  }
  if (exposed) pod.labels["io.kontena.service.exposed"] = "true";
  pod.cpus = opt_number(spec, "cpus");
  if (auto v = opt_int(spec, "cpu_shares")) pod.cpu_shares = static_cast<int>(*v);
  pod.mem_limit = opt_int(spec, "mem_limit");
  pod.memswap_limit = opt_int(spec, "memswap_limit");
  pod.shm_size = opt_int(spec, "shm_size");
  pod.privileged = boolean(spec, "privileged");
  pod.cap_add = strings(spec, "cap_add");
  pod.cap_drop = strings(spec, "cap_drop");
  pod.user = str(spec, "user");
  pod.read_only = boolean(spec, "read_only");
  pod.pid = str(spec, "pid");
  if (const Json* logging = get(spec, "logging")) {
    pod.log_driver = str(*logging, "driver");
    if (const Json* opts = get(*logging, "options"); opts && opts->is_object())
      for (auto it = opts->begin(); it != opts->end(); ++it)
        pod.log_opts[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  pod.stop_signal = str(spec, "stop_signal");
  if (auto g = opt_int(spec, "stop_grace_period"); g && *g >= 0) pod.stop_grace_period = static_cast<int>(*g);
  pod.hooks.pre_start = hooks_of(spec, "pre_start", instance.instance_number, done_hooks);
  pod.hooks.post_start = hooks_of(spec, "post_start", instance.instance_number, done_hooks);
  pod.hooks.pre_stop = hooks_of(spec, "pre_stop", instance.instance_number, done_hooks);
  if (const Json* hc = get(spec, "health_check"); hc && hc->is_object()) {
    protocol::PodHealthCheck h;
    h.protocol = str(*hc, "protocol", "http");
    h.port = static_cast<int>(opt_int(*hc, "port").value_or(0));
    h.uri = str(*hc, "uri", "/");
    h.timeout = static_cast<int>(opt_int(*hc, "timeout").value_or(10));
    h.interval = static_cast<int>(opt_int(*hc, "interval").value_or(60));
    h.initial_delay = static_cast<int>(opt_int(*hc, "initial_delay").value_or(10));
    if (h.port > 0) pod.health_check = h;
  }
  if (const Json* d = get(spec, "deploy"))
    if (auto w = opt_int(*d, "wait_for_port"); w && *w > 0) pod.wait_for_port = static_cast<int>(*w);
  return pod;
}

std::vector<std::string> link_order(const Json& definition, const std::string& stack_name) {
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::string>> deps;
  const Json* services = get(definition, "services");
  if (!services || !services->is_array()) return names;
  for (const auto& s : *services) {
    std::string name = str(s, "name");
    if (name.empty() || deps.count(name)) continue;
    names.push_back(name);
    auto& d = deps[name];
    auto add = [&](std::string target) {
      if (auto slash = target.find('/'); slash != std::string::npos) {
        if (target.substr(0, slash) != stack_name) return;  // another stack: not ordered here
        target = target.substr(slash + 1);
      }
      if (auto colon = target.find(':'); colon != std::string::npos) target.resize(colon);
      if (!target.empty() && target != name) d.push_back(target);
    };
    if (const Json* links = get(s, "links"); links && links->is_array())
      for (const auto& l : *links) {
        if (l.is_string()) add(l.get<std::string>());
        else add(str(l, "name"));
      }
    for (const auto& dep : strings(s, "depends_on")) add(dep);
  }
  std::vector<std::string> order;
  std::set<std::string> done, visiting;
  std::function<void(const std::string&)> visit = [&](const std::string& n) {
    if (done.count(n) || visiting.count(n) || !deps.count(n)) return;
    visiting.insert(n);
    for (const auto& d : deps[n]) visit(d);
    visiting.erase(n);
    done.insert(n);
    order.push_back(n);
  };
  for (const auto& n : names) visit(n);
  return order;
}

}  // namespace kontena::master::deployer
