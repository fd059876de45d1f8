// The scheduler: a pure function (DESIGN §2.2) from (nodes, service, current instances) to
// placements, with the filters and strategies of the original (reference §5), and the
// rescheduling rules (reference §5.5, §5.6) as a second pure function, plan().
//
// No I/O, no clock, no global state: time comes in as `now`, randomness as an injected Rng, so a
// given input and seed always give the same answer. Failures are kontena::Error: ErrorKind::conflict
// when no node fits (field() names the filter that left no node: "nodes", "availability",
// "ephemeral", "affinity", "port", "cpu", "memory", "dependency", "stateful"), ErrorKind::invalid
// for a malformed affinity (field "affinity") or strategy (field "strategy").
// See README.md in this directory.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"

namespace kontena::scheduler {

using TimePoint = std::chrono::system_clock::time_point;
// The injected randomness (ha tie-breaks, random strategy). Seed it for reproducible answers.
using Rng = std::mt19937_64;

enum class Strategy { ha, daemon, random };
const char* to_string(Strategy s) noexcept;
// "ha" | "daemon" | "random"; anything else: Error(invalid, field "strategy").
Strategy parse_strategy(const std::string& s);

enum class Availability { active, drain };

struct Port {
  int node_port = 0;
  int container_port = 0;
  std::string protocol = "tcp";  // a port conflicts with the same node_port and protocol
};

// An instance of a service that runs (or is scheduled) on a node: what the port, service,
// container and dependency filters look at.
struct NodeInstance {
  std::string service;  // "stack/name" ("null/name" for a service outside any stack)
  int instance_number = 0;
  std::vector<Port> ports;
};

struct SchedulerNode {
  std::string id;     // the node's identity; CurrentInstance::node_id refers to it
  std::string name;   // affinity node==NAME
  int node_number = 0;
  std::vector<std::string> labels;  // "k=v" strings; az=X gives the availability zone,
                                    // ephemeral / ephemeral=yes|true marks an ephemeral node
  Availability availability = Availability::active;
  bool connected = false;  // agent online: only connected nodes receive instances
  TimePoint last_seen{};   // the last sign of life, for the grace periods of plan()
  double cpus = 0;
  std::int64_t mem_total = 0;  // bytes
  bool has_memory_stats = false;
  std::int64_t mem_used = 0;  // from the host stats: total - free
  std::int64_t mem_cached = 0;
  std::int64_t mem_buffers = 0;
  // Instances of *other* services on this node (instances of the service being scheduled are
  // given as CurrentInstance and ignored here).
  std::vector<NodeInstance> instances;
  // Names of further containers on the node (affinity container==NAME); the containers of
  // `instances` are named implicitly: "stack.svc-N", or "svc-N" for the null stack.
  std::vector<std::string> containers;
};

struct ServiceSpec {
  std::string stack = "null";
  std::string name;
  Strategy strategy = Strategy::ha;
  int instances = 1;  // per node for daemon
  std::vector<std::string> affinity;
  std::vector<std::string> default_affinity;  // the grid's: used when `affinity` is empty
  bool stateful = false;
  std::optional<double> cpus;
  std::optional<std::int64_t> memory;       // bytes
  std::optional<std::int64_t> memory_swap;  // used when memory is not set
  std::vector<Port> ports;
  std::vector<std::string> volumes_from;  // "svc-%s" of the same stack
  std::string net;                        // "container:svc-%s" co-locates; other values ignored
  std::string path() const { return (stack.empty() ? std::string("null") : stack) + "/" + name; }
};

// Where an instance of the service is now. An empty node_id, or an id not among the nodes,
// means its node was removed.
struct CurrentInstance {
  int instance_number = 0;
  std::string node_id;
};

struct Assignment {
  int instance_number = 0;
  std::string node_id;
  std::size_t node_index = 0;  // into the nodes given
  bool operator==(const Assignment&) const = default;
};

struct Placement {
  int instance_count = 0;
  std::vector<Assignment> instances;  // 1..instance_count, in order
};

// A parsed affinity term: key(==|!=)[~]value, value /regex/ or literal (after %s substitution).
struct AffinityTerm {
  enum class Key { node, label, service, container };
  std::string text;  // as written (after %s substitution)
  Key key = Key::label;
  bool equal = true;   // == (true) or != (false)
  bool soft = false;   // ~: ignored when it would leave no node
  bool regex = false;  // value was /.../
  std::string value;   // without the slashes for a regex
};
// Error(invalid, field "affinity") when malformed.
AffinityTerm parse_affinity(const std::string& text);

// The default grace periods of the original: how long instances stay on an offline node before
// they are moved (ha 2 min, daemon 10 min, random 30 s).
struct GracePeriods {
  std::chrono::milliseconds ha{std::chrono::minutes(2)};
  std::chrono::milliseconds daemon{std::chrono::minutes(10)};
  std::chrono::milliseconds random{std::chrono::seconds(30)};
  std::chrono::milliseconds of(Strategy s) const noexcept;
};

// The deploy: places instances 1..N (N = instances, or instances x fitting nodes for daemon) on
// the connected nodes, in order, as the original deployer's dry run does: ha prefers the node an
// instance is on already (only among equally loaded nodes), random keeps it when it still fits,
// stateful instances stay on their node or fail. Throws Error on the first instance that fits
// nowhere.
Placement schedule(const std::vector<SchedulerNode>& nodes, const ServiceSpec& service,
                   const std::vector<CurrentInstance>& current, Rng& rng);

// The number of instances the service has on these nodes (daemon: instances x fitting nodes).
int instance_count(const std::vector<SchedulerNode>& nodes, const ServiceSpec& service);

// ---- rescheduling (reference §5.5, §5.6) ----

enum class MoveReason {
  new_instance,  // no instance with that number yet
  node_removed,  // its node is gone (stateful instances too get a new node)
  node_offline,  // its node has been offline for longer than the grace period
  node_drained,  // its node was drained: moved at once
  node_unfit,    // its node no longer passes the filters (affinity, ports, ... changed)
};
const char* to_string(MoveReason r) noexcept;

struct Move {
  int instance_number = 0;
  std::string from_node;  // empty for a new instance or a removed node
  std::string to_node;
  std::size_t to_index = 0;
  MoveReason reason = MoveReason::new_instance;
  std::string detail;  // for node_unfit: why ("node n1 does not match affinity label==az=a")
};

// An instance left on an offline node within the grace period: moved at `until` if the node is
// not back by then.
struct Waiting {
  int instance_number = 0;
  std::string node_id;
  TimePoint until{};
};

// A stateful instance that must not move automatically although its node is unusable.
struct Held {
  int instance_number = 0;
  std::string node_id;
  bool stop = false;   // true on a drained node: its desired state becomes stopped (until active)
  std::string reason;  // "node n1 is drained", "node n1 is offline", "node n1 no longer ..."
};

struct Removal {
  int instance_number = 0;
  std::string node_id;  // may be empty (node removed)
};

struct Unplaced {
  int instance_number = 0;
  std::string from_node;
  Error error;
};

struct PlanOptions {
  GracePeriods grace;
};

struct Plan {
  int instance_count = 0;
  // Where instances 1..instance_count should be (unplaced ones are missing): kept instances,
  // waiting and held ones on their node, moved ones on their new node.
  std::vector<Assignment> desired;
  std::vector<Move> moves;
  std::vector<Removal> removals;  // instance numbers above instance_count, and duplicates
  std::vector<Waiting> waiting;
  std::vector<Held> held;
  std::vector<Unplaced> unplaced;
  std::optional<TimePoint> next_check;  // the earliest Waiting::until: plan again then
  // Something for the deployer to do (moves, removals, stops or unplaced instances).
  bool changed() const;
};

// What must change for the service now. Instances stay where they are unless they must move:
// on a node offline past the strategy's grace period, drained (at once), removed, or no longer
// fitting the filters; stateful instances never move automatically (only when their node was
// removed). New instances (count grew, daemon on a new node) are placed by the strategy around
// the instances kept. A node coming back attracts nothing that already moved: no churn.
Plan plan(const std::vector<SchedulerNode>& nodes, const ServiceSpec& service,
          const std::vector<CurrentInstance>& current, TimePoint now, Rng& rng,
          const PlanOptions& options = {});

namespace reference {
// A literal, naive O(nodes log nodes)-per-instance implementation of schedule(): the filter chain
// over every node, then a full sort by the strategy key. Same answers as schedule() for ha and
// daemon (random draws differ); for tests and as the benchmark's baseline.
Placement schedule(const std::vector<SchedulerNode>& nodes, const ServiceSpec& service,
                   const std::vector<CurrentInstance>& current, Rng& rng);
}  // namespace reference

}  // namespace kontena::scheduler
