// The node's Docker Engine, as the agent sees it (DESIGN §2.4: a small interface at the seam).
// The real implementation (engine_client.h) speaks Engine API v1.41 over the unix socket; unit
// tests use a fake. All calls are blocking and thread-safe: the agent calls them from its worker
// pool, never from the event loop that answers the master's pings.
// Errors: kontena::Error — not_found (no such container/image), conflict (name in use, container
// running), unavailable (socket unreachable, registry unreachable), invalid (Docker refused the
// request, its message quoted), internal (unexpected answer).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace kontena::agent::docker {

using Json = nlohmann::json;

struct PortBinding {
  int container_port = 0;
  std::string protocol = "tcp";  // tcp | udp
  std::string host_ip;           // empty = all addresses
  int host_port = 0;
};

struct ContainerSpec {
  std::string name;
  std::string image;
  std::vector<std::string> cmd;         // empty = image default
  std::optional<std::vector<std::string>> entrypoint;
  std::vector<std::string> env;         // "K=V"
  std::map<std::string, std::string> labels;
  std::vector<PortBinding> ports;
  std::vector<std::string> binds;       // "volume-or-host-path:/container/path[:ro]"
  std::string hostname;
  std::string domainname;
  std::string user;
  std::string working_dir;
  std::string network_mode;             // empty = default bridge
  std::vector<std::string> dns;
  std::vector<std::string> dns_search;
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  std::optional<std::int64_t> memory_bytes;
  std::optional<std::int64_t> memory_swap_bytes;
  std::optional<std::int64_t> shm_size_bytes;
  std::optional<double> cpus;           // -> CpuPeriod 100000, CpuQuota cpus*100000
  std::optional<int> cpu_shares;
  bool privileged = false;
  bool read_only = false;
  bool init = false;                    // --init (tini as PID 1: signals reach busybox sleep/httpd)
  std::string pid_mode;
  std::string stop_signal;
  std::optional<int> stop_timeout_seconds;
  std::string log_driver;
  std::map<std::string, std::string> log_opts;
  std::string restart_policy;           // empty = "no" (the agent restarts containers itself)
  std::map<std::string, std::string> network_ips;  // network name -> fixed IPv4 address
};

struct ContainerSummary {                // one row of GET /containers/json
  std::string id;
  std::string name;                      // without the leading '/'
  std::string image;
  std::string image_id;
  std::string state;                     // created|running|paused|restarting|removing|exited|dead
  std::string status;                    // "Up 2 minutes"
  std::map<std::string, std::string> labels;
  std::int64_t created = 0;              // unix seconds
};

// One line of a container's output, demultiplexed (or raw when the container has a TTY).
struct LogLine {
  std::string stream;                    // "stdout" | "stderr"
  std::string data;                      // without the trailing newline
  std::string time;                      // RFC 3339 from Docker (timestamps=1), may be empty
};

struct PullProgress {
  std::string status;                    // "Pulling fs layer", "Downloading", "Pull complete", ...
  std::string id;                        // layer id, when there is one
  std::int64_t current = 0;
  std::int64_t total = 0;
};

// A running stream (events, logs, stats). Destroying it or calling cancel() stops the stream and
// waits until its callback is no longer running. done() is true once the stream ended by itself
// (container gone, daemon restarted); error() then says why (empty = clean end).
class Stream {
 public:
  virtual ~Stream() = default;
  virtual void cancel() = 0;
  virtual bool done() const = 0;
  virtual std::string error() const = 0;
};

// The outcome of a command run in a container (docker exec). Each output is capped (the rest is
// read and dropped; *_truncated says so).
struct ExecResult {
  int exit_code = -1;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
};
inline constexpr std::size_t kExecOutputCap = 1024 * 1024;

// POST /networks/create. IPAM is Docker's default driver with one IPv4 pool.
struct NetworkSpec {
  std::string name;
  std::string driver = "bridge";
  std::string subnet;    // "10.81.0.0/16"
  std::string gateway;   // "10.81.0.3"; empty = Docker picks
  std::string ip_range;  // the part of the subnet Docker hands out on this node; empty = all of it
  std::map<std::string, std::string> options;  // driver options (com.docker.network.bridge.name, ...)
  std::map<std::string, std::string> labels;
};

struct LogOptions {
  bool follow = false;
  bool stdout_stream = true;
  bool stderr_stream = true;
  bool timestamps = true;
  std::optional<std::int64_t> since_unix;  // seconds
  std::optional<int> tail;                 // lines; none = all
};

class DockerClient {
 public:
  virtual ~DockerClient() = default;

  // GET /info and GET /version.
  virtual Json info() = 0;
  virtual Json version() = 0;
  virtual bool ping() = 0;  // GET /_ping; false (never throws) when the engine does not answer

  // --- images
  virtual std::optional<Json> inspect_image(const std::string& image) = 0;  // nullopt = not local
  // POST /images/create. Calls progress for each status line. Throws unavailable with a message
  // that says the registry cannot be reached and the image is not local, when that is the case.
  virtual void pull_image(const std::string& image, const std::string& registry_auth_b64,
                          const std::function<void(const PullProgress&)>& progress) = 0;
  // Uses the local image when present, else pulls: the agent's normal path.
  virtual void ensure_image(const std::string& image, const std::string& registry_auth_b64,
                            const std::function<void(const PullProgress&)>& progress) = 0;

  // --- containers
  virtual std::string create_container(const ContainerSpec& spec) = 0;  // returns the id
  virtual void start_container(const std::string& id_or_name) = 0;      // no error if running
  // Stops with SIGTERM (or the container's stop signal), waits grace, then SIGKILL. No error if stopped.
  virtual void stop_container(const std::string& id_or_name, std::chrono::seconds grace) = 0;
  virtual void kill_container(const std::string& id_or_name, const std::string& signal = "KILL") = 0;
  virtual void remove_container(const std::string& id_or_name, bool force, bool remove_volumes = false) = 0;
  virtual std::optional<Json> inspect_container(const std::string& id_or_name) = 0;  // nullopt = none
  // label_filters: "key" or "key=value" (all must match); all = include stopped containers.
  virtual std::vector<ContainerSummary> list_containers(const std::vector<std::string>& label_filters,
                                                        bool all = true) = 0;
  // Runs cmd in a running container (POST /containers/{id}/exec, POST /exec/{id}/start attached,
  // GET /exec/{id}/json for the exit code) and waits at most `timeout` for it to end. Throws
  // invalid (empty cmd), not_found (no such container), conflict (the container is not running),
  // unavailable (the command did not end within the timeout; it may still be running).
  virtual ExecResult exec(const std::string& id_or_name, const std::vector<std::string>& cmd,
                          std::chrono::milliseconds timeout) = 0;
  // One-shot stats (stream=false): slow (about 1 s per container on these engines).
  virtual Json container_stats(const std::string& id_or_name) = 0;

  // --- networks. Defaults throw internal ("not supported by this client"): clients that never
  // manage networks (most test fakes) need not implement them.
  virtual std::optional<Json> inspect_network(const std::string& name) {  // nullopt = none
    network_calls_unsupported(name);
  }
  // Returns the new network's id. Throws conflict when the name is taken, invalid when Docker
  // refuses the settings (overlapping subnet, bad bridge name), quoting Docker's message.
  virtual std::string create_network(const NetworkSpec& spec) { network_calls_unsupported(spec.name); }
  // Throws not_found when there is none, conflict while containers are attached to it.
  virtual void remove_network(const std::string& name) { network_calls_unsupported(name); }

  // --- streams; each runs its callback on its own thread until cancelled or ended.
  // GET /events (filters as Docker's JSON filter map, e.g. {"type":["container"]}).
  virtual std::unique_ptr<Stream> stream_events(const Json& filters, std::function<void(const Json&)> on_event) = 0;
  // GET /containers/{id}/logs; handles multiplexed (non-TTY) and raw (TTY) output.
  virtual std::unique_ptr<Stream> stream_logs(const std::string& id_or_name, const LogOptions& options,
                                              std::function<void(const LogLine&)> on_line) = 0;
  // GET /containers/{id}/stats?stream=true: one JSON object per second.
  virtual std::unique_ptr<Stream> stream_stats(const std::string& id_or_name,
                                               std::function<void(const Json&)> on_stats) = 0;

 private:
  [[noreturn]] static void network_calls_unsupported(const std::string& name) {
    fail(ErrorKind::internal, "this Docker client does not manage networks (network " + name + ")");
  }
};

// Talks to the Engine at `socket_path` (e.g. /var/run/docker.sock), API version v1.41.
std::unique_ptr<DockerClient> make_engine_client(const std::string& socket_path,
                                                 std::chrono::milliseconds request_timeout = std::chrono::seconds(60));

}  // namespace kontena::agent::docker
