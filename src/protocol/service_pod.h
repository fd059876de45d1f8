// The service pod: what the master wants running on a node, one instance of one service, as sent
// in /node_service_pods/list -> {"service_pods": [ServicePod...]} (reference §4, §5.4, §6, §13),
// and the agent's report of an instance's actual state, /node_service_pods/set_state.
//
// ServicePod JSON (every key but the first five optional; defaults as below):
//   {"service_id": "<id>", "service_name": "web", "stack_name": "shop" | "null" (or absent: null
//    stack), "grid_name": "demo", "instance_number": 1 (>= 1),
//    "deploy_rev": "<opaque string, the deploy's start time>" (""), "service_revision": 3 (0),
//    "desired_state": "running" | "stopped" | "terminated" ("running"),
//    "image": "redis:7" (required unless desired_state is terminated; ":latest" is added when no tag),
//    "cmd": ["redis-server"] | null, "entrypoint": ["/bin/sh"] | null (null = image default),
//    "env": ["K=V", ...], "secrets": [{"name": "ENV_NAME", "value": "s3cr3t", "type": "env"}],
//    "labels": {"k": "v"}, "ports": [{"container_port": 80, "node_port": 8080, "protocol": "tcp",
//    "ip": "0.0.0.0"}], "volumes": ["name-or-/host:/ctr[:ro]", "/anon"],
//    "hostname": "" (= "<svc>-<n>"), "domainname": "" (= "<stack>.<grid>.kontena.local"),
//    "net": "bridge" | "host" | "container:<name>" | "" (= Docker default),
//    "cpus": 0.5, "cpu_shares": 0..1024, "mem_limit": bytes, "memswap_limit": bytes, "shm_size": bytes,
//    "privileged": false, "cap_add": [], "cap_drop": [], "user": "", "read_only": false,
//    "pid": "" | "host", "log_driver": "", "log_opts": {"k": "v"},
//    "stop_signal": "" | "SIGINT" | "2", "stop_grace_period": 10 (seconds, >= 0),
//    "hooks": {"pre_start": [Hook], "post_start": [Hook], "pre_stop": [Hook]},
//        Hook = {"name": "migrate", "cmd": "rake db:migrate", "oneshot": false}
//        (the master sends only the hooks of this instance, and no oneshot hook already done)
//    "health_check": {"protocol": "http" | "tcp", "port": 80, "uri": "/" , "timeout": 10,
//                     "interval": 60, "initial_delay": 10} | null,
//    "wait_for_port": 80 | null, "init": false (tini as PID 1),
//    "network": {"name": "kontena", "ip": "10.81.128.5"} | null   (overlay: later issue),
//    "dns": ["10.81.0.1"], "dns_search": ["shop.demo.kontena.local"]}
//
// PodState JSON (the second param of /node_service_pods/set_state, after the node id):
//   {"service_id", "instance_number", "rev" (the pod's deploy_rev), "state": "running" |
//    "restarting" | "stopped" | "missing", "error": null | "what went wrong"}
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/docker/docker_client.h"

namespace kontena::protocol {

using Json = nlohmann::json;

inline constexpr std::string_view kMethodServicePodsList = "/node_service_pods/list";
inline constexpr std::string_view kMethodServicePodsSetState = "/node_service_pods/set_state";
inline constexpr std::string_view kMethodServicePodsNotifyUpdate = "/service_pods/notify_update";
inline constexpr std::string_view kMethodServicePodsMarkOneshotHook = "/node_service_pods/mark_oneshot_hook";

// Labels of the containers the agent manages (reference §6).
inline constexpr const char* kLabelServiceId = "io.kontena.service.id";
inline constexpr const char* kLabelServiceName = "io.kontena.service.name";
inline constexpr const char* kLabelInstanceNumber = "io.kontena.service.instance_number";
inline constexpr const char* kLabelStackName = "io.kontena.stack.name";
inline constexpr const char* kLabelGridName = "io.kontena.grid.name";
inline constexpr const char* kLabelPlatformName = "io.kontena.platform.name";
inline constexpr const char* kLabelContainerType = "io.kontena.container.type";
inline constexpr const char* kLabelContainerName = "io.kontena.container.name";
inline constexpr const char* kLabelContainerPod = "io.kontena.container.pod";
inline constexpr const char* kLabelDeployRev = "io.kontena.container.deploy_rev";
inline constexpr const char* kLabelServiceRevision = "io.kontena.container.service_revision";
inline constexpr const char* kLabelStopGracePeriod = "io.kontena.container.stop_grace_period";
inline constexpr const char* kLabelOverlayCidr = "io.kontena.container.overlay_cidr";
inline constexpr const char* kLabelHealthPrefix = "io.kontena.health_check.";
// io.kontena.container.type values: the service container, and the one-off pre_start hook containers.
inline constexpr const char* kContainerTypeContainer = "container";
inline constexpr const char* kContainerTypeHook = "hook";

struct PodHook {
  std::string name;
  std::string cmd;
  bool oneshot = false;
};

struct PodHooks {
  std::vector<PodHook> pre_start;
  std::vector<PodHook> post_start;
  std::vector<PodHook> pre_stop;
};

struct PodHealthCheck {
  std::string protocol;  // http | tcp
  int port = 0;
  std::string uri = "/";
  int timeout = 10;        // seconds
  int interval = 60;       // seconds
  int initial_delay = 10;  // seconds
};

struct PodPort {
  int container_port = 0;
  int node_port = 0;
  std::string protocol = "tcp";
  std::string ip = "0.0.0.0";
};

struct PodSecret {
  std::string name;   // the env variable
  std::string value;
  std::string type = "env";
};

struct PodNetwork {
  std::string name;
  std::string ip;     // optional fixed address
};

struct ServicePod {
  std::string service_id;
  std::string service_name;
  std::string stack_name = "null";
  std::string grid_name;
  int instance_number = 0;
  std::string deploy_rev;
  std::int64_t service_revision = 0;
  std::string desired_state = "running";
  std::string image;
  std::optional<std::vector<std::string>> cmd;
  std::optional<std::vector<std::string>> entrypoint;
  std::vector<std::string> env;
  std::vector<PodSecret> secrets;
  std::map<std::string, std::string> labels;
  std::vector<PodPort> ports;
  std::vector<std::string> volumes;
  std::string hostname;
  std::string domainname;
  std::string net;
  std::optional<double> cpus;
  std::optional<int> cpu_shares;
  std::optional<std::int64_t> mem_limit;
  std::optional<std::int64_t> memswap_limit;
  std::optional<std::int64_t> shm_size;
  bool privileged = false;
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  std::string user;
  bool read_only = false;
  std::string pid;
  std::string log_driver;
  std::map<std::string, std::string> log_opts;
  std::string stop_signal;
  int stop_grace_period = 10;
  PodHooks hooks;
  std::optional<PodHealthCheck> health_check;
  std::optional<int> wait_for_port;
  bool init = false;
  std::optional<PodNetwork> network;
  std::vector<std::string> dns;
  std::vector<std::string> dns_search;

  bool null_stack() const { return stack_name.empty() || stack_name == "null"; }
};

// Throws kontena::Error (invalid; field = the JSON path, e.g. "service_pods[2].ports[0].node_port")
// naming what is wrong. Unknown keys are ignored (a newer master may send more).
ServicePod service_pod_from_json(const Json& j, const std::string& path = "service_pod");
Json to_json(const ServicePod& pod);
// The result of /node_service_pods/list: {"service_pods": [...]}; a duplicate (service_id,
// instance_number) is an error too.
std::vector<ServicePod> service_pods_from_list_result(const Json& result);

// --- naming (reference §6), pure
std::string container_name(const ServicePod& pod);  // "stack.svc-N", null stack "svc-N"
std::string pod_hostname(const ServicePod& pod);    // "svc-N" unless pod.hostname
std::string pod_domainname(const ServicePod& pod);  // "stack.grid.kontena.local" / "grid.kontena.local"
// The whole Docker container spec of the pod on node `node_name`: labels io.kontena.*, env
// KONTENA_* (after the pod's env; secrets last), resources, ports, hooks not included.
agent::docker::ContainerSpec container_spec(const ServicePod& pod, const std::string& node_name);

// --- /node_service_pods/set_state
struct PodState {
  std::string service_id;
  int instance_number = 0;
  std::string rev;
  std::string state;   // running | restarting | stopped | missing
  std::string error;   // empty = none (null in JSON)
  bool operator==(const PodState&) const = default;
};
Json to_json(const PodState& state);
PodState pod_state_from_json(const Json& j);

}  // namespace kontena::protocol
