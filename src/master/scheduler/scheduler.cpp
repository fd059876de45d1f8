#include <algorithm>
#include <tuple>

#include "master/scheduler/engine.h"

namespace kontena::scheduler {

namespace detail {

int select_node(Engine& e, Selector& sel, int k, int sticky) {
  int node = -1;
  if (e.has_dynamic_terms()) {
    // %s or self-referencing affinity: the candidates of this instance in one pass (O(nodes)).
    auto list = e.dynamic_candidates(k);
    if (!list.empty()) node = sel.pick_from(list, k, sticky);
  } else if (auto deps = e.dependency_nodes(k)) {
    std::vector<int> list;
    for (int d : *deps)
      if (e.cand[d] && e.dynamic_ok(k, d)) list.push_back(d);
    if (!list.empty()) node = sel.pick_from(list, k, sticky);
  } else {
    node = sel.pick(k, sticky, [&](int x) { return e.dynamic_ok(k, x); });
  }
  if (node >= 0) return node;
  auto r = e.chain(k);
  if (r.error) throw *r.error;
  throw Error(ErrorKind::internal, "scheduler: no node found for " + e.instance_label(k) +
                                       " although the filter chain leaves " + std::to_string(r.nodes.size()));
}

void check_pinned(const Engine& e, int k, int node) {
  auto r = e.chain(k, node, node);
  if (r.watch_dropped.empty()) return;
  throw Error(ErrorKind::conflict,
              "cannot place " + e.instance_label(k) + ": it is stateful and stays on node " + e.nodes[node].name +
                  ", but " + r.watch_dropped + " (stateful instances are not moved automatically)",
              "stateful");
}

}  // namespace detail

int instance_count(const std::vector<SchedulerNode>& nodes, const ServiceSpec& service) {
  detail::Engine e(nodes, service, {}, true);
  return e.instance_count_for(e.cand);
}

Placement schedule(const std::vector<SchedulerNode>& nodes, const ServiceSpec& service,
                   const std::vector<CurrentInstance>& current, Rng& rng) {
  detail::Engine e(nodes, service, current, false);
  if (service.strategy == Strategy::ha) e.draw_perm(rng);
  auto sel = detail::make_selector(e, rng);
  Placement p;
  p.instance_count = e.instance_count_for(e.cand);
  p.instances.reserve(p.instance_count);
  for (int k = 1; k <= p.instance_count; ++k) {
    int cur = e.current_of(k);
    int node;
    if (service.stateful && cur >= 0) {
      detail::check_pinned(e, k, cur);
      node = cur;
    } else {
      node = detail::select_node(e, *sel, k, cur);
    }
    sel->placed(node);
    p.instances.push_back({k, nodes[node].id, static_cast<std::size_t>(node)});
  }
  return p;
}

namespace reference {

Placement schedule(const std::vector<SchedulerNode>& nodes, const ServiceSpec& service,
                   const std::vector<CurrentInstance>& current, Rng& rng) {
  detail::Engine e(nodes, service, current, false);
  if (service.strategy == Strategy::ha) e.draw_perm(rng);
  Placement p;
  p.instance_count = e.instance_count_for(e.cand);
  for (int k = 1; k <= p.instance_count; ++k) {
    int cur = e.current_of(k);
    int node;
    if (service.stateful && cur >= 0) {
      detail::check_pinned(e, k, cur);
      node = cur;
    } else {
      auto r = e.chain(k);
      if (r.error) throw *r.error;
      auto& list = r.nodes;
      switch (service.strategy) {
        case Strategy::ha: {
          // The zone load: this run's instances on the service's candidate nodes of each zone.
          std::vector<long> load(e.zone_count, 0);
          for (int i = 0; i < e.n; ++i)
            if (e.cand[i]) load[e.zone[i]] += e.counter[i];
          auto key = [&](int i) {
            return std::make_tuple(load[e.zone[i]], e.counter[i], e.ha_rank(i, cur), e.perm[i], i);
          };
          std::sort(list.begin(), list.end(), [&](int a, int b) { return key(a) < key(b); });
          node = list.front();
          break;
        }
        case Strategy::daemon: {
          auto key = [&](int i) { return std::make_tuple(e.daemon_primary(i, cur), nodes[i].node_number, i); };
          std::sort(list.begin(), list.end(), [&](int a, int b) { return key(a) < key(b); });
          node = list.front();
          break;
        }
        case Strategy::random:
        default:
          node = std::find(list.begin(), list.end(), cur) != list.end() ? cur
                                                                        : list[detail::uniform(rng, list.size())];
          break;
      }
    }
    ++e.counter[node];
    p.instances.push_back({k, nodes[node].id, static_cast<std::size_t>(node)});
  }
  return p;
}

}  // namespace reference

}  // namespace kontena::scheduler
