// Health checks and wait_for_port (reference §13, §5.4) go through this seam so that unit tests
// decide the outcome. The real prober uses plain blocking sockets with a timeout.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/docker/docker_client.h"
#include "protocol/service_pod.h"

namespace kontena::agent::pods {

struct ProbeResult {
  bool healthy = false;
  std::string detail;  // "HTTP 200", "connection refused", "timed out after 10 s"
};

class Prober {
 public:
  virtual ~Prober() = default;
  // GET http://ip:port/uri; healthy on 200..399 (redirects are not followed).
  virtual ProbeResult http_get(const std::string& ip, int port, const std::string& uri,
                               std::chrono::milliseconds timeout) = 0;
  // A TCP connection to ip:port is accepted.
  virtual ProbeResult tcp_connect(const std::string& ip, int port, std::chrono::milliseconds timeout) = 0;
};

// The pod's health check against the container at `ip`.
ProbeResult run_health_check(Prober& prober, const protocol::PodHealthCheck& check, const std::string& ip);

// POSIX sockets; user agent "Kontena-Agent/<version>".
std::unique_ptr<Prober> make_socket_prober();

// Runs `cmd` in a running container (docker exec) and returns its exit code: for post_start and
// pre_stop hooks. Throws kontena::Error when the command cannot be run (or does not end in time).
class ContainerExec {
 public:
  virtual ~ContainerExec() = default;
  virtual int exec(const std::string& container_id, const std::vector<std::string>& cmd) = 0;
};

// The real one: DockerClient::exec with `timeout`; the output of a failed command is logged.
std::shared_ptr<ContainerExec> make_docker_exec(docker::DockerClient& docker, std::chrono::milliseconds timeout);

}  // namespace kontena::agent::pods
