// Service discovery through etcd (src/agent/dns/service_registry.h) against FakeEtcd.
#include "agent/dns/service_registry.h"

#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "dns_test_util.h"
#include "fake_etcd.h"

namespace kontena::agent::dns {
namespace {

using namespace std::chrono_literals;
using test::instance;

// One agent: its local instances, its table, its ServiceDiscovery.
struct Node {
  Node(etcd::FakeEtcd& etcd, std::string id, ManualClock& clock) : node_id(std::move(id)) {
    ServiceDiscoveryOptions options;
    options.clock = &clock;
    discovery = std::make_unique<ServiceDiscovery>(
        etcd, table, "demo", node_id,
        [this] {
          std::lock_guard lock(mutex);
          return local;
        },
        options);
  }
  void set_local(std::vector<ServiceInstance> instances) {
    std::lock_guard lock(mutex);
    local = std::move(instances);
  }
  std::vector<std::string> ips(const std::string& name) { return table.lookup(name).ips; }

  std::string node_id;
  std::mutex mutex;
  std::vector<ServiceInstance> local;
  DnsTable table;
  std::unique_ptr<ServiceDiscovery> discovery;
};

class ServiceDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd.set_before_call([this](const std::string& op, const std::string& key) {
      std::lock_guard lock(ops_mutex);
      ops.push_back(op + " " + key);
    });
  }
  std::vector<std::string> take_ops() {
    std::lock_guard lock(ops_mutex);
    return std::exchange(ops, {});
  }
  std::size_t count_ops(const std::vector<std::string>& list, const std::string& op) {
    return static_cast<std::size_t>(
        std::count_if(list.begin(), list.end(), [&](const std::string& s) { return s.starts_with(op + " "); }));
  }

  etcd::FakeEtcd etcd;
  ManualClock clock;
  std::mutex ops_mutex;
  std::vector<std::string> ops;
};

TEST_F(ServiceDiscoveryTest, PublishesLocalInstancesUnderTheNodesLease) {
  Node a(etcd, "node-a", clock);
  a.set_local({instance("shop", "api", 1, "10.81.128.1", true), instance("", "redis", 1, "10.81.128.2")});
  ASSERT_TRUE(a.discovery->sync_once());
  auto keys = etcd.keys();
  ASSERT_EQ(keys.size(), 2u);
  ASSERT_TRUE(keys.count("/kontena/dns/demo/node-a/shop.api-1"));
  ASSERT_TRUE(keys.count("/kontena/dns/demo/node-a/null.redis-1"));
  auto record = nlohmann::json::parse(keys["/kontena/dns/demo/node-a/shop.api-1"]);
  EXPECT_EQ(record["ip"], "10.81.128.1");
  EXPECT_EQ(record["healthy"], true);
  EXPECT_EQ(record["node"], "node-a");
  EXPECT_EQ(record["grid"], "demo");
  EXPECT_TRUE(nlohmann::json::parse(keys["/kontena/dns/demo/node-a/null.redis-1"])["healthy"].is_null());
  auto kv = etcd.get("/kontena/dns/demo/node-a/shop.api-1");
  ASSERT_TRUE(kv);
  EXPECT_NE(kv->lease, 0);
  EXPECT_TRUE(etcd.lease_exists(kv->lease));
  // Local names are in the table.
  EXPECT_EQ(a.ips("api.shop.demo.kontena.local"), std::vector<std::string>{"10.81.128.1"});
  EXPECT_EQ(a.ips("redis.kontena.local"), std::vector<std::string>{"10.81.128.2"});
}

TEST_F(ServiceDiscoveryTest, PublishingIsADiff) {
  Node a(etcd, "node-a", clock);
  a.set_local({instance("shop", "api", 1, "10.81.128.1"), instance("shop", "api", 2, "10.81.128.2"),
               instance("shop", "db", 1, "10.81.128.3")});
  ASSERT_TRUE(a.discovery->sync_once());
  take_ops();
  // Nothing changed: only the cheap revision check.
  ASSERT_TRUE(a.discovery->sync_once());
  EXPECT_EQ(take_ops(), std::vector<std::string>{"revision /kontena/dns/demo/"});
  // api-2 unhealthy, db-1 gone: one put, one remove.
  a.set_local({instance("shop", "api", 1, "10.81.128.1"), instance("shop", "api", 2, "10.81.128.2", false)});
  ASSERT_TRUE(a.discovery->sync_once());
  auto round = take_ops();
  EXPECT_EQ(count_ops(round, "put"), 1u);
  EXPECT_EQ(count_ops(round, "remove"), 1u);
  EXPECT_EQ(etcd.keys().size(), 2u);
  EXPECT_FALSE(etcd.keys().count("/kontena/dns/demo/node-a/shop.db-1"));
  EXPECT_EQ(a.ips("api.shop.demo.kontena.local"), std::vector<std::string>{"10.81.128.1"});
}

TEST_F(ServiceDiscoveryTest, RemoteRecordsAppearAndGoWithTheirLease) {
  Node a(etcd, "node-a", clock), b(etcd, "node-b", clock);
  a.set_local({instance("shop", "api", 1, "10.81.128.1")});
  b.set_local({instance("shop", "api", 2, "10.81.129.1"), instance("shop", "lb", 1, "10.81.129.2", std::nullopt, true)});
  ASSERT_TRUE(a.discovery->sync_once());
  ASSERT_TRUE(b.discovery->sync_once());
  ASSERT_TRUE(a.discovery->sync_once());
  EXPECT_EQ(a.ips("api.shop.demo.kontena.local"), (std::vector<std::string>{"10.81.128.1", "10.81.129.1"}));
  EXPECT_EQ(a.ips("shop.demo.kontena.local"), std::vector<std::string>{"10.81.129.2"});
  EXPECT_EQ(b.ips("api-1.shop.demo.kontena.local"), std::vector<std::string>{"10.81.128.1"});

  // node-b is lost: its lease runs out and its records vanish from node-a's table.
  auto lease = etcd.get("/kontena/dns/demo/node-b/shop.api-2")->lease;
  etcd.expire_lease(lease);
  ASSERT_TRUE(a.discovery->sync_once());
  EXPECT_EQ(a.ips("api.shop.demo.kontena.local"), std::vector<std::string>{"10.81.128.1"});
  EXPECT_TRUE(a.table.lookup("shop.demo.kontena.local").ips.empty());
  EXPECT_FALSE(a.table.lookup("api-2.shop.demo.kontena.local").exists);

  // node-b comes back: it notices, takes a new lease and publishes everything again.
  ASSERT_TRUE(b.discovery->sync_once());
  auto again = etcd.get("/kontena/dns/demo/node-b/shop.api-2");
  ASSERT_TRUE(again);
  EXPECT_NE(again->lease, lease);
  EXPECT_TRUE(etcd.lease_exists(again->lease));
  ASSERT_TRUE(a.discovery->sync_once());
  EXPECT_EQ(a.ips("api-2.shop.demo.kontena.local"), std::vector<std::string>{"10.81.129.1"});
}

TEST_F(ServiceDiscoveryTest, KeepaliveEveryThirdOfTheTtlAndANewLeaseWhenItEnded) {
  Node a(etcd, "node-a", clock);
  a.set_local({instance("shop", "api", 1, "10.81.128.1")});
  ASSERT_TRUE(a.discovery->sync_once());
  take_ops();
  clock.advance(3000ms);  // under 10 s / 3
  ASSERT_TRUE(a.discovery->sync_once());
  EXPECT_EQ(count_ops(take_ops(), "lease_keepalive"), 0u);
  clock.advance(400ms);
  ASSERT_TRUE(a.discovery->sync_once());
  EXPECT_EQ(count_ops(take_ops(), "lease_keepalive"), 1u);

  // The lease ended while nothing else changed (no revision move seen yet): the keepalive finds
  // out, and the records are published again.
  auto lease = etcd.get("/kontena/dns/demo/node-a/shop.api-1")->lease;
  etcd.expire_lease(lease);
  EXPECT_TRUE(etcd.keys().empty());
  clock.advance(3400ms);
  ASSERT_TRUE(a.discovery->sync_once());
  auto kv = etcd.get("/kontena/dns/demo/node-a/shop.api-1");
  ASSERT_TRUE(kv);
  EXPECT_NE(kv->lease, lease);
}

TEST_F(ServiceDiscoveryTest, EtcdUnavailableKeepsTheLastTableAndLocalChangesStillShow) {
  Node a(etcd, "node-a", clock), b(etcd, "node-b", clock);
  a.set_local({instance("shop", "api", 1, "10.81.128.1")});
  b.set_local({instance("shop", "db", 1, "10.81.129.1")});
  ASSERT_TRUE(b.discovery->sync_once());
  ASSERT_TRUE(a.discovery->sync_once());
  ASSERT_EQ(a.ips("db.shop.demo.kontena.local"), std::vector<std::string>{"10.81.129.1"});

  etcd.set_unavailable(true);
  a.set_local({instance("shop", "api", 1, "10.81.128.1"), instance("shop", "api", 2, "10.81.128.2")});
  for (int i = 0; i < 3; ++i) {
    clock.advance(4000ms);
    EXPECT_FALSE(a.discovery->sync_once());
  }
  EXPECT_FALSE(a.discovery->etcd_ok());
  // The remote names still resolve, and the local change is there.
  EXPECT_EQ(a.ips("db.shop.demo.kontena.local"), std::vector<std::string>{"10.81.129.1"});
  EXPECT_EQ(a.ips("api.shop.demo.kontena.local"), (std::vector<std::string>{"10.81.128.1", "10.81.128.2"}));

  // Back: the local change is published (under a new lease if the old one ended meanwhile).
  etcd.set_unavailable(false);
  etcd.expire_lease(etcd.get("/kontena/dns/demo/node-a/shop.api-1")->lease);
  ASSERT_TRUE(a.discovery->sync_once());
  EXPECT_TRUE(a.discovery->etcd_ok());
  EXPECT_TRUE(etcd.keys().count("/kontena/dns/demo/node-a/shop.api-1"));
  EXPECT_TRUE(etcd.keys().count("/kontena/dns/demo/node-a/shop.api-2"));
  ASSERT_TRUE(b.discovery->sync_once());
  EXPECT_EQ(b.ips("api.shop.demo.kontena.local"), (std::vector<std::string>{"10.81.128.1", "10.81.128.2"}));
}

TEST_F(ServiceDiscoveryTest, LeftoversOfAnEarlierRunAreRemovedAndBadRecordsIgnored) {
  etcd.put("/kontena/dns/demo/node-a/shop.old-1", service_record_json(instance("shop", "old", 1, "10.81.128.9")));
  etcd.put("/kontena/dns/demo/node-c/shop.junk-1", "{not json");
  etcd.put("/kontena/dns/demo/node-c/shop.half-1", R"({"grid":"demo","stack":"shop"})");
  etcd.put("/kontena/dns/demo/node-c/shop.web-1", service_record_json(instance("shop", "web", 1, "10.81.130.1",
                                                                             std::nullopt, false, "node-c")));
  etcd.put("/kontena/dns/other/node-x/shop.web-2", service_record_json(instance("shop", "web", 2, "10.9.9.9",
                                                                              std::nullopt, false, "node-x", "other")));
  Node a(etcd, "node-a", clock);
  a.set_local({instance("shop", "api", 1, "10.81.128.1")});
  ASSERT_TRUE(a.discovery->sync_once());
  EXPECT_FALSE(etcd.keys().count("/kontena/dns/demo/node-a/shop.old-1"));
  EXPECT_FALSE(a.table.lookup("old.shop.demo.kontena.local").exists);
  EXPECT_EQ(a.ips("web.shop.demo.kontena.local"), std::vector<std::string>{"10.81.130.1"});
  EXPECT_FALSE(a.table.lookup("web-2.shop.other.kontena.local").exists);  // another grid's prefix
}

TEST_F(ServiceDiscoveryTest, ServiceRecordsRoundTripAndRejectBadValues) {
  auto i = instance("shop", "api", 3, "10.81.128.1", false, true, "node-a");
  ServiceInstance back;
  ASSERT_TRUE(parse_service_record(service_record_json(i), back));
  EXPECT_EQ(back, i);
  EXPECT_EQ(service_record_key("demo", "node-a", instance("", "redis", 1, "1.2.3.4")), "/kontena/dns/demo/node-a/null.redis-1");
  ServiceInstance untouched = i;
  for (const char* bad : {"", "[]", "{}", R"({"grid":"g","stack":"s","service":"x","ip":"1.2.3.4","node":"n"})",
                          R"({"grid":"g","stack":"s","service":"x","ip":"1.2.3.4","node":"n","instance_number":"1"})",
                          R"({"grid":"g","stack":"s","service":"x","ip":"1.2.3.4","node":"n","instance_number":0})",
                          R"({"grid":"g","stack":"s","service":"x","ip":"1.2.3.4","node":"n","instance_number":1,"healthy":"yes"})"}) {
    EXPECT_FALSE(parse_service_record(bad, untouched)) << bad;
    EXPECT_EQ(untouched, i);
  }
}

TEST_F(ServiceDiscoveryTest, BadGridOrNodeIsRejected) {
  DnsTable table;
  auto none = [] { return std::vector<ServiceInstance>{}; };
  EXPECT_THROW(ServiceDiscovery(etcd, table, "", "node-a", none), Error);
  EXPECT_THROW(ServiceDiscovery(etcd, table, "demo", "a/b", none), Error);
}

TEST_F(ServiceDiscoveryTest, TheThreadPublishesSoonAfterAPoke) {
  etcd.set_before_call(nullptr);
  ServiceDiscoveryOptions options;
  options.sync_interval = 60s;  // only the poke can make the second round happen in time
  DnsTable table;
  std::mutex mutex;
  std::vector<ServiceInstance> local;
  ServiceDiscovery discovery(etcd, table, "demo", "node-a",
                             [&] {
                               std::lock_guard lock(mutex);
                               return local;
                             },
                             options);
  discovery.start();
  {
    std::lock_guard lock(mutex);
    local = {instance("shop", "api", 1, "10.81.128.1")};
  }
  discovery.poke();
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!etcd.keys().count("/kontena/dns/demo/node-a/shop.api-1") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(etcd.keys().count("/kontena/dns/demo/node-a/shop.api-1"));
  EXPECT_EQ(table.lookup("api.shop.demo.kontena.local").ips, std::vector<std::string>{"10.81.128.1"});
  discovery.stop();
  // stop() leaves the records to their lease (the containers keep running).
  EXPECT_TRUE(etcd.keys().count("/kontena/dns/demo/node-a/shop.api-1"));
}

}  // namespace
}  // namespace kontena::agent::dns
