// `kontena service create/update` flags -> the normalised service spec keys of
// docs/stack-file.md (what POST/PUT /v1/.../services take). Kept apart so tests can check exactly
// what is sent. Only the keys of the flags given are set; the master fills the defaults.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kontena::cli {

struct ServiceSpecOptions {
  std::vector<std::string> ports;         // -p [ip:]node:container[/tcp|udp]
  std::vector<std::string> env;           // -e K=V
  std::vector<std::string> links;         // -l svc[:alias], stack/svc[:alias]
  std::vector<std::string> volumes;       // -v /path, /host:/ctr[:ro], name:/ctr[:flags]
  std::vector<std::string> volumes_from;  // --volumes-from
  std::vector<std::string> affinity;      // -a
  std::vector<std::string> cap_add, cap_drop, secrets, log_opts;
  std::string cmd, entrypoint, user, memory, memory_swap, shm_size, net, pid, log_driver, stop_signal, stop_timeout;
  std::string deploy_strategy, deploy_interval, health_protocol, health_uri;
  int instances = 0, cpu_shares = 0, deploy_wait_for_port = 0, health_port = 0, health_timeout = 0,
      health_interval = 0, health_initial_delay = 0;
  double cpus = 0, deploy_min_health = 0;
  bool privileged = false, no_privileged = false, stateful = false, read_only = false, no_read_only = false;
  bool no_health_check = false;

  // Which options were given (CLI11 counts them): set by add_service_spec_options.
  std::vector<std::pair<std::string, CLI::Option*>> given;
  bool was_given(const std::string& key) const;
};

// Adds the flags (create: `stateful` too, which cannot change later).
void add_service_spec_options(CLI::App* command, ServiceSpecOptions& options, bool create);

// The spec keys for the flags given. `current` is the service's current spec for update (the
// deploy and health_check objects are merged into it); null for create. Throws Error(invalid)
// naming the flag for malformed values.
nlohmann::json service_spec_body(const ServiceSpecOptions& options, const nlohmann::json& current = nullptr);

// -p value -> {"ip","protocol","node_port","container_port"}.
nlohmann::json parse_port(const std::string& text);
// -v value -> {"type","source","target","flags"}.
nlohmann::json parse_volume(const std::string& text);
// -l value -> {"name","alias"}.
nlohmann::json parse_link(const std::string& text);
// --secret SECRET:NAME[:env] -> {"secret","name","type"}.
nlohmann::json parse_secret(const std::string& text);

}  // namespace kontena::cli
