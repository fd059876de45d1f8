// The pure half of the pod reconciler: (desired pods, containers found, what the agent remembers,
// now) -> actions. No I/O; unit-tested exhaustively (tests/unit/agent/pods/plan_test.cpp).
//
// Rules (reference §5.4, §13):
// - a desired running pod without a container: create (ensure image, pre_start hooks, create,
//   start, post_start hooks); after a failed attempt, retried with the restart backoff;
// - its container outdated (io.kontena.container.service_revision label older than the pod's, or
//   deploy_rev label different and the image's current id, re-checked by the executor, different
//   from the container's): recreate;
// - its container not running (exited, created, dead): restarted after the backoff
//   min(restarts², 30) s counted from when the agent saw it down; restarts resets to 0 once a
//   container was up for 10 s; a dead container is recreated instead of started;
// - running but found unhealthy by its health check: restart (stop with grace, start);
// - desired stopped: a running container is stopped (pre_stop hooks, grace), and kept;
// - desired terminated, or not in the desired list at all: stop (pre_stop, grace) and remove;
// - more than one container for one (service, instance): the extra ones are removed.
// Applying the plan and planning again gives no action (idempotent).
#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "agent/docker/docker_client.h"
#include "protocol/service_pod.h"

namespace kontena::agent::pods {

using TimePoint = std::chrono::system_clock::time_point;
using protocol::ServicePod;

struct PodKey {
  std::string service_id;
  int instance_number = 0;
  auto operator<=>(const PodKey&) const = default;
  std::string str() const { return service_id + "/" + std::to_string(instance_number); }
};

PodKey key_of(const ServicePod& pod);
// From the io.kontena.service.id / instance_number labels; nullopt when they are missing or bad.
std::optional<PodKey> key_of(const std::map<std::string, std::string>& labels);

// A managed container as found on the node (one row of list_containers).
struct Observed {
  std::string id;
  std::string name;
  std::string state;      // Docker: created|running|paused|restarting|removing|exited|dead
  std::string image_id;
  std::map<std::string, std::string> labels;
  std::int64_t created = 0;
  // How long the container ran the last time it ran (FinishedAt - StartedAt), when the executor
  // inspected a stopped container; used for the "reset after 10 s up" rule.
  std::optional<std::chrono::milliseconds> last_run;
};

// What the agent remembers about one pod between passes (lost on restart, harmlessly).
struct PodRuntime {
  std::string container_id;                 // the container the fields below are about
  int restarts = 0;                         // consecutive restarts / failed attempts
  std::optional<TimePoint> running_since;   // first seen running (agent clock)
  std::optional<TimePoint> down_since;      // first seen not running, or attempt failed
  bool unhealthy = false;                   // the last health check failed
  bool health_known = false;                // a health check ran since the container (re)started
  bool restarted_unhealthy = false;         // restarted for failing its check, none passed since
  std::optional<TimePoint> next_health_check;
  std::optional<TimePoint> port_wait_deadline;  // wait_for_port in progress until then
  std::string last_error;
};

struct PlanOptions {
  std::chrono::seconds backoff_cap{30};
  std::chrono::seconds backoff_reset_after{10};
};

enum class ActionKind {
  create,     // no container: create and start
  start,      // a stopped container of the desired revision: start it again
  recreate,   // outdated or dead: stop, remove, create, start
  restart,    // running but unhealthy: stop, start
  stop,       // desired stopped: stop, keep
  remove,     // not desired: stop, remove
};
const char* to_string(ActionKind kind);

struct Action {
  ActionKind kind = ActionKind::create;
  PodKey key;
  int pod = -1;                      // index into the desired pods, -1 for a container no pod wants
  std::string container_id;          // empty for create
  std::string container_name;
  std::chrono::seconds grace{10};    // for stop/remove/recreate/restart
  bool running = false;              // the container is running now (pre_stop hooks apply)
  std::string reason;
  bool operator==(const Action&) const = default;
};

// The state to report for a desired pod when no action changes it in this pass.
struct PodStatus {
  PodKey key;
  int pod = -1;
  std::string state;     // running | restarting | stopped | missing
  std::string container_id;
  bool waiting = false;  // a restart/create is due later (backoff)
};

struct PlanInput {
  std::vector<ServicePod> desired;
  std::vector<Observed> observed;
  std::map<PodKey, PodRuntime> runtime;
  // Current local image id per image name, for pods whose container has another deploy_rev.
  std::map<std::string, std::string> image_ids;
  TimePoint now;
  PlanOptions options;
};

struct Plan {
  std::vector<Action> actions;
  std::vector<PodStatus> statuses;           // one per desired pod, in desired order
  std::map<PodKey, PodRuntime> runtime;      // updated bookkeeping (observations, backoff resets)
  std::optional<TimePoint> next_due;         // earliest backoff expiry
};

std::chrono::seconds backoff_delay(int restarts, std::chrono::seconds cap);

Plan plan(const PlanInput& input);

}  // namespace kontena::agent::pods
