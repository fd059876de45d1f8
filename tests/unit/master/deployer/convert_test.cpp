// The deployer's pure conversions: in-flight limit, hooks' instances, volumes, words, link order,
// ISO times, spec -> scheduler spec, node -> scheduler node.
#include <gtest/gtest.h>

#include "common/error.h"
#include "master/deployer/convert.h"

namespace kontena::master::deployer {
namespace {

using Json = nlohmann::json;

TEST(Convert, MaxInFlightFollowsMinHealthWithinOneAndTwenty) {
  EXPECT_EQ(max_in_flight(20, 0.8), 4);  // not 3: binary floating point
  EXPECT_EQ(max_in_flight(4, 0.8), 1);
  EXPECT_EQ(max_in_flight(5, 0.8), 1);
  EXPECT_EQ(max_in_flight(10, 0.8), 2);
  EXPECT_EQ(max_in_flight(10, 0.5), 5);
  EXPECT_EQ(max_in_flight(100, 0.0), 20);
  EXPECT_EQ(max_in_flight(10, 1.0), 1);
  EXPECT_EQ(max_in_flight(0, 0.8), 1);
  EXPECT_EQ(min_health(Json::object()), 0.8);
  EXPECT_EQ(min_health({{"deploy", {{"min_health", 0.5}}}}), 0.5);
  EXPECT_EQ(min_health({{"deploy", {{"min_health", 7}}}}), 0.8);
}

TEST(Convert, HookInstances) {
  EXPECT_TRUE(hook_applies("*", 3));
  EXPECT_TRUE(hook_applies(nullptr, 3));
  EXPECT_TRUE(hook_applies("1,2", 2));
  EXPECT_TRUE(hook_applies("1, 2", 2));
  EXPECT_FALSE(hook_applies("1,2", 3));
  EXPECT_FALSE(hook_applies("12", 1));
  EXPECT_TRUE(hook_applies(3, 3));
  EXPECT_FALSE(hook_applies("x", 1));
}

TEST(Convert, VolumeStrings) {
  Json v = Json::parse(R"([
    {"type": "named", "source": "data", "target": "/data", "flags": null},
    {"type": "named", "source": "logs", "target": "/logs", "flags": "ro"},
    {"type": "bind", "source": "/srv", "target": "/srv", "flags": "ro,z"},
    {"type": "anonymous", "source": null, "target": "/cache", "flags": null}])");
  EXPECT_EQ(volume_strings(v, "shop"),
            (std::vector<std::string>{"shop.data:/data", "shop.logs:/logs:ro", "/srv:/srv:ro,z", "/cache"}));
  EXPECT_EQ(volume_strings(v, "null")[0], "data:/data");
}

TEST(Convert, ShellWords) {
  EXPECT_EQ(shell_words("/bin/sh -c"), (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(shell_words("  echo 'a b'  \"c \\\"d\"  e\\ f"),
            (std::vector<std::string>{"echo", "a b", "c \"d", "e f"}));
  EXPECT_EQ(shell_words("x ''"), (std::vector<std::string>{"x", ""}));
  EXPECT_TRUE(shell_words("   ").empty());
}

TEST(Convert, LinkOrderPutsLinkedServicesFirstAndIgnoresOtherStacks) {
  Json def = Json::parse(R"({"services": [
    {"name": "web", "links": [{"name": "api", "alias": "api"}, {"name": "other/db", "alias": "db"}]},
    {"name": "api", "links": [{"name": "shop/cache", "alias": "c"}], "depends_on": ["db"]},
    {"name": "db", "links": []},
    {"name": "cache", "links": []},
    {"name": "lone"}]})");
  EXPECT_EQ(link_order(def, "shop"), (std::vector<std::string>{"cache", "db", "api", "web", "lone"}));
  // A cycle (the API rejects them) still gives every service once.
  Json cyc = Json::parse(R"({"services": [{"name": "a", "links": [{"name": "b"}]}, {"name": "b", "links": [{"name": "a"}]}]})");
  auto order = link_order(cyc, "s");
  EXPECT_EQ(order.size(), 2u);
  EXPECT_TRUE(link_order(Json::object(), "s").empty());
}

TEST(Convert, ServiceSpecForTheScheduler) {
  Service s;
  s.name = "web";
  s.stack_name = "shop";
  s.spec = Json::parse(R"({"instances": 3, "stateful": true, "affinity": ["label==az=a"], "cpus": 1.5,
    "mem_limit": 1048576, "memswap_limit": null, "network_mode": "container:db-%s", "volumes_from": ["db-%s"],
    "ports": [{"node_port": 80, "container_port": 8080, "protocol": "udp"}, {"container_port": 9}],
    "deploy": {"strategy": "daemon"}})");
  Grid g;
  g.default_affinity = {"label!=ephemeral"};
  auto spec = service_spec(s, g);
  EXPECT_EQ(spec.path(), "shop/web");
  EXPECT_EQ(spec.strategy, scheduler::Strategy::daemon);
  EXPECT_EQ(spec.instances, 3);
  EXPECT_TRUE(spec.stateful);
  EXPECT_EQ(spec.affinity, std::vector<std::string>{"label==az=a"});
  EXPECT_EQ(spec.default_affinity, std::vector<std::string>{"label!=ephemeral"});
  EXPECT_EQ(spec.cpus, 1.5);
  EXPECT_EQ(spec.memory, 1048576);
  EXPECT_FALSE(spec.memory_swap);
  ASSERT_EQ(spec.ports.size(), 1u);
  EXPECT_EQ(spec.ports[0].protocol, "udp");
  EXPECT_EQ(spec.net, "container:db-%s");
  s.spec["deploy"]["strategy"] = "nope";
  EXPECT_THROW(service_spec(s, g), Error);
}

TEST(Convert, SchedulerNodeFromANode) {
  Node n;
  n.id = 7;
  n.name = "node-7";
  n.node_number = 3;
  n.labels = {"az=b"};
  n.availability = "drain";
  n.connected = true;
  n.last_seen_at = 1000;
  n.info = Json::parse(R"({"cpus": 8, "mem_total": 1000, "stats": {"memory": {"total": 1000, "used": 600,
    "cached": 100, "buffers": 50}}})");
  auto start = std::chrono::system_clock::time_point(std::chrono::milliseconds(5000));
  auto s = scheduler_node(n, start, {});
  EXPECT_EQ(s.id, "7");
  EXPECT_EQ(s.name, "node-7");
  EXPECT_EQ(s.node_number, 3);
  EXPECT_EQ(s.availability, scheduler::Availability::drain);
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.last_seen, start) << "grace counts from the master's start at the earliest";
  EXPECT_EQ(s.cpus, 8);
  EXPECT_EQ(s.mem_total, 1000);
  EXPECT_TRUE(s.has_memory_stats);
  EXPECT_EQ(s.mem_used, 600);
  EXPECT_EQ(s.mem_cached, 100);
  EXPECT_EQ(s.mem_buffers, 50);
  n.last_seen_at = 9000;
  EXPECT_EQ(scheduler_node(n, start, {}).last_seen, std::chrono::system_clock::time_point(std::chrono::milliseconds(9000)));
}

TEST(Convert, PodNetworkDnsSearchAndExposedLabel) {
  Service s;
  s.id = 5;
  s.name = "web";
  s.stack_name = "shop";
  s.spec = Json::parse(R"({"image": "nginx", "network_mode": "bridge"})");
  ServiceInstance inst;
  inst.instance_number = 2;
  auto pod = service_pod(s, inst, "demo", {});
  ASSERT_TRUE(pod.network);
  EXPECT_EQ(pod.network->name, "kontena");
  EXPECT_EQ(pod.network->ip, "") << "the agent allocates the address from IPAM";
  EXPECT_EQ(pod.dns_search, (std::vector<std::string>{"shop.demo.kontena.local", "demo.kontena.local"}));
  EXPECT_TRUE(pod.dns.empty()) << "the agent puts its own overlay address";
  EXPECT_EQ(pod.labels.count("io.kontena.service.exposed"), 0u);
  EXPECT_EQ(service_pod(s, inst, "demo", {}, true).labels.at("io.kontena.service.exposed"), "true");
  Json j = protocol::to_json(pod);
  EXPECT_EQ(j["network"], (Json{{"name", "kontena"}, {"ip", ""}})) << j.dump();

  // No network_mode is Docker's default bridge: the overlay too. The null stack searches the grid's domain only.
  s.spec.erase("network_mode");
  s.stack_name = "null";
  pod = service_pod(s, inst, "demo", {});
  ASSERT_TRUE(pod.network);
  EXPECT_EQ(pod.dns_search, (std::vector<std::string>{"demo.kontena.local"}));

  for (const char* mode : {"host", "container:db-1"}) {
    s.spec["network_mode"] = mode;
    pod = service_pod(s, inst, "demo", {});
    EXPECT_FALSE(pod.network) << mode;
    EXPECT_TRUE(pod.dns_search.empty()) << mode;
    EXPECT_EQ(pod.net, mode);
  }
}

}  // namespace
}  // namespace kontena::master::deployer
