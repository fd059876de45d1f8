// Internal to the scheduler: the per-call context shared by schedule(), plan() and the naive
// reference. Not part of the interface; include scheduler.h instead.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
// g++ 12 reports a false -Wmaybe-uninitialized inside <regex> (std::function in _State) when
// building with the sanitizers; it is libstdc++'s code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "master/scheduler/scheduler.h"

namespace kontena::scheduler::detail {

struct Term {
  AffinityTerm t;
  std::optional<std::regex> re;
  std::string service_path;  // Key::service with a literal value: the resolved "stack/name"
  bool self = false;         // matches the service's own instances (placed in this run)
};

// What the filter chain found for one instance.
struct ChainResult {
  std::vector<int> nodes;        // the candidates left (empty on error)
  std::optional<Error> error;    // the first filter that left no node
  std::string watch_dropped;     // why the watched node fell out ("" = it is a candidate)
  std::string watch_field;       // the filter that dropped it
};

class Engine {
 public:
  // plan_mode: the daemon key ignores current instances (base 0); otherwise the deployer's dry run.
  Engine(const std::vector<SchedulerNode>& nodes, const ServiceSpec& svc,
         const std::vector<CurrentInstance>& current, bool plan_mode);

  const std::vector<SchedulerNode>& nodes;
  const ServiceSpec& svc;
  std::string stack;  // normalized ("null" when empty)
  std::string path;   // stack/name
  int n = 0;

  // Affinity: the service's own or the grid default.
  std::vector<std::string> raw_terms;
  std::vector<Term> static_terms;     // terms [0, first_dynamic): no %s, not self-referencing
  std::size_t first_dynamic = 0;      // raw_terms.size() when every term is static
  bool has_dynamic_terms() const { return first_dynamic < raw_terms.size(); }

  // Per node masks (over all nodes, connected or not).
  std::vector<std::uint8_t> up;         // connected
  std::vector<std::uint8_t> active;     // availability active
  std::vector<std::uint8_t> ephemeral;  // ephemeral label
  std::vector<std::vector<std::uint8_t>> term_match;  // per static term
  std::vector<std::uint8_t> term_ignored;             // soft static term ignored (over up nodes)
  std::vector<std::uint8_t> port_free;  // no other service uses one of our ports
  std::vector<std::uint8_t> cpu_ok;
  std::vector<std::uint8_t> mem_ok;
  std::vector<std::uint8_t> eligible;  // every instance-independent filter (any connection state)
  std::vector<std::uint8_t> cand;      // eligible && up: the service's candidate set
  std::int64_t mem_required = 0;

  std::vector<int> zone;  // availability zone id per node
  int zone_count = 0;
  std::vector<double> memrank;  // mem_used / mem_total
  std::vector<std::uint64_t> perm;  // random tie-break priority (ha)
  std::vector<long> base;           // daemon: current instances per node (deploy dry run)

  // The run: instances of this service placed (or kept) per node.
  std::vector<int> counter;

  std::unordered_map<std::string, int> by_id;
  std::map<int, int> current_node;  // instance number -> node index, -1 when the node is gone
  std::unordered_map<std::string, std::vector<int>> dep_index;  // "svc-N" (same stack) -> nodes

  bool has_ports() const { return !svc.ports.empty(); }
  bool memory_exempt(int k) const { return current_node.count(k) != 0; }
  int current_of(int k) const {
    auto it = current_node.find(k);
    return it == current_node.end() ? -1 : it->second;
  }

  // The full, literal filter chain for instance k over every connected node, in the original's
  // order. exempt: a node the ephemeral filter lets through (a stateful instance already there).
  // watch: a node to report on.
  ChainResult chain(int k, int exempt = -1, int watch = -1) const;

  // The candidates of instance k when the service has per-instance affinity terms: the same
  // nodes as chain(k) in one pass from the precomputed prefix (empty: ask chain() why).
  std::vector<int> dynamic_candidates(int k) const;
  std::vector<int> prefix;  // connected nodes passing availability, ephemeral, static terms

  // Per-instance dependency restriction: nullopt when the service has none.
  std::optional<std::vector<int>> dependency_nodes(int k) const;

  // The instance-dependent filters of the fast path (memory, ports held by this service's own
  // instances); dependency is handled through dependency_nodes().
  bool dynamic_ok(int k, int node) const {
    if (!mem_ok[node] && !memory_exempt(k)) return false;
    if (has_ports() && counter[node] > 0) return false;
    return true;
  }

  std::string instance_label(int k) const;
  Error no_fit(int k, const std::string& field, const std::string& why) const;

  int instance_count_for(const std::vector<std::uint8_t>& mask) const;

  // Keys of the strategies.
  double ha_rank(int node, int sticky) const { return 10.0 - (node == sticky ? 5.0 : 0.0) + memrank[node]; }
  long daemon_primary(int node, int sticky) const {
    return node == sticky ? -1L + counter[node] : base[node] + counter[node];
  }

  // ha: one random priority per node, drawn in node order (ties of the sort key).
  void draw_perm(Rng& rng);

  Term compile(const std::string& text, int k) const;
  bool matches(const Term& t, int node) const;
};

std::string substitute(const std::string& s, int k);

// Strategy selectors over the candidate set, shared by schedule() and plan().
class Selector {
 public:
  virtual ~Selector() = default;
  // The best candidate passing ok(), or -1. sticky: the node the instance is on (-1: none).
  virtual int pick(int k, int sticky, const std::function<bool(int)>& ok) = 0;
  // The best of an explicit list (already filtered).
  virtual int pick_from(const std::vector<int>& list, int k, int sticky) = 0;
  // Record an instance on node (counters, loads).
  virtual void placed(int node) = 0;
};

std::unique_ptr<Selector> make_selector(Engine& e, Rng& rng);

// The node for instance k (not yet placed) by the strategy, through the fast path; throws the
// filter chain's Error when nothing fits. sticky: the node the instance is on now (-1: none).
int select_node(Engine& e, Selector& sel, int k, int sticky);

// A stateful instance on node `node`: Error (field "stateful") when it cannot stay there.
void check_pinned(const Engine& e, int k, int node);

// Uniform draw in [0, n).
std::uint64_t uniform(Rng& rng, std::uint64_t n);

}  // namespace kontena::scheduler::detail
