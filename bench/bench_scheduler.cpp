// bench_scheduler: placements per second of the scheduler (src/master/scheduler), a pure function,
// over simulated nodes; no server. Prints figures; exits 0 unless it could not run.
//
//   bench_scheduler [--nodes 10000] [--instances 100000] [--zones 10] [--baseline 1000] [--seed 1]
//
// Every figure is measured in this run, except Nomad's, which is its published record
// (3,750 placements/s, "Nomad One Million Container Challenge"), quoted for scale only.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "master/scheduler/scheduler.h"

using namespace kontena::scheduler;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int nodes = 10000;
  int instances = 100000;
  int zones = 10;
  int baseline = 1000;  // instances placed by the naive reference (O(nodes log nodes) each)
  unsigned long long seed = 1;
};

constexpr double kNomadPublished = 3750.0;
constexpr double kTarget = 50000.0;
constexpr std::int64_t GiB = 1024LL * 1024 * 1024;

std::vector<SchedulerNode> make_nodes(const Options& o, Rng& rng) {
  std::vector<SchedulerNode> ns;
  ns.reserve(o.nodes);
  for (int i = 0; i < o.nodes; ++i) {
    SchedulerNode n;
    n.id = "node-id-" + std::to_string(i + 1);
    n.name = "node-" + std::to_string(i + 1);
    n.node_number = i + 1;
    n.labels = {"az=zone-" + std::to_string(i % o.zones), (i % 7 == 0) ? "disk=hdd" : "disk=ssd", "region=eu"};
    n.connected = true;
    n.cpus = 2 + static_cast<double>(rng() % 15);
    n.mem_total = (4 + static_cast<std::int64_t>(rng() % 60)) * GiB;
    n.has_memory_stats = true;
    n.mem_used = static_cast<std::int64_t>(static_cast<double>(n.mem_total) * (static_cast<double>(rng() % 80) / 100.0));
    n.mem_cached = n.mem_used / 4;
    n.mem_buffers = n.mem_used / 16;
    // A few other services on every node (ports, service and container affinity look at them).
    n.instances.push_back({"infra/lb", i + 1, {{80, 80, "tcp"}}});
    n.instances.push_back({"infra/agent", i + 1, {}});
    ns.push_back(std::move(n));
  }
  return ns;
}

ServiceSpec ha_service(int instances) {
  ServiceSpec s;
  s.stack = "bench";
  s.name = "web";
  s.strategy = Strategy::ha;
  s.instances = instances;
  s.affinity = {"label!=disk=hdd", "label==region=eu", "service==infra/agent", "label==~gpu=yes"};
  s.memory = 128 * 1024 * 1024;
  s.cpus = 1;
  return s;
}

template <class F>
double seconds(F f) {
  auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string rate(double placements, double secs) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", secs > 0 ? placements / secs : 0.0);
  return buf;
}

void spread(const std::vector<SchedulerNode>& ns, const Placement& p, const Options& o) {
  std::map<std::string, int> zone;
  std::vector<int> node(ns.size(), 0);
  for (const auto& a : p.instances) {
    ++node[a.node_index];
    ++zone[ns[a.node_index].labels[0]];
  }
  int zmin = 1 << 30, zmax = 0, nmin = 1 << 30, nmax = 0, used = 0;
  for (const auto& [z, c] : zone) zmin = std::min(zmin, c), zmax = std::max(zmax, c);
  for (std::size_t i = 0; i < ns.size(); ++i) {
    if (ns[i].labels[1] == "disk=hdd") continue;
    nmin = std::min(nmin, node[i]);
    nmax = std::max(nmax, node[i]);
    used += node[i] > 0;
  }
  std::printf("  spread: %zu zones of %d, %d..%d instances per zone; %d eligible nodes used, %d..%d per node\n",
              zone.size(), o.zones, zmin, zmax, used, nmin, nmax);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--nodes")) o.nodes = std::atoi(next("--nodes"));
    else if (!std::strcmp(argv[i], "--instances")) o.instances = std::atoi(next("--instances"));
    else if (!std::strcmp(argv[i], "--zones")) o.zones = std::atoi(next("--zones"));
    else if (!std::strcmp(argv[i], "--baseline")) o.baseline = std::atoi(next("--baseline"));
    else if (!std::strcmp(argv[i], "--seed")) o.seed = std::strtoull(next("--seed"), nullptr, 10);
    else {
      std::printf("usage: bench_scheduler [--nodes N] [--instances N] [--zones N] [--baseline N] [--seed N]\n");
      return std::strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (o.nodes < 1 || o.instances < 1 || o.zones < 1 || o.baseline < 1) {
    std::fprintf(stderr, "every count must be at least 1\n");
    return 2;
  }

  Rng setup(o.seed);
  auto ns = make_nodes(o, setup);
  std::printf("bench_scheduler: %d nodes in %d zones (1 in 7 labelled disk=hdd), seed %llu\n", o.nodes, o.zones, o.seed);

  try {
    // 1. ha + affinity, the headline.
    auto svc = ha_service(o.instances);
    std::printf("\n[ha + affinity] %d instances, affinity %s %s %s %s, cpus 1, memory 128 MiB\n", o.instances,
                svc.affinity[0].c_str(), svc.affinity[1].c_str(), svc.affinity[2].c_str(), svc.affinity[3].c_str());
    Placement ha;
    Rng r1(o.seed);
    double t_ha = seconds([&] { ha = schedule(ns, svc, {}, r1); });
    double ha_rate = o.instances / t_ha;
    std::printf("  schedule():           %8d placements in %.3f s = %s placements/s\n", o.instances, t_ha,
                rate(o.instances, t_ha).c_str());
    spread(ns, ha, o);

    // The same rule, naively (filter chain over every node + full sort per instance).
    auto small = ha_service(o.baseline);
    Placement naive, fast_small;
    Rng r2(o.seed), r3(o.seed);
    double t_naive = seconds([&] { naive = reference::schedule(ns, small, {}, r2); });
    double t_fast_small = seconds([&] { fast_small = schedule(ns, small, {}, r3); });
    double naive_rate = o.baseline / t_naive;
    bool same = naive.instances == fast_small.instances;
    std::printf("  naive reference:      %8d placements in %.3f s = %s placements/s (same-run baseline)\n",
                o.baseline, t_naive, rate(o.baseline, t_naive).c_str());
    std::printf("  schedule(), same %d:  %.3f s; placements identical to the naive reference: %s\n", o.baseline,
                t_fast_small, same ? "yes" : "NO");
    std::printf("  ratio schedule()/naive (measured, this run): %.1fx\n", ha_rate / naive_rate);

    // 2. redeploy: the same service again with its current instances (stickiness rank).
    std::vector<CurrentInstance> cur;
    cur.reserve(ha.instances.size());
    for (const auto& a : ha.instances) cur.push_back({a.instance_number, a.node_id});
    Placement again;
    Rng r4(o.seed + 1);
    double t_re = seconds([&] { again = schedule(ns, svc, cur, r4); });
    int stayed = 0;
    for (std::size_t i = 0; i < again.instances.size(); ++i) stayed += again.instances[i].node_id == cur[i].node_id;
    std::printf("\n[ha redeploy] %d instances with their current nodes: %s placements/s, %d stayed on their node\n",
                o.instances, rate(o.instances, t_re).c_str(), stayed);

    // 2b. many services: the per-call filter precomputation amortized over fewer instances.
    {
      const int services = 100;
      const int each = std::max(1, o.instances / services);
      Rng rm(o.seed);
      double t_many = seconds([&] {
        for (int i = 0; i < services; ++i) {
          auto si = ha_service(each);
          si.name = "svc" + std::to_string(i);
          schedule(ns, si, {}, rm);
        }
      });
      std::printf("\n[ha + affinity, %d services x %d instances] %s placements/s\n", services, each,
                  rate(static_cast<double>(services) * each, t_many).c_str());
    }

    // 2c. a node port: at most one instance per node (the service's own instances exclude nodes).
    {
      auto sp = ha_service(std::min(o.instances, o.nodes * 8 / 10));
      sp.name = "api";
      sp.ports = {{8080, 8080, "tcp"}};
      Placement pp;
      Rng rp(o.seed);
      double t_port = seconds([&] { pp = schedule(ns, sp, {}, rp); });
      std::printf("\n[ha + affinity + node port 8080] %d instances, one per node: %s placements/s\n", sp.instances,
                  rate(sp.instances, t_port).c_str());
    }

    // 2d. half the nodes without the memory a new instance asks for (they never get one).
    {
      auto big = ha_service(o.instances);
      big.name = "big";
      big.memory = 40 * GiB;
      int fit = 0;
      for (const auto& n : ns)
        fit += n.labels[1] != "disk=hdd" && n.mem_total - (n.mem_used - n.mem_cached - n.mem_buffers) >= *big.memory;
      Placement bp;
      Rng rb(o.seed);
      double t_big = seconds([&] { bp = schedule(ns, big, {}, rb); });
      std::printf("\n[ha + affinity, memory 40 GiB: %d of the eligible nodes fit] %d instances: %s placements/s\n", fit,
                  o.instances, rate(o.instances, t_big).c_str());
    }

    // 2e. a per-instance (%s) affinity: evaluated over the connected nodes for every instance.
    {
      auto pin = ha_service(std::min(o.instances, 1000));
      pin.name = "pinned";
      pin.affinity = {"label!=disk=hdd", "node!=node-%s"};
      Rng rpin(o.seed);
      double t_pin = seconds([&] { schedule(ns, pin, {}, rpin); });
      std::printf("\n[ha + per-instance affinity node!=node-%%s] %d instances: %s placements/s (O(nodes) each)\n",
                  pin.instances, rate(pin.instances, t_pin).c_str());
    }

    // 3. daemon: instances per node x nodes.
    ServiceSpec d;
    d.stack = "bench";
    d.name = "agentd";
    d.strategy = Strategy::daemon;
    d.instances = std::max(1, o.instances / o.nodes);
    d.affinity = {"label!=disk=hdd"};
    Placement dp;
    Rng r5(o.seed);
    double t_d = seconds([&] { dp = schedule(ns, d, {}, r5); });
    std::printf("\n[daemon] %d per node on the %d fitting nodes = %d instances: %s placements/s\n", d.instances,
                dp.instance_count / d.instances, dp.instance_count, rate(dp.instance_count, t_d).c_str());
    auto d_small = d;
    std::vector<SchedulerNode> few(ns.begin(), ns.begin() + std::min<std::size_t>(ns.size(), 1000));
    Rng r6(o.seed), r7(o.seed);
    Placement dn, df;
    double t_dn = seconds([&] { dn = reference::schedule(few, d_small, {}, r6); });
    double t_df = seconds([&] { df = schedule(few, d_small, {}, r7); });
    std::printf("  on %zu nodes: naive %s placements/s, schedule() %s placements/s, identical: %s\n", few.size(),
                rate(dn.instance_count, t_dn).c_str(), rate(df.instance_count, t_df).c_str(),
                dn.instances == df.instances ? "yes" : "NO");

    // 4. random.
    ServiceSpec rs = ha_service(o.instances);
    rs.name = "worker";
    rs.strategy = Strategy::random;
    Placement rp;
    Rng r8(o.seed);
    double t_r = seconds([&] { rp = schedule(ns, rs, {}, r8); });
    std::printf("\n[random + affinity] %d instances: %s placements/s\n", o.instances, rate(o.instances, t_r).c_str());

    // 5. reschedule plan: 1%% of the nodes offline past the ha grace period.
    auto now = TimePoint{std::chrono::seconds(1'800'000'000)};
    auto down = ns;
    int offline = 0;
    for (std::size_t i = 0; i < down.size(); i += 100) {
      down[i].connected = false;
      down[i].last_seen = now - std::chrono::minutes(5);
      ++offline;
    }
    Plan pl;
    Rng r9(o.seed);
    double t_p = seconds([&] { pl = plan(down, svc, cur, now, r9); });
    std::printf("\n[plan] %d instances, %d nodes offline for 5 min (ha grace 2 min): %zu moves, %zu kept, %.3f s "
                "(%s instances/s)\n",
                o.instances, offline, pl.moves.size(), pl.desired.size() - pl.moves.size(), t_p,
                rate(o.instances, t_p).c_str());

    std::printf("\nsummary\n");
    std::printf("  ha + affinity, %d instances over %d nodes: %.0f placements/s (target > %.0f): %s\n", o.instances,
                o.nodes, ha_rate, kTarget, ha_rate > kTarget ? "PASS" : "MISS");
    std::printf("  vs the naive reference measured in this run: %.1fx\n", ha_rate / naive_rate);
    std::printf("  vs Nomad's published record of %.0f placements/s (published figure, not measured here): %.1fx\n",
                kNomadPublished, ha_rate / kNomadPublished);
  } catch (const kontena::Error& e) {
    std::fprintf(stderr, "bench_scheduler: %s\n", e.what());
    return 1;
  }
  return 0;
}
