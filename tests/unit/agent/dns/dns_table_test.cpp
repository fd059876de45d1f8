// The service-discovery names (src/agent/dns/dns_table.h).
#include "agent/dns/dns_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "dns_test_util.h"

namespace kontena::agent::dns {
namespace {

using test::instance;

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(DnsTable, StackServiceAndInstanceNames) {
  DnsTable table;
  table.set_instances({instance("shop", "api", 1, "10.81.128.1"), instance("shop", "api", 2, "10.81.128.2"),
                       instance("shop", "db", 1, "10.81.128.3")});
  auto api = table.lookup("api.shop.demo.kontena.local");
  EXPECT_TRUE(api.in_zone);
  EXPECT_TRUE(api.exists);
  EXPECT_EQ(sorted(api.ips), (std::vector<std::string>{"10.81.128.1", "10.81.128.2"}));
  EXPECT_EQ(table.lookup("api-2.shop.demo.kontena.local").ips, std::vector<std::string>{"10.81.128.2"});
  EXPECT_EQ(table.lookup("db.shop.demo.kontena.local").ips, std::vector<std::string>{"10.81.128.3"});
  // Not exposed: the stack's own name has no address, and the null-stack names do not exist.
  auto stack = table.lookup("shop.demo.kontena.local");
  EXPECT_TRUE(stack.exists);
  EXPECT_TRUE(stack.ips.empty());
  EXPECT_FALSE(table.lookup("api.demo.kontena.local").exists);
  EXPECT_FALSE(table.lookup("api.kontena.local").exists);
  EXPECT_FALSE(table.lookup("shop-1.demo.kontena.local").exists);
}

TEST(DnsTable, NullStackNames) {
  DnsTable table;
  table.set_instances({instance("null", "redis", 1, "10.81.128.5"), instance("", "web", 3, "10.81.128.6")});
  for (const char* name : {"redis.demo.kontena.local", "redis-1.demo.kontena.local", "redis.kontena.local",
                           "redis-1.kontena.local"})
    EXPECT_EQ(table.lookup(name).ips, std::vector<std::string>{"10.81.128.5"}) << name;
  for (const char* name : {"web.demo.kontena.local", "web-3.demo.kontena.local", "web.kontena.local",
                           "web-3.kontena.local"})
    EXPECT_EQ(table.lookup(name).ips, std::vector<std::string>{"10.81.128.6"}) << name;
  EXPECT_FALSE(table.lookup("redis.null.demo.kontena.local").exists);
}

TEST(DnsTable, ExposedServiceAnswersForTheStack) {
  DnsTable table;
  table.set_instances({instance("shop", "lb", 1, "10.81.128.1", std::nullopt, true),
                       instance("shop", "lb", 2, "10.81.128.2", std::nullopt, true),
                       instance("shop", "api", 1, "10.81.128.3")});
  EXPECT_EQ(sorted(table.lookup("shop.demo.kontena.local").ips),
            (std::vector<std::string>{"10.81.128.1", "10.81.128.2"}));
  EXPECT_EQ(table.lookup("shop-2.demo.kontena.local").ips, std::vector<std::string>{"10.81.128.2"});
  EXPECT_EQ(sorted(table.lookup("lb.shop.demo.kontena.local").ips),
            (std::vector<std::string>{"10.81.128.1", "10.81.128.2"}));
}

TEST(DnsTable, HealthFiltersServiceNamesNotInstanceNames) {
  DnsTable table;
  table.set_instances({instance("shop", "api", 1, "10.81.128.1", true), instance("shop", "api", 2, "10.81.128.2", false),
                       instance("shop", "api", 3, "10.81.128.3", std::nullopt)});
  EXPECT_EQ(sorted(table.lookup("api.shop.demo.kontena.local").ips),
            (std::vector<std::string>{"10.81.128.1", "10.81.128.3"}));
  EXPECT_EQ(table.lookup("api-2.shop.demo.kontena.local").ips, std::vector<std::string>{"10.81.128.2"});

  // Every instance unhealthy: the name exists, without an address.
  table.set_instances({instance("shop", "api", 1, "10.81.128.1", false), instance("shop", "api", 2, "10.81.128.2", false)});
  auto api = table.lookup("api.shop.demo.kontena.local");
  EXPECT_TRUE(api.exists);
  EXPECT_TRUE(api.ips.empty());
  EXPECT_EQ(table.lookup("api-1.shop.demo.kontena.local").ips, std::vector<std::string>{"10.81.128.1"});
}

TEST(DnsTable, CaseAndTrailingDotDoNotMatter) {
  DnsTable table;
  table.set_instances({instance("Shop", "API", 1, "10.81.128.1", std::nullopt, false, "n", "Demo")});
  EXPECT_EQ(table.lookup("api.shop.demo.kontena.local").ips, std::vector<std::string>{"10.81.128.1"});
  EXPECT_EQ(table.lookup("API.SHOP.DEMO.KONTENA.LOCAL.").ips, std::vector<std::string>{"10.81.128.1"});
  EXPECT_EQ(table.lookup("Api-1.Shop.Demo.Kontena.Local").ips, std::vector<std::string>{"10.81.128.1"});
}

TEST(DnsTable, UnknownInZoneAndOutOfZone) {
  DnsTable table;
  table.set_instances({instance("shop", "api", 1, "10.81.128.1")});
  auto unknown = table.lookup("nope.shop.demo.kontena.local");
  EXPECT_TRUE(unknown.in_zone);
  EXPECT_FALSE(unknown.exists);
  auto other_grid = table.lookup("api.shop.other.kontena.local");
  EXPECT_TRUE(other_grid.in_zone);
  EXPECT_FALSE(other_grid.exists);
  auto outside = table.lookup("api.shop.demo.kontena.localhost");
  EXPECT_FALSE(outside.in_zone);
  EXPECT_FALSE(table.lookup("example.com").in_zone);
  EXPECT_FALSE(table.lookup("xkontena.local").in_zone);
  EXPECT_TRUE(table.lookup("kontena.local").in_zone);
  EXPECT_TRUE(table.lookup("kontena.local").exists);  // the zone itself, without addresses
  EXPECT_TRUE(table.lookup("demo.kontena.local").exists);
}

TEST(DnsTable, InstancesThatCannotBeServedAreLeftOutAndTheOthersServed) {
  DnsTable table;
  table.set_instances({instance("shop", "api", 1, "10.81.128.1"), instance("shop", "bad", 1, "not-an-ip"),
                       instance("shop", "v6", 1, "fd00::1"), instance("sh op", "api", 2, "10.81.128.2"),
                       instance("shop", "api", 0, "10.81.128.3"), instance("shop", "", 1, "10.81.128.4"),
                       instance("shop", std::string(70, 'a'), 1, "10.81.128.5")});
  EXPECT_EQ(table.lookup("api.shop.demo.kontena.local").ips, std::vector<std::string>{"10.81.128.1"});
  EXPECT_FALSE(table.lookup("bad.shop.demo.kontena.local").exists);
  EXPECT_FALSE(table.lookup("v6.shop.demo.kontena.local").exists);
  EXPECT_FALSE(table.lookup("api-0.shop.demo.kontena.local").exists);
  EXPECT_NE(instance_problem(instance("shop", "api", 1, "1.2.3")), "");
  EXPECT_EQ(instance_problem(instance("shop", "api", 1, "1.2.3.4")), "");
}

TEST(DnsTable, DuplicatesAreMergedAndSorted) {
  DnsTable table;
  table.set_instances({instance("shop", "api", 1, "10.81.128.9", std::nullopt, false, "node-1"),
                       instance("shop", "api", 1, "10.81.128.9", std::nullopt, false, "node-2"),
                       instance("shop", "api", 2, "10.81.128.2")});
  EXPECT_EQ(table.lookup("api.shop.demo.kontena.local").ips, (std::vector<std::string>{"10.81.128.2", "10.81.128.9"}));
}

TEST(DnsTable, ReplacingTheTableWhileReading) {
  DnsTable table;
  table.set_instances({instance("shop", "api", 1, "10.81.128.1")});
  std::atomic<bool> stop{false};
  std::atomic<int> misses{0};
  std::thread reader([&] {
    while (!stop) {
      auto answer = table.lookup("api.shop.demo.kontena.local");
      if (!answer.exists || answer.ips.size() != 1) ++misses;
    }
  });
  for (int i = 0; i < 2000; ++i)
    table.set_instances({instance("shop", "api", 1, "10.81.128." + std::to_string(1 + i % 200))});
  stop = true;
  reader.join();
  EXPECT_EQ(misses, 0);
  EXPECT_EQ(table.size(), table.snapshot()->size());
}

}  // namespace
}  // namespace kontena::agent::dns
