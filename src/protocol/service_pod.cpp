#include "protocol/service_pod.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/error.h"

namespace kontena::protocol {

namespace {

std::string at(const std::string& path, const std::string& key) { return path + "." + key; }

[[noreturn]] void bad(const std::string& field, const std::string& what) {
  invalid(field, "service pod: " + field + " " + what);
}

const Json* get(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string get_string(const Json& j, const char* key, const std::string& path, bool required = false,
                       std::string def = {}) {
  const Json* v = get(j, key);
  if (!v) {
    if (required) bad(at(path, key), "is missing");
    return def;
  }
  if (!v->is_string()) bad(at(path, key), "must be a string");
  return v->get<std::string>();
}

std::int64_t get_int(const Json& j, const char* key, const std::string& path, std::int64_t def,
                     std::int64_t min, std::int64_t max, bool required = false) {
  const Json* v = get(j, key);
  if (!v) {
    if (required) bad(at(path, key), "is missing");
    return def;
  }
  if (!v->is_number_integer()) bad(at(path, key), "must be an integer");
  std::int64_t n = v->get<std::int64_t>();
  if (n < min || n > max)
    bad(at(path, key), "must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " +
                           std::to_string(n) + ")");
  return n;
}

std::optional<std::int64_t> get_opt_int(const Json& j, const char* key, const std::string& path, std::int64_t min,
                                        std::int64_t max) {
  if (!get(j, key)) return std::nullopt;
  return get_int(j, key, path, 0, min, max);
}

bool get_bool(const Json& j, const char* key, const std::string& path) {
  const Json* v = get(j, key);
  if (!v) return false;
  if (!v->is_boolean()) bad(at(path, key), "must be true or false");
  return v->get<bool>();
}

std::vector<std::string> get_strings(const Json& j, const char* key, const std::string& path) {
  std::vector<std::string> out;
  const Json* v = get(j, key);
  if (!v) return out;
  if (!v->is_array()) bad(at(path, key), "must be an array of strings");
  for (std::size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) bad(at(path, key) + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

std::optional<std::vector<std::string>> get_opt_strings(const Json& j, const char* key, const std::string& path) {
  if (!get(j, key)) return std::nullopt;
  return get_strings(j, key, path);
}

std::map<std::string, std::string> get_string_map(const Json& j, const char* key, const std::string& path) {
  std::map<std::string, std::string> out;
  const Json* v = get(j, key);
  if (!v) return out;
  if (!v->is_object()) bad(at(path, key), "must be an object of strings");
  for (auto& [k, val] : v->items()) {
    if (!val.is_string()) bad(at(path, key) + "." + k, "must be a string");
    out[k] = val.get<std::string>();
  }
  return out;
}

// Letters, digits, '_', '.', '-', starting with a letter or digit. (No <regex>: GCC 12 warns
// falsely inside it under the sanitizers.)
bool is_name(const std::string& s) {
  if (s.empty() || s.size() > 128 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.' || c == '-'; });
}

void check_name(const std::string& value, const std::string& field) {
  if (value.empty()) bad(field, "must not be empty");
  if (!is_name(value)) bad(field, "must be letters, digits, '_', '.' or '-' (got \"" + value + "\")");
}

std::vector<PodHook> get_hooks(const Json& hooks, const char* key, const std::string& path) {
  std::vector<PodHook> out;
  const Json* v = get(hooks, key);
  if (!v) return out;
  std::string p = at(path, key);
  if (!v->is_array()) bad(p, "must be an array of {name, cmd, oneshot}");
  for (std::size_t i = 0; i < v->size(); ++i) {
    std::string hp = p + "[" + std::to_string(i) + "]";
    const Json& h = (*v)[i];
    if (!h.is_object()) bad(hp, "must be an object {name, cmd, oneshot}");
    PodHook hook;
    hook.name = get_string(h, "name", hp);
    hook.cmd = get_string(h, "cmd", hp, true);
    if (hook.cmd.empty()) bad(at(hp, "cmd"), "must not be empty");
    hook.oneshot = get_bool(h, "oneshot", hp);
    out.push_back(std::move(hook));
  }
  return out;
}

bool has_tag(const std::string& image) {
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  if (image.find('@') != std::string::npos) return true;
  return colon != std::string::npos && (slash == std::string::npos || colon > slash);
}

Json hooks_json(const std::vector<PodHook>& hooks) {
  Json a = Json::array();
  for (auto& h : hooks) a.push_back({{"name", h.name}, {"cmd", h.cmd}, {"oneshot", h.oneshot}});
  return a;
}

}  // namespace

ServicePod service_pod_from_json(const Json& j, const std::string& path) {
  if (!j.is_object()) bad(path, "must be an object");
  ServicePod p;
  p.service_id = get_string(j, "service_id", path, true);
  // Opaque to the agent (only a label value): any printable text without spaces.
  if (p.service_id.empty() || p.service_id.size() > 256 ||
      std::any_of(p.service_id.begin(), p.service_id.end(),
                  [](unsigned char ch) { return ch <= ' ' || ch == 0x7f; }))
    bad(at(path, "service_id"), "must be 1..256 printable characters without spaces");
  p.service_name = get_string(j, "service_name", path, true);
  check_name(p.service_name, at(path, "service_name"));
  p.stack_name = get_string(j, "stack_name", path, false, "null");
  if (p.stack_name.empty()) p.stack_name = "null";
  check_name(p.stack_name, at(path, "stack_name"));
  p.grid_name = get_string(j, "grid_name", path, true);
  check_name(p.grid_name, at(path, "grid_name"));
  p.instance_number = static_cast<int>(get_int(j, "instance_number", path, 0, 1, 100000, true));
  p.deploy_rev = get_string(j, "deploy_rev", path);
  p.service_revision = get_int(j, "service_revision", path, 0, 0, INT64_MAX);
  p.desired_state = get_string(j, "desired_state", path, false, "running");
  if (p.desired_state != "running" && p.desired_state != "stopped" && p.desired_state != "terminated")
    bad(at(path, "desired_state"), "must be running, stopped or terminated (got \"" + p.desired_state + "\")");
  p.image = get_string(j, "image", path);
  if (p.image.empty() && p.desired_state != "terminated") bad(at(path, "image"), "is missing");
  if (p.image.find_first_of(" \t\n") != std::string::npos) bad(at(path, "image"), "must not contain spaces");
  if (!p.image.empty() && !has_tag(p.image)) p.image += ":latest";
  p.cmd = get_opt_strings(j, "cmd", path);
  p.entrypoint = get_opt_strings(j, "entrypoint", path);
  p.env = get_strings(j, "env", path);
  for (std::size_t i = 0; i < p.env.size(); ++i) {
    auto eq = p.env[i].find('=');
    if (eq == std::string::npos || eq == 0)
      bad(at(path, "env") + "[" + std::to_string(i) + "]", "must be NAME=VALUE (got \"" + p.env[i] + "\")");
    if (p.env[i].size() > 128 * 1024)
      bad(at(path, "env") + "[" + std::to_string(i) + "]", "is over 128 KiB");
  }
  if (const Json* s = get(j, "secrets")) {
    if (!s->is_array()) bad(at(path, "secrets"), "must be an array of {name, value, type}");
    for (std::size_t i = 0; i < s->size(); ++i) {
      std::string sp = at(path, "secrets") + "[" + std::to_string(i) + "]";
      const Json& e = (*s)[i];
      if (!e.is_object()) bad(sp, "must be an object {name, value, type}");
      PodSecret sec;
      sec.name = get_string(e, "name", sp, true);
      if (sec.name.empty() || sec.name.find('=') != std::string::npos)
        bad(at(sp, "name"), "must be an environment variable name");
      sec.value = get_string(e, "value", sp);
      sec.type = get_string(e, "type", sp, false, "env");
      if (sec.type != "env") bad(at(sp, "type"), "must be env (got \"" + sec.type + "\")");
      p.secrets.push_back(std::move(sec));
    }
  }
  p.labels = get_string_map(j, "labels", path);
  if (const Json* ports = get(j, "ports")) {
    if (!ports->is_array()) bad(at(path, "ports"), "must be an array of {container_port, node_port, protocol, ip}");
    for (std::size_t i = 0; i < ports->size(); ++i) {
      std::string pp = at(path, "ports") + "[" + std::to_string(i) + "]";
      const Json& e = (*ports)[i];
      if (!e.is_object()) bad(pp, "must be an object {container_port, node_port, protocol, ip}");
      PodPort port;
      port.container_port = static_cast<int>(get_int(e, "container_port", pp, 0, 1, 65535, true));
      port.node_port = static_cast<int>(get_int(e, "node_port", pp, 0, 0, 65535));
      port.protocol = get_string(e, "protocol", pp, false, "tcp");
      if (port.protocol != "tcp" && port.protocol != "udp") bad(at(pp, "protocol"), "must be tcp or udp");
      port.ip = get_string(e, "ip", pp, false, "0.0.0.0");
      p.ports.push_back(std::move(port));
    }
  }
  p.volumes = get_strings(j, "volumes", path);
  for (std::size_t i = 0; i < p.volumes.size(); ++i)
    if (p.volumes[i].empty()) bad(at(path, "volumes") + "[" + std::to_string(i) + "]", "must not be empty");
  p.hostname = get_string(j, "hostname", path);
  p.domainname = get_string(j, "domainname", path);
  p.net = get_string(j, "net", path);
  if (!p.net.empty() && p.net != "bridge" && p.net != "host" && p.net.rfind("container:", 0) != 0)
    bad(at(path, "net"), "must be bridge, host or container:<name> (got \"" + p.net + "\")");
  if (const Json* c = get(j, "cpus")) {
    if (!c->is_number() || c->get<double>() <= 0) bad(at(path, "cpus"), "must be a number above 0");
    p.cpus = c->get<double>();
  }
  if (auto v = get_opt_int(j, "cpu_shares", path, 0, 1024)) p.cpu_shares = static_cast<int>(*v);
  p.mem_limit = get_opt_int(j, "mem_limit", path, 0, INT64_MAX);
  p.memswap_limit = get_opt_int(j, "memswap_limit", path, -1, INT64_MAX);
  p.shm_size = get_opt_int(j, "shm_size", path, 0, INT64_MAX);
  p.privileged = get_bool(j, "privileged", path);
  p.cap_add = get_strings(j, "cap_add", path);
  p.cap_drop = get_strings(j, "cap_drop", path);
  p.user = get_string(j, "user", path);
  p.read_only = get_bool(j, "read_only", path);
  p.pid = get_string(j, "pid", path);
  if (!p.pid.empty() && p.pid != "host") bad(at(path, "pid"), "must be host (got \"" + p.pid + "\")");
  p.log_driver = get_string(j, "log_driver", path);
  p.log_opts = get_string_map(j, "log_opts", path);
  p.stop_signal = get_string(j, "stop_signal", path);
  p.stop_grace_period = static_cast<int>(get_int(j, "stop_grace_period", path, 10, 0, 24 * 3600));
  if (const Json* h = get(j, "hooks")) {
    std::string hp = at(path, "hooks");
    if (!h->is_object()) bad(hp, "must be an object {pre_start, post_start, pre_stop}");
    p.hooks.pre_start = get_hooks(*h, "pre_start", hp);
    p.hooks.post_start = get_hooks(*h, "post_start", hp);
    p.hooks.pre_stop = get_hooks(*h, "pre_stop", hp);
  }
  if (const Json* h = get(j, "health_check")) {
    std::string hp = at(path, "health_check");
    if (!h->is_object()) bad(hp, "must be an object {protocol, port, uri, timeout, interval, initial_delay}");
    PodHealthCheck hc;
    hc.protocol = get_string(*h, "protocol", hp, true);
    if (hc.protocol != "http" && hc.protocol != "tcp")
      bad(at(hp, "protocol"), "must be http or tcp (got \"" + hc.protocol + "\")");
    hc.port = static_cast<int>(get_int(*h, "port", hp, 0, 1, 65535, true));
    hc.uri = get_string(*h, "uri", hp, false, "/");
    if (hc.uri.empty() || hc.uri[0] != '/') bad(at(hp, "uri"), "must start with / (got \"" + hc.uri + "\")");
    hc.timeout = static_cast<int>(get_int(*h, "timeout", hp, 10, 1, 3600));
    hc.interval = static_cast<int>(get_int(*h, "interval", hp, 60, 1, 86400));
    hc.initial_delay = static_cast<int>(get_int(*h, "initial_delay", hp, 10, 0, 86400));
    if (hc.interval < hc.timeout) bad(at(hp, "interval"), "must not be shorter than the timeout");
    p.health_check = hc;
  }
  if (auto v = get_opt_int(j, "wait_for_port", path, 1, 65535)) p.wait_for_port = static_cast<int>(*v);
  p.init = get_bool(j, "init", path);
  if (const Json* n = get(j, "network")) {
    std::string np = at(path, "network");
    if (!n->is_object()) bad(np, "must be an object {name, ip}");
    PodNetwork net;
    net.name = get_string(*n, "name", np, true);
    check_name(net.name, at(np, "name"));
    net.ip = get_string(*n, "ip", np);
    p.network = net;
  }
  p.dns = get_strings(j, "dns", path);
  p.dns_search = get_strings(j, "dns_search", path);
  return p;
}

Json to_json(const ServicePod& p) {
  Json j = {{"service_id", p.service_id},
            {"service_name", p.service_name},
            {"stack_name", p.stack_name},
            {"grid_name", p.grid_name},
            {"instance_number", p.instance_number},
            {"deploy_rev", p.deploy_rev},
            {"service_revision", p.service_revision},
            {"desired_state", p.desired_state},
            {"image", p.image},
            {"cmd", p.cmd ? Json(*p.cmd) : Json(nullptr)},
            {"entrypoint", p.entrypoint ? Json(*p.entrypoint) : Json(nullptr)},
            {"env", p.env},
            {"labels", p.labels},
            {"volumes", p.volumes},
            {"hostname", p.hostname},
            {"domainname", p.domainname},
            {"net", p.net},
            {"privileged", p.privileged},
            {"cap_add", p.cap_add},
            {"cap_drop", p.cap_drop},
            {"user", p.user},
            {"read_only", p.read_only},
            {"pid", p.pid},
            {"log_driver", p.log_driver},
            {"log_opts", p.log_opts},
            {"stop_signal", p.stop_signal},
            {"stop_grace_period", p.stop_grace_period},
            {"init", p.init},
            {"dns", p.dns},
            {"dns_search", p.dns_search}};
  Json secrets = Json::array();
  for (auto& s : p.secrets) secrets.push_back({{"name", s.name}, {"value", s.value}, {"type", s.type}});
  j["secrets"] = secrets;
  Json ports = Json::array();
  for (auto& port : p.ports)
    ports.push_back({{"container_port", port.container_port}, {"node_port", port.node_port},
                     {"protocol", port.protocol}, {"ip", port.ip}});
  j["ports"] = ports;
  j["cpus"] = p.cpus ? Json(*p.cpus) : Json(nullptr);
  j["cpu_shares"] = p.cpu_shares ? Json(*p.cpu_shares) : Json(nullptr);
  j["mem_limit"] = p.mem_limit ? Json(*p.mem_limit) : Json(nullptr);
  j["memswap_limit"] = p.memswap_limit ? Json(*p.memswap_limit) : Json(nullptr);
  j["shm_size"] = p.shm_size ? Json(*p.shm_size) : Json(nullptr);
  j["hooks"] = {{"pre_start", hooks_json(p.hooks.pre_start)},
                {"post_start", hooks_json(p.hooks.post_start)},
                {"pre_stop", hooks_json(p.hooks.pre_stop)}};
  if (p.health_check) {
    auto& h = *p.health_check;
    j["health_check"] = {{"protocol", h.protocol}, {"port", h.port}, {"uri", h.uri}, {"timeout", h.timeout},
                         {"interval", h.interval}, {"initial_delay", h.initial_delay}};
  } else {
    j["health_check"] = nullptr;
  }
  j["wait_for_port"] = p.wait_for_port ? Json(*p.wait_for_port) : Json(nullptr);
  j["network"] = p.network ? Json{{"name", p.network->name}, {"ip", p.network->ip}} : Json(nullptr);
  return j;
}

std::vector<ServicePod> service_pods_from_list_result(const Json& result) {
  if (!result.is_object() || !result.contains("service_pods") || !result["service_pods"].is_array())
    invalid("service_pods", "the /node_service_pods/list result must be {\"service_pods\": [...]}");
  std::vector<ServicePod> pods;
  std::set<std::pair<std::string, int>> seen;
  const Json& a = result["service_pods"];
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::string path = "service_pods[" + std::to_string(i) + "]";
    ServicePod p = service_pod_from_json(a[i], path);
    if (!seen.insert({p.service_id, p.instance_number}).second)
      bad(path, "repeats service " + p.service_id + " instance " + std::to_string(p.instance_number));
    pods.push_back(std::move(p));
  }
  return pods;
}

std::string container_name(const ServicePod& pod) {
  std::string base = pod.service_name + "-" + std::to_string(pod.instance_number);
  return pod.null_stack() ? base : pod.stack_name + "." + base;
}

std::string pod_hostname(const ServicePod& pod) {
  if (!pod.hostname.empty()) return pod.hostname;
  return pod.service_name + "-" + std::to_string(pod.instance_number);
}

std::string pod_domainname(const ServicePod& pod) {
  if (!pod.domainname.empty()) return pod.domainname;
  std::string grid = pod.grid_name + ".kontena.local";
  return pod.null_stack() ? grid : pod.stack_name + "." + grid;
}

agent::docker::ContainerSpec container_spec(const ServicePod& pod, const std::string& node_name) {
  agent::docker::ContainerSpec s;
  s.name = container_name(pod);
  s.image = pod.image;
  if (pod.cmd) s.cmd = *pod.cmd;
  s.entrypoint = pod.entrypoint;
  // Env: the pod's, then KONTENA_* (which win over same-named pod entries), then secrets.
  std::string stack = pod.null_stack() ? "null" : pod.stack_name;
  std::vector<std::pair<std::string, std::string>> injected = {
      {"KONTENA_SERVICE_ID", pod.service_id},
      {"KONTENA_SERVICE_NAME", pod.service_name},
      {"KONTENA_GRID_NAME", pod.grid_name},
      {"KONTENA_PLATFORM_NAME", pod.grid_name},
      {"KONTENA_STACK_NAME", stack},
      {"KONTENA_NODE_NAME", node_name},
      {"KONTENA_SERVICE_INSTANCE_NUMBER", std::to_string(pod.instance_number)}};
  std::set<std::string> overridden;
  for (auto& [k, v] : injected) overridden.insert(k);
  for (auto& s2 : pod.secrets) overridden.insert(s2.name);
  for (auto& e : pod.env)
    if (!overridden.count(e.substr(0, e.find('=')))) s.env.push_back(e);
  for (auto& [k, v] : injected)
    if (std::none_of(pod.secrets.begin(), pod.secrets.end(), [&](const PodSecret& x) { return x.name == k; }))
      s.env.push_back(k + "=" + v);
  for (auto& sec : pod.secrets) s.env.push_back(sec.name + "=" + sec.value);

  s.labels = pod.labels;
  s.labels[kLabelServiceId] = pod.service_id;
  s.labels[kLabelServiceName] = pod.service_name;
  s.labels[kLabelInstanceNumber] = std::to_string(pod.instance_number);
  s.labels[kLabelStackName] = stack;
  s.labels[kLabelGridName] = pod.grid_name;
  s.labels[kLabelPlatformName] = pod.grid_name;
  s.labels[kLabelContainerType] = kContainerTypeContainer;
  s.labels[kLabelContainerName] = s.name;
  s.labels[kLabelContainerPod] = s.name;
  s.labels[kLabelDeployRev] = pod.deploy_rev;
  s.labels[kLabelServiceRevision] = std::to_string(pod.service_revision);
  s.labels[kLabelStopGracePeriod] = std::to_string(pod.stop_grace_period);
  if (pod.network && !pod.network->ip.empty()) s.labels[kLabelOverlayCidr] = pod.network->ip + "/16";
  if (pod.health_check) {
    auto& h = *pod.health_check;
    std::string p = kLabelHealthPrefix;
    s.labels[p + "protocol"] = h.protocol;
    s.labels[p + "port"] = std::to_string(h.port);
    s.labels[p + "uri"] = h.uri;
    s.labels[p + "timeout"] = std::to_string(h.timeout);
    s.labels[p + "interval"] = std::to_string(h.interval);
    s.labels[p + "initial_delay"] = std::to_string(h.initial_delay);
  }

  for (auto& port : pod.ports) {
    agent::docker::PortBinding b;
    b.container_port = port.container_port;
    b.host_port = port.node_port;
    b.protocol = port.protocol;
    b.host_ip = port.ip == "0.0.0.0" ? "" : port.ip;
    s.ports.push_back(b);
  }
  s.binds = pod.volumes;
  s.network_mode = pod.net;
  if (pod.net != "host" && pod.net.rfind("container:", 0) != 0) {
    s.hostname = pod_hostname(pod);
    s.domainname = pod_domainname(pod);
  }
  s.user = pod.user;
  s.dns = pod.dns;
  s.dns_search = pod.dns_search;
  s.cap_add = pod.cap_add;
  s.cap_drop = pod.cap_drop;
  s.memory_bytes = pod.mem_limit;
  s.memory_swap_bytes = pod.memswap_limit;
  s.shm_size_bytes = pod.shm_size;
  s.cpus = pod.cpus;
  s.cpu_shares = pod.cpu_shares;
  s.privileged = pod.privileged;
  s.read_only = pod.read_only;
  s.init = pod.init;
  s.pid_mode = pod.pid;
  s.stop_signal = pod.stop_signal;
  s.stop_timeout_seconds = pod.stop_grace_period;
  s.log_driver = pod.log_driver;
  s.log_opts = pod.log_opts;
  s.restart_policy = "";  // the agent restarts (reference §13)
  if (pod.network) {
    s.network_ips[pod.network->name] = pod.network->ip;
    if (s.network_mode.empty()) s.network_mode = pod.network->name;
  }
  return s;
}

Json to_json(const PodState& s) {
  return {{"service_id", s.service_id},
          {"instance_number", s.instance_number},
          {"rev", s.rev},
          {"state", s.state},
          {"error", s.error.empty() ? Json(nullptr) : Json(s.error)}};
}

PodState pod_state_from_json(const Json& j) {
  if (!j.is_object()) invalid("state", "pod state must be an object {service_id, instance_number, rev, state, error}");
  PodState s;
  s.service_id = get_string(j, "service_id", "state", true);
  s.instance_number = static_cast<int>(get_int(j, "instance_number", "state", 0, 1, 100000, true));
  s.rev = get_string(j, "rev", "state");
  s.state = get_string(j, "state", "state", true);
  if (s.state != "running" && s.state != "restarting" && s.state != "stopped" && s.state != "missing")
    invalid("state.state", "pod state must be running, restarting, stopped or missing (got \"" + s.state + "\")");
  s.error = get_string(j, "error", "state");
  return s;
}

}  // namespace kontena::protocol
