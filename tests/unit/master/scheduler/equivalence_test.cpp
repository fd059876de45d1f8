// The fast schedule() against the naive reference (the filter chain over every node and a full
// sort per instance): on random clusters and services both give the same placements, or the
// same error, for ha and daemon. Random draws differ by design; there the placements must pass
// the filter chain.
#include "fixture.h"

namespace kontena::scheduler::testing {
namespace {

struct Gen {
  Rng rng;
  explicit Gen(std::uint64_t seed) : rng(seed) {}
  int upto(int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); }
  bool chance(int percent) { return upto(100) < percent; }
  template <class T>
  const T& one(const std::vector<T>& v) { return v[upto(static_cast<int>(v.size()))]; }
};

std::vector<SchedulerNode> random_nodes(Gen& g) {
  int n = 1 + g.upto(40);
  std::vector<SchedulerNode> ns;
  for (int i = 0; i < n; ++i) {
    auto nd = node("n" + std::to_string(i), {}, 1 + g.upto(60));
    if (g.chance(80)) nd.labels.push_back("az=" + std::string(1, static_cast<char>('a' + g.upto(3))));
    if (g.chance(30)) nd.labels.push_back("disk=ssd");
    if (g.chance(10)) nd.labels.push_back("ephemeral=yes");
    nd.connected = g.chance(85);
    if (g.chance(10)) nd.availability = Availability::drain;
    nd.cpus = 1 + g.upto(8);
    nd.mem_total = (1 + g.upto(8)) * GiB / 2;
    if (g.chance(70)) {
      nd.has_memory_stats = true;
      nd.mem_used = nd.mem_total / 100 * g.upto(100);
      nd.mem_cached = nd.mem_used / 4;
    }
    if (g.chance(30)) nd.instances.push_back(running("app/db", 1 + g.upto(4)));
    if (g.chance(20)) nd.instances.push_back(running("infra/lb", 1, {{80, 80, "tcp"}}));
    if (g.chance(10)) nd.containers.push_back("weave");
    ns.push_back(std::move(nd));
  }
  return ns;
}

ServiceSpec random_service(Gen& g, bool with_random) {
  static const std::vector<std::string> pool{
      "label==az=a",     "label!=az=b",      "label==~disk=ssd", "label!=~disk=ssd", "node!=n1",
      "node==/^n[0-9]$/", "node==~n%s",      "service==db",      "service!=app/db",  "service!=~web",
      "container!=weave", "container==~app.db-%s", "label==~gpu",  "node!=~n2",        "service!=web"};
  auto s = service("web", 1 + g.upto(12), with_random ? Strategy::random : (g.chance(70) ? Strategy::ha : Strategy::daemon));
  if (s.strategy == Strategy::daemon) s.instances = 1 + g.upto(2);
  int terms = g.upto(3);
  for (int i = 0; i < terms; ++i) s.affinity.push_back(g.one(pool));
  if (g.chance(20)) s.default_affinity = {"label!=disk=ssd"};
  if (g.chance(20)) s.ports = {{80, 80, "tcp"}};
  if (g.chance(20)) s.cpus = 1 + g.upto(6);
  if (g.chance(30)) s.memory = (1 + g.upto(6)) * GiB / 4;
  if (g.chance(10)) s.volumes_from = {"db-%s"};
  if (g.chance(15)) s.stateful = true;
  return s;
}

std::vector<CurrentInstance> random_current(Gen& g, const std::vector<SchedulerNode>& ns) {
  std::vector<CurrentInstance> cur;
  int count = g.upto(10);
  for (int k = 1; k <= count; ++k) {
    if (g.chance(20)) continue;
    cur.push_back({k, g.chance(10) ? std::string() : ns[g.upto(static_cast<int>(ns.size()))].id});
  }
  return cur;
}

TEST(Equivalence, FastScheduleEqualsTheNaiveReference) {
  int compared = 0, errors = 0;
  for (std::uint64_t seed = 1; seed <= 3000; ++seed) {
    Gen g(seed);
    auto ns = random_nodes(g);
    auto s = random_service(g, false);
    auto cur = random_current(g, ns);
    std::string fast_err, ref_err;
    Placement fast, ref;
    try {
      Rng r(seed);
      fast = schedule(ns, s, cur, r);
    } catch (const Error& e) {
      fast_err = e.what();
    }
    try {
      Rng r(seed);
      ref = reference::schedule(ns, s, cur, r);
    } catch (const Error& e) {
      ref_err = e.what();
    }
    ASSERT_EQ(fast_err, ref_err) << "seed " << seed;
    if (fast_err.empty()) {
      ASSERT_EQ(fast.instance_count, ref.instance_count) << "seed " << seed;
      ASSERT_EQ(fast.instances, ref.instances) << "seed " << seed;
      ++compared;
    } else {
      ++errors;
    }
  }
  // Both kinds of outcome are exercised.
  EXPECT_GT(compared, 500);
  EXPECT_GT(errors, 300);
}

TEST(Equivalence, RandomStrategyFailsExactlyWhenTheReferenceDoes) {
  for (std::uint64_t seed = 1; seed <= 1500; ++seed) {
    Gen g(seed);
    auto ns = random_nodes(g);
    auto s = random_service(g, true);
    auto cur = random_current(g, ns);
    std::string fast_err, ref_err;
    try {
      Rng r(seed);
      schedule(ns, s, cur, r);
    } catch (const Error& e) {
      fast_err = e.what();
    }
    try {
      Rng r(seed);
      reference::schedule(ns, s, cur, r);
    } catch (const Error& e) {
      ref_err = e.what();
    }
    // Different draws can make a later instance fail differently (ports, self affinity), so only
    // the first instance's outcome must agree.
    if (s.instances == 1) {
      ASSERT_EQ(fast_err, ref_err) << "seed " << seed;
    }
  }
}

}  // namespace
}  // namespace kontena::scheduler::testing
