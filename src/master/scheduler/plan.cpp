#include <algorithm>
#include <map>

#include "master/scheduler/engine.h"

namespace kontena::scheduler {

bool Plan::changed() const {
  if (!moves.empty() || !removals.empty() || !unplaced.empty()) return true;
  return std::any_of(held.begin(), held.end(), [](const Held& h) { return h.stop; });
}

Plan plan(const std::vector<SchedulerNode>& nodes, const ServiceSpec& service,
          const std::vector<CurrentInstance>& current, TimePoint now, Rng& rng, const PlanOptions& options) {
  detail::Engine e(nodes, service, current, true);
  if (service.strategy == Strategy::ha) e.draw_perm(rng);
  const auto grace = options.grace.of(service.strategy);
  auto in_grace = [&](int i) { return !nodes[i].connected && now - nodes[i].last_seen < grace; };

  // A node offline within the grace period still counts (daemon) when it runs an instance, as in
  // the original's dry run; one that runs none cannot take a new one before it is back.
  std::vector<std::uint8_t> hosts(e.n, 0);
  for (const auto& [k, node] : e.current_node)
    if (node >= 0) hosts[node] = 1;
  std::vector<std::uint8_t> counted(e.n, 0);
  for (int i = 0; i < e.n; ++i) counted[i] = e.eligible[i] && (nodes[i].connected || (in_grace(i) && hosts[i]));

  Plan p;
  p.instance_count = e.instance_count_for(counted);
  auto sel = detail::make_selector(e, rng);

  // The first instance of each number up to the count; the others go.
  std::map<int, const CurrentInstance*> by_number;
  for (const auto& c : current) {
    if (c.instance_number < 1 || c.instance_number > p.instance_count || by_number.count(c.instance_number))
      p.removals.push_back({c.instance_number, c.node_id});
    else
      by_number[c.instance_number] = &c;
  }
  std::sort(p.removals.begin(), p.removals.end(),
            [](const Removal& a, const Removal& b) { return a.instance_number < b.instance_number; });

  struct Pending {
    int k;
    MoveReason reason;
    std::string from;
    std::string detail = {};
  };
  std::vector<Pending> pending;
  std::map<int, int> desired;
  auto keep = [&](int k, int node) {
    sel->placed(node);
    desired[k] = node;
  };

  for (int k = 1; k <= p.instance_count; ++k) {
    auto it = by_number.find(k);
    if (it == by_number.end()) {
      pending.push_back({k, MoveReason::new_instance, ""});
      continue;
    }
    const std::string& from = it->second->node_id;
    int x = e.current_of(k);
    if (x < 0) {
      pending.push_back({k, MoveReason::node_removed, from});
      continue;
    }
    const auto& nd = nodes[x];
    if (nd.availability == Availability::drain) {
      if (service.stateful) {
        p.held.push_back({k, from, true, "node " + nd.name + " is drained"});
        keep(k, x);
      } else {
        pending.push_back({k, MoveReason::node_drained, from});
      }
      continue;
    }
    if (!nd.connected) {
      if (in_grace(x)) {
        auto until = nd.last_seen + grace;
        p.waiting.push_back({k, from, until});
        if (!p.next_check || until < *p.next_check) p.next_check = until;
        keep(k, x);
      } else if (service.stateful) {
        p.held.push_back({k, from, false, "node " + nd.name + " is offline"});
        keep(k, x);
      } else {
        pending.push_back({k, MoveReason::node_offline, from});
      }
      continue;
    }
    // Online and active: it stays unless it no longer passes the filters.
    bool fits;
    std::string why;
    if (service.stateful || e.has_dynamic_terms()) {
      auto r = e.chain(k, service.stateful ? x : -1, x);
      fits = r.watch_dropped.empty();
      why = r.watch_dropped;
    } else {
      fits = e.cand[x] && e.dynamic_ok(k, x);
      if (fits)
        if (auto deps = e.dependency_nodes(k)) fits = std::find(deps->begin(), deps->end(), x) != deps->end();
      if (!fits) why = e.chain(k, -1, x).watch_dropped;
    }
    if (fits) {
      keep(k, x);
    } else if (service.stateful) {
      p.held.push_back({k, from, false, why});
      keep(k, x);
    } else {
      pending.push_back({k, MoveReason::node_unfit, from, why});
    }
  }

  // What must move or is new, placed around what stays.
  for (const auto& pd : pending) {
    try {
      int node = detail::select_node(e, *sel, pd.k, -1);
      sel->placed(node);
      desired[pd.k] = node;
      p.moves.push_back({pd.k, pd.from, nodes[node].id, static_cast<std::size_t>(node), pd.reason, pd.detail});
    } catch (const Error& err) {
      p.unplaced.push_back({pd.k, pd.from, err});
    }
  }
  for (const auto& [k, node] : desired) p.desired.push_back({k, nodes[node].id, static_cast<std::size_t>(node)});
  return p;
}

}  // namespace kontena::scheduler
