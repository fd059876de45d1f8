#include "cli/commands/service_spec.h"

#include <algorithm>
#include <cctype>

#include "cli/requests.h"
#include "common/error.h"
#include "stackfile/services.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& flag, const std::string& message) {
  throw Error(ErrorKind::invalid, flag + ": " + message, flag);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool valid_ipv4(const std::string& text) {
  const auto parts = split(text, '.');
  if (parts.size() != 4) return false;
  for (const auto& part : parts)
    if (!all_digits(part) || part.size() > 3 || std::stoi(part) > 255) return false;
  return true;
}

long long memory_bytes(const std::string& flag, const std::string& text) {
  auto bytes = stackfile::parse_memory(json(text));
  if (!bytes || *bytes <= 0) bad(flag, "\"" + text + "\" is not a size: use bytes or N[k|m|g|t] (e.g. 512m)");
  return *bytes;
}

json deploy_defaults() {
  return {{"strategy", "ha"}, {"wait_for_port", nullptr}, {"min_health", 0.8}, {"interval", nullptr}};
}

json health_defaults(const std::string& protocol) {
  return {{"protocol", protocol}, {"port", nullptr}, {"uri", protocol == "http" ? json("/") : json(nullptr)},
          {"timeout", 10}, {"interval", 60}, {"initial_delay", 10}};
}

}  // namespace

bool ServiceSpecOptions::was_given(const std::string& key) const {
  for (const auto& [name, option] : given)
    if (name == key) return option != nullptr && option->count() > 0;
  return false;
}

void add_service_spec_options(CLI::App* command, ServiceSpecOptions& o, bool create) {
  auto track = [&o](const std::string& key, CLI::Option* option) {
    o.given.emplace_back(key, option);
    return option;
  };
  track("ports", command->add_option("-p,--ports", o.ports, "Publish a port [IP:]NODE_PORT:CONTAINER_PORT[/tcp|udp] (repeatable)"));
  track("env", command->add_option("-e,--env", o.env, "Environment variable KEY=VALUE (repeatable)"));
  track("links", command->add_option("-l,--link", o.links, "Link to a service: SVC[:ALIAS] or STACK/SVC[:ALIAS] (repeatable)"));
  track("volumes", command->add_option("-v,--volume", o.volumes, "Volume /PATH, /HOST:/PATH[:ro] or NAME:/PATH[:ro] (repeatable)"));
  track("volumes_from", command->add_option("--volumes-from", o.volumes_from, "Mount the volumes of SERVICE-%s (repeatable)"));
  track("affinity", command->add_option("-a,--affinity", o.affinity, "Affinity rule, e.g. node==node-1, label!=ssd, service==db (repeatable)"));
  track("cap_add", command->add_option("--cap-add", o.cap_add, "Add a Linux capability (repeatable)"));
  track("cap_drop", command->add_option("--cap-drop", o.cap_drop, "Drop a Linux capability (repeatable)"));
  track("secrets", command->add_option("--secret", o.secrets, "Vault secret as env: SECRET:NAME[:env] (repeatable)"));
  track("cmd", command->add_option("--cmd", o.cmd, "Command to run (shell words)"));
  track("entrypoint", command->add_option("--entrypoint", o.entrypoint, "Entrypoint"));
  track("instances", command->add_option("--instances", o.instances, "Number of instances, 0..100000")->check(CLI::Range(0, 100000)));
  track("user", command->add_option("-u,--user", o.user, "User to run as"));
  track("cpus", command->add_option("--cpus", o.cpus, "CPUs the container may use (e.g. 0.5)")->check(CLI::PositiveNumber));
  track("cpu_shares", command->add_option("-c,--cpu-shares", o.cpu_shares, "CPU shares, 0..1024")->check(CLI::Range(0, 1024)));
  track("mem_limit", command->add_option("-m,--memory", o.memory, "Memory limit (e.g. 512m, 1g)"));
  track("memswap_limit", command->add_option("--memory-swap", o.memory_swap, "Memory + swap limit (e.g. 1g)"));
  track("shm_size", command->add_option("--shm-size", o.shm_size, "Size of /dev/shm (e.g. 64m)"));
  track("privileged", command->add_flag("--privileged", o.privileged, "Give extended privileges"));
  track("read_only", command->add_flag("--read-only", o.read_only, "Mount the root file system read-only"));
  track("network_mode", command->add_option("--net", o.net, "Network mode: bridge, host or container:NAME"));
  track("pid", command->add_option("--pid", o.pid, "PID namespace: host")->check(CLI::IsMember({"host"})));
  track("log_driver", command->add_option("--log-driver", o.log_driver, "Docker log driver"));
  track("log_opts", command->add_option("--log-opt", o.log_opts, "Log driver option KEY=VALUE (repeatable)"));
  track("stop_signal", command->add_option("--stop-signal", o.stop_signal, "Signal that stops the container (e.g. SIGQUIT)"));
  track("stop_grace_period",
        command->add_option("--stop-timeout", o.stop_timeout, "Time to wait for the container to stop before killing it (e.g. 30s, 1m30s)"));
  track("deploy_strategy", command->add_option("--deploy-strategy", o.deploy_strategy, "Deploy strategy: ha, daemon or random")
                               ->check(CLI::IsMember({"ha", "daemon", "random"})));
  track("deploy_wait_for_port", command->add_option("--deploy-wait-for-port", o.deploy_wait_for_port,
                                                    "Wait until the instance accepts connections on this port")
                                    ->check(CLI::Range(1, 65535)));
  track("deploy_min_health", command->add_option("--deploy-min-health", o.deploy_min_health,
                                                 "Share of instances that stay up during a deploy, 0.0..1.0")
                                 ->check(CLI::Range(0.0, 1.0)));
  track("deploy_interval", command->add_option("--deploy-interval", o.deploy_interval, "Redeploy every N[min|h|d]"));
  track("health_protocol", command->add_option("--health-check-protocol", o.health_protocol, "Health check protocol: http or tcp")
                               ->check(CLI::IsMember({"http", "tcp"})));
  track("health_port", command->add_option("--health-check-port", o.health_port, "Health check port")->check(CLI::Range(1, 65535)));
  track("health_uri", command->add_option("--health-check-uri", o.health_uri, "Health check URI (http, default /)"));
  track("health_timeout", command->add_option("--health-check-timeout", o.health_timeout, "Health check timeout in seconds (default 10)")
                              ->check(CLI::PositiveNumber));
  track("health_interval", command->add_option("--health-check-interval", o.health_interval,
                                               "Seconds between health checks (default 60)")
                               ->check(CLI::PositiveNumber));
  track("health_initial_delay", command->add_option("--health-check-initial-delay", o.health_initial_delay,
                                                    "Seconds before the first health check (default 10)")
                                    ->check(CLI::NonNegativeNumber));
  if (create) {
    track("stateful", command->add_flag("--stateful", o.stateful, "Keep each instance's data and node (cannot change later)"));
  } else {
    track("no_privileged", command->add_flag("--no-privileged", o.no_privileged, "Remove extended privileges"));
    track("no_read_only", command->add_flag("--no-read-only", o.no_read_only, "Mount the root file system read-write"));
    track("no_health_check", command->add_flag("--no-health-check", o.no_health_check, "Remove the health check"));
  }
}

json parse_port(const std::string& text) {
  const char* form = "expected [IP:]NODE_PORT:CONTAINER_PORT[/tcp|udp] (e.g. 80:80)";
  std::string rest = text, protocol = "tcp";
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    protocol = rest.substr(slash + 1);
    rest.resize(slash);
    if (protocol != "tcp" && protocol != "udp") bad("--ports", "\"" + text + "\": protocol must be tcp or udp");
  }
  auto parts = split(rest, ':');
  std::string ip = "0.0.0.0";
  if (parts.size() == 3) {
    ip = parts[0];
    if (!valid_ipv4(ip)) bad("--ports", "\"" + text + "\": \"" + ip + "\" is not an IPv4 address");
    parts.erase(parts.begin());
  }
  if (parts.size() != 2 || !all_digits(parts[0]) || !all_digits(parts[1]) || parts[0].size() > 5 ||
      parts[1].size() > 5)
    bad("--ports", "\"" + text + "\": " + form);
  const int node = std::stoi(parts[0]), container = std::stoi(parts[1]);
  if (node < 1 || node > 65535 || container < 1 || container > 65535)
    bad("--ports", "\"" + text + "\": ports must be 1..65535");
  return {{"ip", ip}, {"protocol", protocol}, {"node_port", node}, {"container_port", container}};
}

json parse_volume(const std::string& text) {
  const auto parts = split(text, ':');
  json volume{{"type", "anonymous"}, {"source", nullptr}, {"target", nullptr}, {"flags", nullptr}};
  auto is_flags = [](const std::string& flags) {
    return !flags.empty() && flags.front() != '/' &&
           std::all_of(flags.begin(), flags.end(), [](unsigned char c) { return std::isalpha(c) || c == ','; });
  };
  if (text.empty() || parts.size() > 3)
    bad("--volume", "\"" + text + "\": expected /PATH, /HOST:/PATH[:ro] or NAME:/PATH[:ro]");
  if (parts.size() == 1 || (parts.size() == 2 && is_flags(parts[1]))) {
    volume["target"] = parts[0];
    if (parts.size() == 2) volume["flags"] = parts[1];
  } else {
    if (parts[0].empty()) bad("--volume", "\"" + text + "\": empty source");
    volume["source"] = parts[0];
    volume["target"] = parts[1];
    volume["type"] = (parts[0][0] == '/' || parts[0][0] == '.' || parts[0][0] == '~') ? "bind" : "named";
    if (parts.size() == 3) {
      if (!is_flags(parts[2])) bad("--volume", "\"" + text + "\": \"" + parts[2] + "\" are not mount flags (ro, rw, ...)");
      volume["flags"] = parts[2];
    }
  }
  const std::string target = volume["target"].get<std::string>();
  if (target.empty() || target.front() != '/') bad("--volume", "\"" + text + "\": the container path must be absolute");
  return volume;
}

json parse_link(const std::string& text) {
  const auto parts = split(text, ':');
  if (parts.size() > 2 || parts[0].empty() || (parts.size() == 2 && parts[1].empty()))
    bad("--link", "\"" + text + "\": expected SERVICE[:ALIAS] or STACK/SERVICE[:ALIAS]");
  const std::string& name = parts[0];
  std::string alias = parts.size() == 2 ? parts[1] : name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
  return {{"name", name}, {"alias", alias}};
}

json parse_secret(const std::string& text) {
  const auto parts = split(text, ':');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() ||
      (parts.size() == 3 && parts[2] != "env"))
    bad("--secret", "\"" + text + "\": expected SECRET:NAME[:env] (e.g. db-password:DB_PASSWORD:env)");
  return {{"secret", parts[0]}, {"name", parts[1]}, {"type", "env"}};
}

json service_spec_body(const ServiceSpecOptions& o, const json& current) {
  json body = json::object();
  auto given = [&o](const char* key) { return o.was_given(key); };
  if (given("ports")) {
    body["ports"] = json::array();
    for (const auto& port : o.ports) body["ports"].push_back(parse_port(port));
  }
  if (given("env")) {
    body["environment"] = json::array();
    for (const auto& entry : o.env) {
      parse_key_value(entry, "--env");
      body["environment"].push_back(entry);
    }
  }
  if (given("links")) {
    body["links"] = json::array();
    for (const auto& link : o.links) body["links"].push_back(parse_link(link));
  }
  if (given("volumes")) {
    body["volumes"] = json::array();
    for (const auto& volume : o.volumes) body["volumes"].push_back(parse_volume(volume));
  }
  if (given("volumes_from")) body["volumes_from"] = o.volumes_from;
  if (given("affinity")) body["affinity"] = o.affinity;
  if (given("cap_add")) body["cap_add"] = o.cap_add;
  if (given("cap_drop")) body["cap_drop"] = o.cap_drop;
  if (given("secrets")) {
    body["secrets"] = json::array();
    for (const auto& secret : o.secrets) body["secrets"].push_back(parse_secret(secret));
  }
  if (given("cmd")) {
    auto words = stackfile::shell_split(o.cmd);
    if (!words) bad("--cmd", "unmatched quote in \"" + o.cmd + "\"");
    body["command"] = words->empty() ? json(nullptr) : json(*words);
  }
  if (given("entrypoint")) body["entrypoint"] = o.entrypoint.empty() ? json(nullptr) : json(o.entrypoint);
  if (given("instances")) body["instances"] = o.instances;
  if (given("user")) body["user"] = o.user.empty() ? json(nullptr) : json(o.user);
  if (given("cpus")) body["cpus"] = o.cpus;
  if (given("cpu_shares")) body["cpu_shares"] = o.cpu_shares;
  if (given("mem_limit")) body["mem_limit"] = memory_bytes("--memory", o.memory);
  if (given("memswap_limit")) body["memswap_limit"] = memory_bytes("--memory-swap", o.memory_swap);
  if (given("shm_size")) body["shm_size"] = memory_bytes("--shm-size", o.shm_size);
  if (given("privileged")) body["privileged"] = true;
  if (given("no_privileged")) {
    if (given("privileged")) bad("--no-privileged", "cannot be combined with --privileged");
    body["privileged"] = false;
  }
  if (given("read_only")) body["read_only"] = true;
  if (given("no_read_only")) {
    if (given("read_only")) bad("--no-read-only", "cannot be combined with --read-only");
    body["read_only"] = false;
  }
  if (given("stateful")) body["stateful"] = o.stateful;
  if (given("network_mode")) {
    if (o.net != "bridge" && o.net != "host" && (o.net.rfind("container:", 0) != 0 || o.net.size() <= 10))
      bad("--net", "\"" + o.net + "\": expected bridge, host or container:NAME");
    body["network_mode"] = o.net;
  }
  if (given("pid")) body["pid"] = o.pid;
  if (given("log_driver") || given("log_opts")) {
    if (o.log_driver.empty()) bad("--log-opt", "needs --log-driver");
    json options = json::object();
    for (const auto& entry : o.log_opts) {
      auto [key, value] = parse_key_value(entry, "--log-opt");
      options[key] = value;
    }
    body["logging"] = {{"driver", o.log_driver}, {"options", options}};
  }
  if (given("stop_signal")) body["stop_signal"] = o.stop_signal;
  if (given("stop_grace_period")) {
    auto seconds = stackfile::parse_duration(json(o.stop_timeout));
    if (!seconds || *seconds < 0) bad("--stop-timeout", "\"" + o.stop_timeout + "\" is not a duration (e.g. 30, 30s, 1m30s)");
    body["stop_grace_period"] = *seconds;
  }

  const bool deploy_given = given("deploy_strategy") || given("deploy_wait_for_port") || given("deploy_min_health") ||
                            given("deploy_interval");
  if (deploy_given) {
    json deploy = deploy_defaults();
    if (current.is_object() && current.contains("deploy") && current["deploy"].is_object()) deploy.update(current["deploy"]);
    if (given("deploy_strategy")) deploy["strategy"] = o.deploy_strategy;
    if (given("deploy_wait_for_port")) deploy["wait_for_port"] = o.deploy_wait_for_port;
    if (given("deploy_min_health")) deploy["min_health"] = o.deploy_min_health;
    if (given("deploy_interval")) {
      auto seconds = stackfile::parse_interval(json(o.deploy_interval));
      if (!seconds) bad("--deploy-interval", "\"" + o.deploy_interval + "\" is not an interval: use N, Nmin, Nh or Nd");
      deploy["interval"] = *seconds;
    }
    body["deploy"] = deploy;
  }

  const bool health_given = given("health_protocol") || given("health_port") || given("health_uri") ||
                            given("health_timeout") || given("health_interval") || given("health_initial_delay");
  if (given("no_health_check")) {
    if (health_given) bad("--no-health-check", "cannot be combined with --health-check-* options");
    body["health_check"] = nullptr;
  } else if (health_given) {
    json health;
    if (current.is_object() && current.contains("health_check") && current["health_check"].is_object())
      health = current["health_check"];
    if (given("health_protocol")) {
      json defaults = health_defaults(o.health_protocol);
      if (health.is_object()) defaults.update(health);
      health = defaults;
      health["protocol"] = o.health_protocol;
      if (o.health_protocol == "tcp") health["uri"] = nullptr;
      else if (health["uri"].is_null()) health["uri"] = "/";
    }
    if (!health.is_object()) bad("--health-check-protocol", "a new health check needs --health-check-protocol http|tcp");
    if (given("health_port")) health["port"] = o.health_port;
    if (given("health_uri")) {
      if (o.health_uri.empty() || o.health_uri.front() != '/') bad("--health-check-uri", "must start with /");
      health["uri"] = o.health_uri;
    }
    if (given("health_timeout")) health["timeout"] = o.health_timeout;
    if (given("health_interval")) health["interval"] = o.health_interval;
    if (given("health_initial_delay")) health["initial_delay"] = o.health_initial_delay;
    if (health["port"].is_null()) bad("--health-check-port", "a health check needs --health-check-port");
    if (health["interval"].is_number() && health["timeout"].is_number() &&
        health["interval"].get<double>() < health["timeout"].get<double>())
      bad("--health-check-interval", "must be at least the timeout (" + health["timeout"].dump() + " s)");
    body["health_check"] = health;
  }
  return body;
}

}  // namespace kontena::cli
