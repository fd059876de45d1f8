// kontena etcd ..., grid health, node health against the fake master.
#include <gtest/gtest.h>

#include "fake_master.h"

using namespace kontena;
using namespace kontena::cli;
using kontena::cli::testing::CliHarness;
using kontena::cli::testing::FakeMaster;
using nlohmann::json;

namespace {

json endpoint(const std::string& url, const std::string& id, bool healthy, const std::string& error = "") {
  return {{"endpoint", url}, {"healthy", healthy}, {"error", error}, {"member_id", id},
          {"leader", healthy ? "0000000000000001" : ""}, {"version", "3.4.23"}, {"db_size", 20480}};
}

json report(int healthy, int total, bool majority) {
  json endpoints = json::array();
  json members = json::array();
  for (int i = 1; i <= total; ++i) {
    std::string id = "000000000000000" + std::to_string(i);
    endpoints.push_back(endpoint("http://10.81.0." + std::to_string(i) + ":2379", id, i <= healthy,
                                 i <= healthy ? "" : "connection refused"));
    members.push_back({{"id", id}, {"name", "node-" + std::to_string(i)}, {"peer_urls", json::array()},
                       {"client_urls", json::array()}});
  }
  return {{"member", {{"state", "running"}, {"pid", 42}, {"restarts", 0}, {"error", ""}}},
          {"endpoints", endpoints}, {"members", members}, {"healthy", healthy}, {"total", total},
          {"majority", majority}, {"network", nullptr}, {"node", "node-1"}, {"node_number", 1},
          {"initial_member", true}, {"connected", true}};
}

json grid_health(bool healthy, int healthy_members, bool majority, json problems = json::array()) {
  return {{"grid", "demo"},
          {"initial_size", 3},
          {"nodes", {{{"name", "node-1"}, {"node_number", 1}, {"initial_member", true}, {"connected", true},
                      {"etcd", {{"member", {{"state", "running"}, {"pid", 42}, {"restarts", 1}}}, {"healthy", healthy_members}}}},
                     {{"name", "node-2"}, {"node_number", 2}, {"initial_member", true}, {"connected", false},
                      {"etcd", {{"error", "node is offline"}}}},
                     {{"name", "node-4"}, {"node_number", 4}, {"initial_member", false}, {"connected", true},
                      {"etcd", {{"member", nullptr}}}}}},
          {"etcd", {{"members", 3}, {"healthy", healthy_members}, {"majority", majority}, {"leader", nullptr}}},
          {"healthy", healthy},
          {"problems", problems}};
}

TEST(EtcdCli, GetSetListRemove) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/etcd/demo/kontena/ipam/pools/kontena", 200,
                 {{"key", "/kontena/ipam/pools/kontena"}, {"value", "{\"subnet\":\"10.81.0.0/16\"}"}});
  ASSERT_EQ(cli.run({"etcd", "get", "/kontena/ipam/pools/kontena"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "{\"subnet\":\"10.81.0.0/16\"}\n");

  cli.master->on("POST /v1/etcd/demo/apps/a%20b", 200, {{"key", "/apps/a b"}, {"value", "v 1"}});
  ASSERT_EQ(cli.run({"etcd", "set", "/apps/a b", "v 1"}), 0) << cli.err.str();
  auto posts = cli.master->find("POST", "/v1/etcd/demo/apps/a%20b");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(FakeMaster::body_of(posts[0]), (json{{"value", "v 1"}}));

  json listing = {{"key", "/apps"},
                  {"children", {{{"key", "/apps/a"}, {"value", "1"}}, {{"key", "/apps/b"}, {"value", "2"}}}},
                  {"truncated", false}};
  cli.master->on("GET /v1/etcd/demo/apps?recursive=true", 200, listing);
  ASSERT_EQ(cli.run({"etcd", "ls", "/apps"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "/apps/a\n/apps/b\n");
  ASSERT_EQ(cli.run({"etcd", "list", "/apps", "--values"}), 0);
  EXPECT_EQ(cli.out.str(), "/apps/a=1\n/apps/b=2\n");
  ASSERT_EQ(cli.run({"etcd", "list", "/apps", "--json"}), 0);
  EXPECT_EQ(json::parse(cli.out.str()), listing);
  cli.master->on("GET /v1/etcd/demo/?recursive=true", 200, listing);
  ASSERT_EQ(cli.run({"etcd", "list"}), 0) << cli.err.str();  // default: everything under /

  cli.master->on("DELETE /v1/etcd/demo/apps/a", 200, {{"deleted", 1}});
  ASSERT_EQ(cli.run({"etcd", "rm", "/apps/a"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("DELETE", "/v1/etcd/demo/apps/a")[0]), (json{{"recursive", false}}));
  cli.master->on("DELETE /v1/etcd/demo/apps", 200, {{"deleted", 2}});
  EXPECT_EQ(cli.run({"etcd", "remove", "/apps", "--recursive"}), 1) << "a recursive remove asks first; no terminal: refused";
  EXPECT_TRUE(cli.master->find("DELETE", "/v1/etcd/demo/apps").empty());
  ASSERT_EQ(cli.run({"etcd", "remove", "/apps", "--recursive", "--force"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "removed 2 keys\n");
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("DELETE", "/v1/etcd/demo/apps")[0]), (json{{"recursive", true}}));
}

TEST(EtcdCli, ErrorsAreClear) {
  CliHarness cli;
  cli.log_in("demo");
  EXPECT_EQ(cli.run({"etcd", "get", "no-slash"}), 1);
  EXPECT_NE(cli.err.str().find("KEY must start with \"/\""), std::string::npos) << cli.err.str();
  EXPECT_TRUE(cli.master->requests.empty());
  EXPECT_EQ(cli.run({"etcd", "get"}), 2);
  EXPECT_EQ(cli.run({"etcd", "set", "/a"}), 2);
  EXPECT_EQ(cli.run({"etcd", "mkdir", "/a"}), 2) << "etcd v3 has no directories";
  cli.master->on("GET /v1/etcd/demo/missing", 404, {{"error", "etcd has no key /missing"}});
  EXPECT_EQ(cli.run({"etcd", "get", "/missing"}), 1);
  EXPECT_NE(cli.err.str().find("etcd has no key /missing"), std::string::npos) << cli.err.str();
  cli.master->on("GET /v1/etcd/demo/a", 503,
                 {{"error", "no node of grid \"demo\" is connected: etcd is reached through the grid's nodes"}});
  EXPECT_EQ(cli.run({"etcd", "get", "/a"}), 1);
  EXPECT_NE(cli.err.str().find("no node of grid \"demo\" is connected"), std::string::npos) << cli.err.str();
}

TEST(EtcdCli, HelpSaysMkdirIsNotImplemented) {
  CliHarness cli;
  ASSERT_EQ(cli.run({"etcd", "--help"}), 0);
  EXPECT_NE(cli.out.str().find("`etcd mkdir` of the original is not implemented"), std::string::npos) << cli.out.str();
  for (const char* command : {"get", "set", "list", "remove", "health"}) {
    EXPECT_EQ(cli.run({"etcd", command, "--help"}), 0) << command;
    EXPECT_NE(cli.out.str().find("Usage: kontena etcd " + std::string(command)), std::string::npos) << cli.out.str();
  }
  EXPECT_EQ(cli.run({"grid", "health", "--help"}), 0);
  EXPECT_EQ(cli.run({"node", "health", "--help"}), 0);
}

TEST(EtcdCli, HealthWithTheMajorityKept) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/grids/demo/health", 200, grid_health(false, 2, true));
  cli.master->on("GET /v1/nodes/demo/node-1/health", 200, report(2, 3, true));
  ASSERT_EQ(cli.run({"etcd", "health"}), 0) << cli.err.str();
  const std::string out = cli.out.str();
  EXPECT_NE(out.find("node-1 http://10.81.0.1:2379: healthy (leader), etcd 3.4.23"), std::string::npos) << out;
  EXPECT_NE(out.find("node-3 http://10.81.0.3:2379: unhealthy: connection refused"), std::string::npos) << out;
  EXPECT_NE(out.find("etcd: 2 of 3 members healthy, majority kept\n"), std::string::npos) << out;
}

TEST(EtcdCli, HealthWithTheMajorityLostExits1) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/grids/demo/health", 200, grid_health(false, 1, false));
  cli.master->on("GET /v1/nodes/demo/node-1/health", 200, report(1, 3, false));
  EXPECT_EQ(cli.run({"etcd", "health"}), 1);
  EXPECT_NE(cli.out.str().find("etcd: 1 of 3 members healthy: MAJORITY LOST — "), std::string::npos) << cli.out.str();
  EXPECT_EQ(cli.run({"etcd", "health", "--json"}), 1);
  EXPECT_EQ(json::parse(cli.out.str())["majority"], false);

}

TEST(EtcdCli, HealthWithNoNodeConnectedSaysSo) {
  CliHarness cli;
  cli.log_in("demo");
  json nobody = grid_health(false, 0, false);
  for (auto& node : nobody["nodes"]) node["connected"] = false;
  cli.master->on("GET /v1/grids/demo/health", 200, nobody);
  EXPECT_EQ(cli.run({"etcd", "health"}), 1);
  EXPECT_NE(cli.err.str().find("no node of grid demo is connected"), std::string::npos) << cli.err.str();
  EXPECT_EQ(cli.master->requests.size(), 1u) << "no node health asked";
}

TEST(GridHealthCli, HealthyAndNot) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/grids/demo/health", 200, grid_health(true, 3, true));
  ASSERT_EQ(cli.run({"grid", "health"}), 0) << cli.err.str();
  std::string out = cli.out.str();
  EXPECT_NE(out.find("grid demo: 3 initial nodes run its etcd"), std::string::npos) << out;
  EXPECT_NE(out.find("running (pid 42, 1 restarts)"), std::string::npos) << out;
  EXPECT_NE(out.find("etcd: 3 of 3 members healthy, majority kept"), std::string::npos) << out;
  EXPECT_NE(out.find("grid demo is healthy"), std::string::npos) << out;

  json problems = {"node-2 (initial member 2) is offline",
                   "etcd has lost its majority: 1 of 3 members healthy; deploys cannot get overlay addresses until a "
                   "majority of the initial nodes is back"};
  cli.master->on("GET /v1/grids/other/health", 200, grid_health(false, 1, false, problems));
  EXPECT_EQ(cli.run({"grid", "health", "other"}), 1);
  out = cli.out.str();
  EXPECT_NE(out.find("MAJORITY LOST"), std::string::npos) << out;
  EXPECT_NE(out.find("grid demo is NOT healthy:\n  - node-2 (initial member 2) is offline\n  - etcd has lost its majority"),
            std::string::npos)
      << out;
  EXPECT_EQ(cli.run({"grid", "health", "other", "--json"}), 1);
  EXPECT_EQ(json::parse(cli.out.str())["problems"], problems);
  cli.master->on("GET /v1/grids/nope/health", 404, {{"error", "grid \"nope\" does not exist"}});
  EXPECT_EQ(cli.run({"grid", "health", "nope"}), 1);
}

TEST(NodeHealthCli, ReportAndExitStatus) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/nodes/demo/node-1/health", 200, report(3, 3, true));
  ASSERT_EQ(cli.run({"node", "health", "node-1"}), 0) << cli.err.str();
  std::string out = cli.out.str();
  EXPECT_NE(out.find("node-1: connected, node number 1, initial member"), std::string::npos) << out;
  EXPECT_NE(out.find("etcd member: running (pid 42, 0 restarts)"), std::string::npos) << out;
  EXPECT_NE(out.find("etcd: 3 of 3 members healthy, majority kept"), std::string::npos) << out;

  cli.master->on("GET /v1/nodes/demo/node-2/health", 200, report(1, 3, false));
  EXPECT_EQ(cli.run({"node", "health", "node-2"}), 1);
  EXPECT_NE(cli.out.str().find("MAJORITY LOST"), std::string::npos);
  cli.master->on("GET /v1/nodes/demo/node-3/health", 503, {{"error", "node \"node-3\" is offline"}});
  EXPECT_EQ(cli.run({"node", "health", "node-3"}), 1);
  EXPECT_NE(cli.err.str().find("node \"node-3\" is offline"), std::string::npos) << cli.err.str();
}

}  // namespace
