// Affinity (reference §5.2): key(==|!=)[~]value, keys node/label/service/container, /regex/, %s,
// soft terms, bare service names, the grid's default affinity.
#include "fixture.h"

namespace kontena::scheduler::testing {
namespace {

Placement place(const std::vector<SchedulerNode>& ns, const ServiceSpec& s, const std::vector<CurrentInstance>& cur = {}) {
  Rng rng(11);
  return schedule(ns, s, cur, rng);
}

ServiceSpec with(std::vector<std::string> affinity, int instances = 4) {
  auto s = service("web", instances);
  s.affinity = std::move(affinity);
  return s;
}

std::set<std::string> used(const std::vector<SchedulerNode>& ns, const Placement& p) {
  std::set<std::string> s;
  for (const auto& a : p.instances) s.insert(ns[a.node_index].name);
  return s;
}

TEST(AffinityParse, Forms) {
  auto t = parse_affinity("label==az=a");
  EXPECT_EQ(t.key, AffinityTerm::Key::label);
  EXPECT_TRUE(t.equal);
  EXPECT_FALSE(t.soft);
  EXPECT_FALSE(t.regex);
  EXPECT_EQ(t.value, "az=a");
  t = parse_affinity("node!=~/^db-\\d+$/");
  EXPECT_EQ(t.key, AffinityTerm::Key::node);
  EXPECT_FALSE(t.equal);
  EXPECT_TRUE(t.soft);
  EXPECT_TRUE(t.regex);
  EXPECT_EQ(t.value, "^db-\\d+$");
  EXPECT_EQ(parse_affinity("service==other/db").key, AffinityTerm::Key::service);
  EXPECT_EQ(parse_affinity("container!=lb-1").key, AffinityTerm::Key::container);
}

TEST(AffinityParse, ErrorsAreInvalidOnTheAffinityField) {
  for (const char* bad : {"label=az", "==x", "label==", "label==~", "host==a", "node==//"}) {
    auto e = error_of([&] { parse_affinity(bad); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
    EXPECT_EQ(e.field(), "affinity") << bad;
  }
  EXPECT_NE(std::string(error_of([] { parse_affinity("host==a"); }).what()).find("unknown key \"host\""),
            std::string::npos);
  // A bad term fails the whole schedule, even a per-instance one.
  auto ns = nodes(2);
  EXPECT_EQ(error_of([&] { place(ns, with({"node==/(/"})); }).kind(), ErrorKind::invalid);
  EXPECT_EQ(error_of([&] { place(ns, with({"label==a", "bogus%s"})); }).field(), "affinity");
}

TEST(Affinity, NodeEqualAndNotEqual) {
  auto ns = nodes(3);
  EXPECT_EQ(used(ns, place(ns, with({"node==node-2"}))), (std::set<std::string>{"node-2"}));
  EXPECT_EQ(used(ns, place(ns, with({"node!=node-2"}))), (std::set<std::string>{"node-1", "node-3"}));
}

TEST(Affinity, LabelMatchesTheWholeKeyValueString) {
  std::vector<SchedulerNode> ns{node("a", {"az=a", "disk=ssd"}), node("b", {"az=b"}), node("c", {"az=ab"})};
  EXPECT_EQ(used(ns, place(ns, with({"label==az=a"}))), (std::set<std::string>{"a"}));
  EXPECT_EQ(used(ns, place(ns, with({"label!=disk=ssd"}))), (std::set<std::string>{"b", "c"}));
  auto e = error_of([&] { place(ns, with({"label==az=x"})); });
  EXPECT_EQ(e.field(), "affinity");
  EXPECT_EQ(std::string(e.what()), "cannot place instance 1 of service app/web: no nodes match affinity label==az=x");
}

TEST(Affinity, RegexSearchesTheValue) {
  std::vector<SchedulerNode> ns{node("db-1"), node("db-2"), node("web-1"), node("cache", {"az=eu-1"})};
  EXPECT_EQ(used(ns, place(ns, with({"node==/^db-/"}))), (std::set<std::string>{"db-1", "db-2"}));
  EXPECT_EQ(used(ns, place(ns, with({"node!=/^db-/"}))), (std::set<std::string>{"web-1", "cache"}));
  EXPECT_EQ(used(ns, place(ns, with({"label==/^az=eu-/"}))), (std::set<std::string>{"cache"}));
}

TEST(Affinity, SoftTermIsIgnoredOnlyWhenItWouldLeaveNothing) {
  auto ns = nodes(3);
  ns[1].labels = {"ssd"};
  EXPECT_EQ(used(ns, place(ns, with({"label==~ssd"}))), (std::set<std::string>{"node-2"}));
  EXPECT_EQ(used(ns, place(ns, with({"label==~gpu"}))).size(), 3u);
  // Relative to the nodes left by the terms before it.
  EXPECT_EQ(used(ns, place(ns, with({"node!=node-2", "label==~ssd"}))), (std::set<std::string>{"node-1", "node-3"}));
  // A soft term does not rescue a hard one.
  EXPECT_EQ(error_of([&] { place(ns, with({"label==gpu", "label==~ssd"})); }).field(), "affinity");
}

TEST(Affinity, PercentSIsTheInstanceNumber) {
  auto ns = nodes(3);
  auto m = by_name(ns, place(ns, with({"node==node-%s"}, 3)));
  EXPECT_EQ(m[1], "node-1");
  EXPECT_EQ(m[2], "node-2");
  EXPECT_EQ(m[3], "node-3");
  // Anti-affinity with the same-numbered instance of another service.
  ns[0].instances.push_back(running("app/db", 1));
  ns[1].instances.push_back(running("app/db", 2));
  auto s = with({"container!=app.db-%s"}, 2);
  auto m2 = by_name(ns, place(ns, s));
  EXPECT_NE(m2[1], "node-1");
  EXPECT_NE(m2[2], "node-2");
  auto e = error_of([&] { place(ns, with({"node==node-%s"}, 4)); });
  EXPECT_EQ(std::string(e.what()), "cannot place instance 4 of service app/web: no nodes match affinity node==node-4");
}

TEST(Affinity, ServiceBareNameIsTheSameStack) {
  auto ns = nodes(3);
  ns[0].instances.push_back(running("app/db", 1));
  ns[1].instances.push_back(running("other/db", 1));
  EXPECT_EQ(used(ns, place(ns, with({"service==db"}))), (std::set<std::string>{"node-1"}));
  EXPECT_EQ(used(ns, place(ns, with({"service==other/db"}))), (std::set<std::string>{"node-2"}));
  EXPECT_EQ(used(ns, place(ns, with({"service!=db"}))), (std::set<std::string>{"node-2", "node-3"}));
  // An unknown service matches no node: fine with !=, an error with ==.
  EXPECT_EQ(used(ns, place(ns, with({"service!=nosuch"}))).size(), 3u);
  EXPECT_EQ(error_of([&] { place(ns, with({"service==nosuch"})); }).field(), "affinity");
  EXPECT_EQ(used(ns, place(ns, with({"service==/db$/"}))), (std::set<std::string>{"node-1", "node-2"}));
}

TEST(Affinity, ServiceAntiAffinityWithItselfMeansOnePerNode) {
  auto ns = nodes(3);
  auto s = with({"service!=web"}, 3);
  EXPECT_EQ(used(ns, place(ns, s)).size(), 3u);
  s.instances = 4;
  auto e = error_of([&] { place(ns, s); });
  EXPECT_EQ(std::string(e.what()), "cannot place instance 4 of service app/web: no nodes match affinity service!=web");
  // Soft: a fourth one goes somewhere anyway.
  s.affinity = {"service!=~web"};
  EXPECT_EQ(place(ns, s).instances.size(), 4u);
  // Self-affinity: all on one node.
  s.affinity = {"service==~app/web"};
  EXPECT_EQ(used(ns, place(ns, s)).size(), 1u);
}

TEST(Affinity, ContainerNames) {
  auto ns = nodes(3);
  ns[0].containers = {"weave"};
  ns[1].instances.push_back(running("null/redis", 1));  // a stackless service: "redis-1"
  ns[2].instances.push_back(running("app/db", 2));      // "app.db-2"
  EXPECT_EQ(used(ns, place(ns, with({"container==weave"}))), (std::set<std::string>{"node-1"}));
  EXPECT_EQ(used(ns, place(ns, with({"container==redis-1"}))), (std::set<std::string>{"node-2"}));
  EXPECT_EQ(used(ns, place(ns, with({"container==app.db-2"}))), (std::set<std::string>{"node-3"}));
  EXPECT_EQ(used(ns, place(ns, with({"container!=/^app\\./"}))), (std::set<std::string>{"node-1", "node-2"}));
}

TEST(Affinity, GridDefaultAppliesOnlyWithoutServiceAffinity) {
  std::vector<SchedulerNode> ns{node("a", {"role=worker"}), node("b", {"role=master"})};
  auto s = service("web", 3);
  s.default_affinity = {"label==role=worker"};
  EXPECT_EQ(used(ns, place(ns, s)), (std::set<std::string>{"a"}));
  s.affinity = {"node==b"};
  EXPECT_EQ(used(ns, place(ns, s)), (std::set<std::string>{"b"}));
}

TEST(Affinity, TermsAreAnded) {
  std::vector<SchedulerNode> ns{node("a", {"az=a", "ssd"}), node("b", {"az=a"}), node("c", {"az=b", "ssd"})};
  EXPECT_EQ(used(ns, place(ns, with({"label==az=a", "label==ssd"}))), (std::set<std::string>{"a"}));
}

}  // namespace
}  // namespace kontena::scheduler::testing
