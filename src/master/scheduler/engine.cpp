#include "master/scheduler/engine.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <tuple>

namespace kontena::scheduler {

const char* to_string(Strategy s) noexcept {
  switch (s) {
    case Strategy::ha: return "ha";
    case Strategy::daemon: return "daemon";
    case Strategy::random: return "random";
  }
  return "ha";
}

Strategy parse_strategy(const std::string& s) {
  if (s == "ha" || s.empty()) return Strategy::ha;
  if (s == "daemon") return Strategy::daemon;
  if (s == "random") return Strategy::random;
  invalid("strategy", "unknown strategy \"" + s + "\": use ha, daemon or random");
}

const char* to_string(MoveReason r) noexcept {
  switch (r) {
    case MoveReason::new_instance: return "new_instance";
    case MoveReason::node_removed: return "node_removed";
    case MoveReason::node_offline: return "node_offline";
    case MoveReason::node_drained: return "node_drained";
    case MoveReason::node_unfit: return "node_unfit";
  }
  return "new_instance";
}

std::chrono::milliseconds GracePeriods::of(Strategy s) const noexcept {
  switch (s) {
    case Strategy::ha: return ha;
    case Strategy::daemon: return daemon;
    case Strategy::random: return random;
  }
  return ha;
}

AffinityTerm parse_affinity(const std::string& text) {
  // key(==|!=)[~]value; keys contain no '=' or '!', so the first comparator splits.
  std::size_t eq = text.find("==");
  std::size_t ne = text.find("!=");
  std::size_t at = std::min(eq, ne);
  if (at == std::string::npos || at == 0 || at + 2 >= text.size())
    invalid("affinity", "invalid affinity \"" + text +
                            "\": write key==value or key!=value (key: node, label, service, container; "
                            "~ after the comparator makes it soft, /value/ a regular expression)");
  AffinityTerm t;
  t.text = text;
  t.equal = at == eq;
  std::string key = text.substr(0, at);
  if (key == "node") t.key = AffinityTerm::Key::node;
  else if (key == "label") t.key = AffinityTerm::Key::label;
  else if (key == "service") t.key = AffinityTerm::Key::service;
  else if (key == "container") t.key = AffinityTerm::Key::container;
  else
    invalid("affinity", "invalid affinity \"" + text + "\": unknown key \"" + key +
                            "\" (use node, label, service or container)");
  std::string value = text.substr(at + 2);
  if (!value.empty() && value[0] == '~') {
    t.soft = true;
    value.erase(0, 1);
  }
  if (value.empty()) invalid("affinity", "invalid affinity \"" + text + "\": the value is empty");
  if (value.size() >= 2 && value.front() == '/' && value.back() == '/') {
    t.regex = true;
    value = value.substr(1, value.size() - 2);
    if (value.empty()) invalid("affinity", "invalid affinity \"" + text + "\": the regular expression is empty");
  }
  t.value = std::move(value);
  return t;
}

namespace detail {

namespace {

std::string port_text(const Port& p) { return std::to_string(p.node_port) + "/" + (p.protocol.empty() ? "tcp" : p.protocol); }

bool same_port(const Port& a, const Port& b) {
  auto pa = a.protocol.empty() ? std::string("tcp") : a.protocol;
  auto pb = b.protocol.empty() ? std::string("tcp") : b.protocol;
  return a.node_port == b.node_port && pa == pb;
}

std::string container_name(const std::string& service_path, int number) {
  auto slash = service_path.find('/');
  std::string stack = slash == std::string::npos ? std::string("null") : service_path.substr(0, slash);
  std::string name = slash == std::string::npos ? service_path : service_path.substr(slash + 1);
  std::string base = name + "-" + std::to_string(number);
  return stack == "null" ? base : stack + "." + base;
}

bool is_ephemeral(const SchedulerNode& n) {
  for (const auto& l : n.labels)
    if (l == "ephemeral" || l == "ephemeral=yes" || l == "ephemeral=true") return true;
  return false;
}

std::string human_bytes(std::int64_t b) {
  char buf[64];
  const double mib = 1024.0 * 1024.0;
  if (b >= 1024LL * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(b) / (mib * 1024.0));
  else
    std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(b) / mib);
  return buf;
}

std::string fmt_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::string substitute(const std::string& s, int k) {
  std::string out;
  out.reserve(s.size() + 4);
  std::string num = std::to_string(k);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 1 < s.size() && s[i + 1] == 's') {
      out += num;
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::uint64_t uniform(Rng& rng, std::uint64_t n) {
  if (n <= 1) return 0;
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t limit = max - (max % n);
  std::uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

Term Engine::compile(const std::string& text, int k) const {
  Term t;
  t.t = parse_affinity(k > 0 ? substitute(text, k) : text);
  if (t.t.regex) {
    try {
      t.re.emplace(t.t.value, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      invalid("affinity", "invalid affinity \"" + t.t.text + "\": bad regular expression: " + e.what());
    }
  }
  if (t.t.key == AffinityTerm::Key::service) {
    if (t.t.regex) {
      t.self = std::regex_search(path, *t.re);
    } else {
      t.service_path = t.t.value.find('/') == std::string::npos ? stack + "/" + t.t.value : t.t.value;
      t.self = t.service_path == path;
    }
  }
  return t;
}

bool Engine::matches(const Term& t, int node) const {
  const SchedulerNode& nd = nodes[node];
  auto test = [&](const std::string& s) { return t.re ? std::regex_search(s, *t.re) : s == t.t.value; };
  bool m = false;
  switch (t.t.key) {
    case AffinityTerm::Key::node: m = test(nd.name); break;
    case AffinityTerm::Key::label:
      for (const auto& l : nd.labels)
        if (test(l)) {
          m = true;
          break;
        }
      break;
    case AffinityTerm::Key::service:
      if (t.self && counter[node] > 0) {
        m = true;
        break;
      }
      for (const auto& inst : nd.instances) {
        if (inst.service == path) continue;
        if (t.re ? std::regex_search(inst.service, *t.re) : inst.service == t.service_path) {
          m = true;
          break;
        }
      }
      break;
    case AffinityTerm::Key::container:
      for (const auto& c : nd.containers)
        if (test(c)) {
          m = true;
          break;
        }
      if (!m)
        for (const auto& inst : nd.instances) {
          if (inst.service == path) continue;
          if (test(container_name(inst.service, inst.instance_number))) {
            m = true;
            break;
          }
        }
      break;
  }
  return t.t.equal ? m : !m;
}

Engine::Engine(const std::vector<SchedulerNode>& nodes_, const ServiceSpec& svc_,
               const std::vector<CurrentInstance>& current, bool plan_mode)
    : nodes(nodes_), svc(svc_) {
  stack = svc.stack.empty() ? std::string("null") : svc.stack;
  path = stack + "/" + svc.name;
  n = static_cast<int>(nodes.size());
  counter.assign(n, 0);

  raw_terms = svc.affinity.empty() ? svc.default_affinity : svc.affinity;
  first_dynamic = raw_terms.size();
  for (std::size_t i = 0; i < raw_terms.size(); ++i) {
    bool per_instance = raw_terms[i].find("%s") != std::string::npos;
    Term t = compile(raw_terms[i], per_instance ? 1 : 0);  // validates every term up front
    if (first_dynamic == raw_terms.size()) {
      if (per_instance || t.self) first_dynamic = i;
      else static_terms.push_back(std::move(t));
    }
  }

  up.assign(n, 0);
  active.assign(n, 0);
  ephemeral.assign(n, 0);
  zone.assign(n, 0);
  memrank.assign(n, 0.0);
  std::unordered_map<std::string, int> zones;
  for (int i = 0; i < n; ++i) {
    const auto& nd = nodes[i];
    up[i] = nd.connected;
    active[i] = nd.availability == Availability::active;
    ephemeral[i] = is_ephemeral(nd);
    std::string az = "default";
    for (const auto& l : nd.labels)
      if (l.rfind("az=", 0) == 0) {
        az = l.substr(3);
        break;
      }
    auto [it, inserted] = zones.emplace(az, static_cast<int>(zones.size()));
    zone[i] = it->second;
    if (nd.has_memory_stats && nd.mem_total > 0)
      memrank[i] = static_cast<double>(nd.mem_used) / static_cast<double>(nd.mem_total);
    if (!current.empty()) by_id.emplace(nd.id, i);
  }
  zone_count = static_cast<int>(zones.size());

  for (const auto& c : current) {
    if (c.instance_number < 1 || current_node.count(c.instance_number)) continue;
    auto it = c.node_id.empty() ? by_id.end() : by_id.find(c.node_id);
    current_node[c.instance_number] = it == by_id.end() ? -1 : it->second;
  }

  mem_required = svc.memory ? *svc.memory : svc.memory_swap ? *svc.memory_swap : 256LL * 1024 * 1024;
  const bool needs_deps = !svc.volumes_from.empty() || svc.net.rfind("container:", 0) == 0;
  mem_ok.assign(n, 0);
  cpu_ok.assign(n, 0);
  port_free.assign(n, 1);
  for (int i = 0; i < n; ++i) {
    const auto& nd = nodes[i];
    bool ok = nd.mem_total >= mem_required;
    if (ok && nd.has_memory_stats) {
      std::int64_t used = nd.mem_used - (nd.mem_cached + nd.mem_buffers);
      ok = nd.mem_total - used >= mem_required;
    }
    mem_ok[i] = ok;
    cpu_ok[i] = !svc.cpus || nd.cpus >= *svc.cpus;
    if (!svc.ports.empty()) {
      for (const auto& inst : nd.instances) {
        if (inst.service == path) continue;
        for (const auto& p : inst.ports)
          for (const auto& q : svc.ports)
            if (same_port(p, q)) port_free[i] = 0;
      }
    }
    for (const auto& inst : nd.instances) {
      if (!needs_deps) break;
      auto slash = inst.service.find('/');
      if (slash == std::string::npos || inst.service.compare(0, slash, stack) != 0 || slash != stack.size()) continue;
      dep_index[inst.service.substr(slash + 1) + "-" + std::to_string(inst.instance_number)].push_back(i);
    }
  }

  // Static affinity terms: their soft decisions are taken over the connected nodes left by the
  // filters before them, as the chain does.
  std::vector<std::uint8_t> running(n, 0);
  for (int i = 0; i < n; ++i) running[i] = up[i] && active[i] && !(svc.stateful && ephemeral[i]);
  term_match.resize(static_terms.size());
  term_ignored.assign(static_terms.size(), 0);
  for (std::size_t t = 0; t < static_terms.size(); ++t) {
    auto& m = term_match[t];
    m.assign(n, 0);
    int left = 0;
    for (int i = 0; i < n; ++i) {
      m[i] = matches(static_terms[t], i);
      if (m[i] && running[i]) ++left;
    }
    if (left == 0 && static_terms[t].t.soft) {
      term_ignored[t] = 1;
      continue;
    }
    for (int i = 0; i < n; ++i) running[i] = running[i] && m[i];
  }
  for (int i = 0; i < n; ++i)
    if (running[i]) prefix.push_back(i);
  eligible.assign(n, 0);
  cand.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    bool ok = active[i] && !(svc.stateful && ephemeral[i]) && port_free[i] && cpu_ok[i];
    for (std::size_t t = 0; ok && t < static_terms.size(); ++t)
      if (!term_ignored[t] && !term_match[t][i]) ok = false;
    eligible[i] = ok;
    cand[i] = ok && up[i];
  }

  base.assign(n, 0);
  if (!plan_mode && svc.strategy == Strategy::daemon) {
    int total = instance_count_for(cand);
    for (const auto& [k, node] : current_node)
      if (node >= 0 && k <= total) ++base[node];
  }
}

void Engine::draw_perm(Rng& rng) {
  perm.resize(n);
  for (int i = 0; i < n; ++i) perm[i] = rng();
}

int Engine::instance_count_for(const std::vector<std::uint8_t>& mask) const {
  if (svc.strategy != Strategy::daemon) return std::max(0, svc.instances);
  // Fitting nodes: a new instance needs the memory; a node running one already counts anyway.
  std::vector<std::uint8_t> hosts(n, 0);
  for (const auto& [k, node] : current_node)
    if (node >= 0) hosts[node] = 1;
  int c = 0;
  for (int i = 0; i < n; ++i) c += mask[i] && (mem_ok[i] || hosts[i]) ? 1 : 0;
  return std::max(0, svc.instances) * c;
}

std::string Engine::instance_label(int k) const {
  return "instance " + std::to_string(k) + " of service " + path;
}

Error Engine::no_fit(int k, const std::string& field, const std::string& why) const {
  return Error(ErrorKind::conflict, "cannot place " + instance_label(k) + ": " + why, field);
}

std::vector<int> Engine::dynamic_candidates(int k) const {
  std::vector<int> list = prefix;
  for (std::size_t t = first_dynamic; t < raw_terms.size(); ++t) {
    Term term = compile(raw_terms[t], k);
    std::vector<int> next;
    next.reserve(list.size());
    for (int i : list)
      if (matches(term, i)) next.push_back(i);
    if (next.empty()) {
      if (term.t.soft) continue;
      return {};
    }
    list = std::move(next);
  }
  auto deps = dependency_nodes(k);
  std::erase_if(list, [&](int i) {
    if (!port_free[i] || !cpu_ok[i] || !dynamic_ok(k, i)) return true;
    return deps && !std::binary_search(deps->begin(), deps->end(), i);
  });
  return list;
}

std::optional<std::vector<int>> Engine::dependency_nodes(int k) const {
  std::vector<std::string> names;
  for (const auto& v : svc.volumes_from) names.push_back(substitute(v, k));
  if (svc.net.rfind("container:", 0) == 0 && svc.net.size() > 10) names.push_back(substitute(svc.net.substr(10), k));
  if (names.empty()) return std::nullopt;
  std::vector<int> out;
  bool first = true;
  for (const auto& name : names) {
    auto it = dep_index.find(name);
    std::vector<int> found = it == dep_index.end() ? std::vector<int>{} : it->second;
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    if (first) {
      out = std::move(found);
      first = false;
    } else {
      std::vector<int> both;
      std::set_intersection(out.begin(), out.end(), found.begin(), found.end(), std::back_inserter(both));
      out = std::move(both);
    }
  }
  return out;
}

ChainResult Engine::chain(int k, int exempt, int watch) const {
  ChainResult r;
  std::vector<int> list;
  list.reserve(n);
  for (int i = 0; i < n; ++i)
    if (up[i]) list.push_back(i);
  auto node_name = [&](int i) { return "node " + nodes[i].name; };
  if (watch >= 0 && !up[watch]) {
    r.watch_dropped = node_name(watch) + " is offline";
    r.watch_field = "nodes";
  }
  if (list.empty()) {
    r.error = no_fit(k, "nodes", "no connected nodes");
    return r;
  }
  // Keeps the nodes passing `keep`; false (and r.error) when none is left.
  auto step = [&](const char* field, auto keep, auto why_watch, auto why_none) -> bool {
    std::vector<int> next;
    next.reserve(list.size());
    for (int i : list) {
      if (keep(i)) next.push_back(i);
      else if (i == watch && r.watch_dropped.empty()) {
        r.watch_dropped = why_watch();
        r.watch_field = field;
      }
    }
    if (next.empty()) {
      r.error = no_fit(k, field, why_none());
      return false;
    }
    list = std::move(next);
    return true;
  };

  if (!step("availability", [&](int i) { return active[i] != 0; },
            [&] { return node_name(watch) + " is drained"; },
            [&] { return std::string("every connected node is drained"); }))
    return r;
  if (svc.stateful &&
      !step("ephemeral", [&](int i) { return !ephemeral[i] || i == exempt; },
            [&] { return node_name(watch) + " is ephemeral"; },
            [&] {
              return std::string("every candidate node is ephemeral (stateful services do not run on ephemeral nodes)");
            }))
    return r;

  for (std::size_t t = 0; t < raw_terms.size(); ++t) {
    Term dyn;
    const Term* term;
    if (t < first_dynamic) {
      term = &static_terms[t];
    } else {
      dyn = compile(raw_terms[t], k);
      term = &dyn;
    }
    auto match = [&](int i) { return t < first_dynamic ? term_match[t][i] != 0 : matches(*term, i); };
    bool any = false;
    for (int i : list)
      if (match(i)) {
        any = true;
        break;
      }
    if (!any && term->t.soft) continue;
    if (!step("affinity", match, [&] { return node_name(watch) + " does not match affinity " + term->t.text; },
              [&] { return "no nodes match affinity " + term->t.text; }))
      return r;
  }

  auto ports_list = [&] {
    std::string s;
    for (const auto& p : svc.ports) s += (s.empty() ? "" : ", ") + port_text(p);
    return s;
  };
  if (!step("port", [&](int i) { return port_free[i] && !(has_ports() && counter[i] > 0); },
            [&] { return "port " + ports_list() + " is in use on " + node_name(watch); },
            [&] {
              return svc.ports.size() == 1 ? "port " + ports_list() + " is in use on every candidate node"
                                           : "ports " + ports_list() + ": every candidate node has one of them in use";
            }))
    return r;
  if (svc.cpus) {
    double most = 0;
    for (int i : list) most = std::max(most, nodes[i].cpus);
    if (!step("cpu", [&](int i) { return cpu_ok[i] != 0; },
              [&] { return node_name(watch) + " has " + fmt_number(nodes[watch].cpus) + " CPUs"; },
              [&] {
                return "no candidate node has " + fmt_number(*svc.cpus) + " CPUs (the most is " + fmt_number(most) + ")";
              }))
      return r;
  }
  if (!memory_exempt(k) &&
      !step("memory", [&](int i) { return mem_ok[i] != 0; },
            [&] { return node_name(watch) + " has less than " + human_bytes(mem_required) + " of free memory"; },
            [&] { return "no candidate node has " + human_bytes(mem_required) + " of free memory"; }))
    return r;

  auto dep_step = [&](const std::string& what, const std::string& name) {
    auto it = dep_index.find(name);
    auto has = [&](int i) {
      return it != dep_index.end() && std::find(it->second.begin(), it->second.end(), i) != it->second.end();
    };
    return step("dependency", has, [&] { return node_name(watch) + " does not run " + name + " (" + what + ")"; },
                [&] { return "no candidate node runs " + name + " of stack " + stack + " (" + what + ")"; });
  };
  for (const auto& v : svc.volumes_from)
    if (!dep_step("volumes_from " + v, substitute(v, k))) return r;
  if (svc.net.rfind("container:", 0) == 0 && svc.net.size() > 10)
    if (!dep_step("net " + svc.net, substitute(svc.net.substr(10), k))) return r;

  r.nodes = std::move(list);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Strategy selectors.

namespace {

// ha: [zone load, node counter, 10 - 5·(instance already there) + mem_used/mem_total], ties by a
// random priority. Kept as one ordered set per zone plus the zones ordered by load.
class HaSelector final : public Selector {
 public:
  // Nodes short of memory for a new instance sit in a second set per zone (tier 1), which only
  // instances exempt from the memory filter look at: new instances never wade through them.
  HaSelector(Engine& e) : e_(e), zones_(2 * static_cast<std::size_t>(e.zone_count)), load_(e.zone_count, 0) {
    std::vector<std::uint8_t> any(e.zone_count, 0);
    std::vector<Key> keys;
    keys.reserve(e.n);
    for (int i = 0; i < e.n; ++i)
      if (e.cand[i]) {
        keys.push_back(key(i));
        load_[e.zone[i]] += e.counter[i];
        any[e.zone[i]] = 1;
      }
    std::sort(keys.begin(), keys.end());  // then each insert is at the end: amortized O(1)
    for (const auto& k : keys) {
      auto& set = set_of(k.idx);
      set.insert(set.end(), k);
    }
    for (int z = 0; z < e.zone_count; ++z)
      if (any[z]) order_.insert({load_[z], z});
  }

  int pick(int k, int sticky, const std::function<bool(int)>& ok) override {
    int best = -1;
    std::vector<std::pair<Set::const_iterator, Set::const_iterator>> cur;
    const int tiers = e_.memory_exempt(k) ? 2 : 1;
    for (auto it = order_.begin(); it != order_.end() && best < 0;) {
      long load = it->first;
      cur.clear();
      auto jt = it;
      for (; jt != order_.end() && jt->first == load; ++jt)
        for (int t = 0; t < tiers; ++t) {
          const auto& set = zones_[2 * static_cast<std::size_t>(jt->second) + t];
          if (!set.empty()) cur.push_back({set.begin(), set.end()});
        }
      for (;;) {
        int mi = -1;
        for (int c = 0; c < static_cast<int>(cur.size()); ++c)
          if (cur[c].first != cur[c].second && (mi < 0 || *cur[c].first < *cur[mi].first)) mi = c;
        if (mi < 0) break;
        int node = cur[mi].first->idx;
        if (ok(node)) {
          best = node;
          break;
        }
        ++cur[mi].first;
      }
      it = jt;
    }
    if (sticky >= 0 && e_.cand[sticky] && ok(sticky) && (best < 0 || full(sticky, sticky) < full(best, sticky)))
      best = sticky;
    return best;
  }

  int pick_from(const std::vector<int>& list, int k, int sticky) override {
    (void)k;
    int best = -1;
    for (int i : list)
      if (best < 0 || full(i, sticky) < full(best, sticky)) best = i;
    return best;
  }

  void placed(int node) override {
    if (!e_.cand[node]) {
      ++e_.counter[node];
      return;
    }
    int z = e_.zone[node];
    set_of(node).erase(key(node));
    order_.erase({load_[z], z});
    ++e_.counter[node];
    ++load_[z];
    set_of(node).insert(key(node));
    order_.insert({load_[z], z});
  }

 private:
  struct Key {
    int counter;
    double rank;
    std::uint64_t perm;
    int idx;
    bool operator<(const Key& o) const {
      return std::tie(counter, rank, perm, idx) < std::tie(o.counter, o.rank, o.perm, o.idx);
    }
  };
  using Set = std::set<Key>;
  Key key(int i) const { return {e_.counter[i], e_.ha_rank(i, -1), e_.perm[i], i}; }
  Set& set_of(int i) { return zones_[2 * static_cast<std::size_t>(e_.zone[i]) + (e_.mem_ok[i] ? 0 : 1)]; }
  std::tuple<long, int, double, std::uint64_t, int> full(int i, int sticky) const {
    long load = e_.cand[i] ? load_[e_.zone[i]] : 0;
    return {load, e_.counter[i], e_.ha_rank(i, sticky), e_.perm[i], i};
  }

  Engine& e_;
  std::vector<Set> zones_;
  std::vector<long> load_;
  std::set<std::pair<long, int>> order_;
};

// daemon: [instances on the node (this instance's own node counts -1), node_number].
class DaemonSelector final : public Selector {
 public:
  DaemonSelector(Engine& e) : e_(e) {
    for (int i = 0; i < e.n; ++i)
      if (e.cand[i]) set_of(i).insert(key(i));
  }
  int pick(int k, int sticky, const std::function<bool(int)>& ok) override {
    int best = -1;
    for (const auto& key : sets_[0])
      if (ok(key.idx)) {
        best = key.idx;
        break;
      }
    if (e_.memory_exempt(k))  // nodes short of memory: only for instances that exist already
      for (const auto& key : sets_[1])
        if (ok(key.idx)) {
          if (best < 0 || full(key.idx, -1) < full(best, -1)) best = key.idx;
          break;
        }
    if (sticky >= 0 && e_.cand[sticky] && ok(sticky) && (best < 0 || full(sticky, sticky) < full(best, sticky)))
      best = sticky;
    return best;
  }
  int pick_from(const std::vector<int>& list, int k, int sticky) override {
    (void)k;
    int best = -1;
    for (int i : list)
      if (best < 0 || full(i, sticky) < full(best, sticky)) best = i;
    return best;
  }
  void placed(int node) override {
    if (e_.cand[node]) set_of(node).erase(key(node));
    ++e_.counter[node];
    if (e_.cand[node]) set_of(node).insert(key(node));
  }

 private:
  struct Key {
    long primary;
    int number;
    int idx;
    bool operator<(const Key& o) const { return std::tie(primary, number, idx) < std::tie(o.primary, o.number, o.idx); }
  };
  Key key(int i) const { return {e_.daemon_primary(i, -1), e_.nodes[i].node_number, i}; }
  std::tuple<long, int, int> full(int i, int sticky) const {
    return {e_.daemon_primary(i, sticky), e_.nodes[i].node_number, i};
  }
  std::set<Key>& set_of(int i) { return sets_[e_.mem_ok[i] ? 0 : 1]; }
  Engine& e_;
  std::set<Key> sets_[2];
};

// random: the instance's node when it still fits, else a uniform draw among the fitting nodes.
class RandomSelector final : public Selector {
 public:
  RandomSelector(Engine& e, Rng& rng) : e_(e), rng_(rng) {
    for (int i = 0; i < e.n; ++i)
      if (e.cand[i]) (e.mem_ok[i] ? list_ : low_).push_back(i);
  }
  int pick(int k, int sticky, const std::function<bool(int)>& ok) override {
    if (sticky >= 0 && e_.cand[sticky] && ok(sticky)) return sticky;
    // New instances draw among the nodes with memory enough; existing ones among all.
    const std::size_t size = list_.size() + (e_.memory_exempt(k) ? low_.size() : 0);
    auto at = [&](std::size_t i) { return i < list_.size() ? list_[i] : low_[i - list_.size()]; };
    if (size == 0) return -1;
    // Rejection sampling keeps the draw uniform over the fitting nodes without a pass over all.
    for (int t = 0; t < 32; ++t) {
      int i = at(uniform(rng_, size));
      if (ok(i)) return i;
    }
    std::vector<int> fit;
    for (std::size_t i = 0; i < size; ++i)
      if (ok(at(i))) fit.push_back(at(i));
    return fit.empty() ? -1 : fit[uniform(rng_, fit.size())];
  }
  int pick_from(const std::vector<int>& list, int k, int sticky) override {
    (void)k;
    if (list.empty()) return -1;
    if (sticky >= 0 && std::find(list.begin(), list.end(), sticky) != list.end()) return sticky;
    return list[uniform(rng_, list.size())];
  }
  void placed(int node) override { ++e_.counter[node]; }

 private:
  Engine& e_;
  Rng& rng_;
  std::vector<int> list_, low_;
};

}  // namespace

std::unique_ptr<Selector> make_selector(Engine& e, Rng& rng) {
  switch (e.svc.strategy) {
    case Strategy::ha: return std::make_unique<HaSelector>(e);
    case Strategy::daemon: return std::make_unique<DaemonSelector>(e);
    case Strategy::random: return std::make_unique<RandomSelector>(e, rng);
  }
  return std::make_unique<HaSelector>(e);
}

}  // namespace detail
}  // namespace kontena::scheduler
