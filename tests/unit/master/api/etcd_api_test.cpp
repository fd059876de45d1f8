// /v1/etcd/:grid/<key>, /v1/nodes/:grid/:node/health, /v1/grids/:grid/health and the IPAM release
// on node removal, against a fake agent hub (fake_node_events.h).
#include <gtest/gtest.h>

#include "api_fixture.h"
#include "fake_node_events.h"

using namespace kontena::master;
using namespace kontena::master::testing;
using json = nlohmann::json;

namespace {

class EtcdApi : public ApiFixture {
 protected:
  void SetUp() override {
    node_events_ = &hub;
    ApiFixture::SetUp();
  }

  // A grid with `count` pre-created nodes node-1..node-N (node numbers 1..N).
  void make_grid(int initial_size, int count) {
    ASSERT_EQ(call("POST", "/v1/grids", admin_token_, json{{"name", "demo"}, {"initial_size", initial_size}}).status, 201);
    for (int i = 1; i <= count; ++i)
      ASSERT_EQ(call("POST", "/v1/grids/demo/nodes", admin_token_, json{{"name", "node-" + std::to_string(i)}}).status,
                201);
  }
  Node node(const std::string& name) {
    auto grid = store_->grid_by_name("demo");
    return *store_->node_by_name(grid->id, name);
  }
  // Marks the node's agent as joined (node_id) and connected.
  void connect(const std::string& name) {
    auto n = node(name);
    n.node_id = "ENGINE-" + name;
    n.connected = true;
    store_->update_node(n);
  }
  std::string error_of(const Reply& r) { return r.body.value("error", std::string()); }

  FakeNodeEvents hub;
};

TEST_F(EtcdApi, GetGoesThroughAConnectedInitialMemberFirst) {
  make_grid(3, 4);
  connect("node-4");  // not an initial member: only used when no initial member is connected
  connect("node-2");
  hub.answer = [](const FakeNodeEvents::Call& c) {
    return FakeNodeEvents::ok({{"key", c.params[0]["key"]}, {"children", json::array({{{"key", "/kontena/ipam/a"}, {"value", "1"}}})}});
  };
  auto r = call("GET", "/v1/etcd/demo/kontena/ipam?recursive=true", admin_token_);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["children"][0]["value"], "1");
  auto calls = hub.calls("/etcd/get");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].node, node("node-2").id);
  EXPECT_EQ(calls[0].params, json::array({{{"key", "/kontena/ipam"}, {"recursive", true}}}));
  EXPECT_GT(calls[0].timeout.count(), 0);

  // The whole path after the grid is the key, trailing slash included; none is "/".
  call("GET", "/v1/etcd/demo/kontena/ipam/", admin_token_);
  call("GET", "/v1/etcd/demo", admin_token_);
  calls = hub.calls("/etcd/get");
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].params[0]["key"], "/kontena/ipam/");
  EXPECT_EQ(calls[1].params[0]["recursive"], false);
  EXPECT_EQ(calls[2].params[0]["key"], "/");
}

TEST_F(EtcdApi, BadKeysAndFlagsAre422AndReachNoNode) {
  make_grid(1, 1);
  connect("node-1");
  hub.answer = [](const FakeNodeEvents::Call&) { return FakeNodeEvents::ok(json::object()); };
  auto r = call("GET", "/v1/etcd/demo/a/../b", admin_token_);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(error_of(r).find("\"..\" segment"), std::string::npos) << r.body.dump();
  EXPECT_EQ(call("GET", "/v1/etcd/demo/a?recursive=maybe", admin_token_).status, 422);
  EXPECT_EQ(call("POST", "/v1/etcd/demo/a/..", admin_token_, json{{"value", "x"}}).status, 422);
  EXPECT_EQ(call("POST", "/v1/etcd/demo/a", admin_token_, json::object()).status, 422);               // no value
  EXPECT_EQ(call("POST", "/v1/etcd/demo/a", admin_token_, json{{"value", 5}}).status, 422);           // not a string
  EXPECT_EQ(call("POST", "/v1/etcd/demo/a", admin_token_, json{{"value", "x"}, {"ttl", 5}}).status, 422);  // unknown
  EXPECT_EQ(call("DELETE", "/v1/etcd/demo/a", admin_token_, json{{"recursive", "yes"}}).status, 422);
  EXPECT_EQ(call("DELETE", "/v1/etcd/demo/..", admin_token_).status, 422);
  EXPECT_TRUE(hub.calls().empty());
}

TEST_F(EtcdApi, NoConnectedNodeIs503AndUnknownGrid404) {
  make_grid(1, 1);
  auto r = call("GET", "/v1/etcd/demo/kontena", admin_token_);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(error_of(r).find("no node of grid \"demo\" is connected: etcd is reached through the grid's nodes"),
            std::string::npos)
      << r.body.dump();
  EXPECT_EQ(call("GET", "/v1/etcd/nope/kontena", admin_token_).status, 404);
  EXPECT_EQ(call("POST", "/v1/etcd/nope/kontena", admin_token_, json{{"value", "x"}}).status, 404);
  EXPECT_TRUE(hub.calls().empty());
}

TEST_F(EtcdApi, AgentErrorsArePassedOnWithTheirStatus) {
  make_grid(1, 1);
  connect("node-1");
  hub.answer = [](const FakeNodeEvents::Call&) { return FakeNodeEvents::error(404, "etcd has no key /missing"); };
  auto r = call("GET", "/v1/etcd/demo/missing", admin_token_);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r), "etcd has no key /missing");

  hub.answer = [](const FakeNodeEvents::Call&) {
    return FakeNodeEvents::error(503, "the grid's etcd did not answer: a majority of the initial nodes must be online");
  };
  r = call("POST", "/v1/etcd/demo/a", admin_token_, json{{"value", "x"}});
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(error_of(r).find("node \"node-1\": the grid's etcd did not answer"), std::string::npos) << r.body.dump();

  hub.answer = [](const FakeNodeEvents::Call&) { return FakeNodeEvents::error(422, "value must be at most 1 MiB"); };
  EXPECT_EQ(call("POST", "/v1/etcd/demo/a", admin_token_, json{{"value", "x"}}).status, 422);
}

TEST_F(EtcdApi, A503FromOneNodeTriesTheNext) {
  make_grid(2, 2);
  connect("node-1");
  connect("node-2");
  auto first = node("node-1").id;
  hub.answer = [first](const FakeNodeEvents::Call& c) {
    if (c.node == first) return FakeNodeEvents::error(503, "this node has no etcd client yet");
    return FakeNodeEvents::ok({{"key", "/a"}, {"value", "v"}});
  };
  auto r = call("GET", "/v1/etcd/demo/a", admin_token_);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["value"], "v");
  EXPECT_EQ(hub.calls("/etcd/get").size(), 2u);
}

TEST_F(EtcdApi, SetAndDeleteAreProxiedAndAudited) {
  make_grid(1, 1);
  connect("node-1");
  hub.answer = [](const FakeNodeEvents::Call& c) {
    if (c.method == "/etcd/delete") return FakeNodeEvents::ok({{"deleted", 3}});
    return FakeNodeEvents::ok({{"key", c.params[0]["key"]}, {"value", c.params[0]["value"]}});
  };
  auto set = call("POST", "/v1/etcd/demo/apps/config", admin_token_, json{{"value", "s3cr3t-value"}});
  ASSERT_EQ(set.status, 200) << set.body.dump();
  EXPECT_EQ(hub.calls("/etcd/set")[0].params, json::array({{{"key", "/apps/config"}, {"value", "s3cr3t-value"}}}));

  auto del = call("DELETE", "/v1/etcd/demo/apps", admin_token_, json{{"recursive", true}});
  ASSERT_EQ(del.status, 200) << del.body.dump();
  EXPECT_EQ(del.body["deleted"], 3);
  EXPECT_EQ(hub.calls("/etcd/delete")[0].params, json::array({{{"key", "/apps"}, {"recursive", true}}}));
  call("DELETE", "/v1/etcd/demo/apps?recursive=true", admin_token_);
  call("DELETE", "/v1/etcd/demo/apps/x", admin_token_);
  auto deletes = hub.calls("/etcd/delete");
  ASSERT_EQ(deletes.size(), 3u);
  EXPECT_EQ(deletes[1].params[0]["recursive"], true);
  EXPECT_EQ(deletes[2].params[0]["recursive"], false);

  auto logs = call("GET", "/v1/grids/demo/audit_log", admin_token_).body["logs"];
  json etcd_entries = json::array();
  for (const auto& e : logs)
    if (e["resource_type"] == "etcd") etcd_entries.push_back(e);
  ASSERT_EQ(etcd_entries.size(), 4u) << logs.dump();
  std::string all = etcd_entries.dump();
  EXPECT_NE(all.find("\"set\""), std::string::npos);
  EXPECT_NE(all.find("\"delete\""), std::string::npos);
  EXPECT_NE(all.find("/apps/config"), std::string::npos);
  EXPECT_EQ(all.find("s3cr3t-value"), std::string::npos) << "etcd values may be secrets: redacted in the audit log";
}

TEST_F(EtcdApi, MembersReadGridAdminsWrite) {
  make_grid(1, 1);
  connect("node-1");
  hub.answer = [](const FakeNodeEvents::Call&) { return FakeNodeEvents::ok({{"key", "/a"}, {"value", "v"}}); };
  auto alice = user_token("alice@example.com");
  EXPECT_EQ(call("GET", "/v1/etcd/demo/a", alice).status, 403);  // not a member
  ASSERT_EQ(call("POST", "/v1/grids/demo/users", admin_token_, json{{"email", "alice@example.com"}}).status, 200);
  EXPECT_EQ(call("GET", "/v1/etcd/demo/a", alice).status, 200);
  EXPECT_EQ(call("GET", "/v1/grids/demo/health", alice).status, 200);
  auto denied = call("POST", "/v1/etcd/demo/a", alice, json{{"value", "x"}});
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(error_of(denied).find("grid_admin"), std::string::npos);
  EXPECT_EQ(call("DELETE", "/v1/etcd/demo/a", alice).status, 403);
  EXPECT_TRUE(hub.calls("/etcd/set").empty());
  EXPECT_TRUE(hub.calls("/etcd/delete").empty());
  ASSERT_EQ(call("POST", "/v1/users/alice@example.com/roles", admin_token_, json{{"role", "grid_admin"}}).status, 200);
  EXPECT_EQ(call("POST", "/v1/etcd/demo/a", alice, json{{"value", "x"}}).status, 200);
  EXPECT_EQ(call("GET", "/v1/etcd/demo/a", "").status, 401);
}

TEST_F(EtcdApi, NodeHealth) {
  make_grid(3, 2);
  connect("node-1");
  hub.answer = [](const FakeNodeEvents::Call& c) {
    EXPECT_EQ(c.method, "/etcd/health");
    return FakeNodeEvents::ok({{"member", {{"state", "running"}}}, {"healthy", 2}, {"total", 3}, {"majority", true}});
  };
  auto r = call("GET", "/v1/nodes/demo/node-1/health", admin_token_);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["connected"], true);
  EXPECT_EQ(r.body["node"], "node-1");
  EXPECT_EQ(r.body["initial_member"], true);
  EXPECT_EQ(r.body["healthy"], 2);
  EXPECT_EQ(r.body["member"]["state"], "running");

  auto offline = call("GET", "/v1/nodes/demo/node-2/health", admin_token_);
  EXPECT_EQ(offline.status, 503);
  EXPECT_NE(error_of(offline).find("node \"node-2\" is offline"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1/nodes/demo/node-9/health", admin_token_).status, 404);
  EXPECT_EQ(call("GET", "/v1/nodes/nope/node-1/health", admin_token_).status, 404);
  EXPECT_EQ(hub.calls().size(), 1u);
}

TEST_F(EtcdApi, GridHealthNamesOfflineMembersAndALostMajority) {
  make_grid(3, 4);
  connect("node-1");
  connect("node-4");
  auto n1 = node("node-1").id;
  hub.answer = [n1](const FakeNodeEvents::Call& c) {
    if (c.node == n1)
      return FakeNodeEvents::ok({{"member", {{"state", "running"}}}, {"healthy", 1}, {"total", 3}, {"majority", false}});
    return FakeNodeEvents::ok({{"member", nullptr}, {"healthy", 1}, {"total", 3}, {"majority", false}});
  };
  auto r = call("GET", "/v1/grids/demo/health", admin_token_);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["grid"], "demo");
  EXPECT_EQ(r.body["initial_size"], 3);
  EXPECT_EQ(r.body["healthy"], false);
  ASSERT_EQ(r.body["nodes"].size(), 4u);
  EXPECT_EQ(r.body["nodes"][0]["initial_member"], true);
  EXPECT_EQ(r.body["nodes"][0]["connected"], true);
  EXPECT_EQ(r.body["nodes"][0]["etcd"]["member"]["state"], "running");
  EXPECT_EQ(r.body["nodes"][1]["connected"], false);
  EXPECT_EQ(r.body["nodes"][3]["initial_member"], false);
  EXPECT_EQ(r.body["etcd"]["members"], 3);
  EXPECT_EQ(r.body["etcd"]["healthy"], 1);
  EXPECT_EQ(r.body["etcd"]["majority"], false);
  auto problems = r.body["problems"].dump();
  EXPECT_NE(problems.find("node-2 (initial member 2) is offline"), std::string::npos) << problems;
  EXPECT_NE(problems.find("node-3 (initial member 3) is offline"), std::string::npos) << problems;
  EXPECT_NE(problems.find("etcd has lost its majority: 1 of 3 members healthy; deploys cannot get overlay addresses "
                          "until a majority of the initial nodes is back"),
            std::string::npos)
      << problems;
  EXPECT_EQ(problems.find("node-4"), std::string::npos) << "a non-initial node that answers is no problem";
  EXPECT_EQ(hub.calls("/etcd/health").size(), 2u);  // the connected nodes only
}

TEST_F(EtcdApi, GridHealthIsHealthyWithAllMembersUp) {
  make_grid(1, 2);
  connect("node-1");
  connect("node-2");
  hub.answer = [](const FakeNodeEvents::Call&) {
    return FakeNodeEvents::ok({{"member", nullptr}, {"healthy", 1}, {"total", 1}, {"majority", true}, {"leader", "8e9e05c52164694d"}});
  };
  auto r = call("GET", "/v1/grids/demo/health", admin_token_);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["healthy"], true) << r.body.dump();
  EXPECT_EQ(r.body["problems"], json::array());
  EXPECT_EQ(r.body["etcd"]["majority"], true);
  EXPECT_EQ(r.body["etcd"]["leader"], "8e9e05c52164694d");
}

TEST_F(EtcdApi, GridHealthReportsMissingMembersAndUnansweredNodes) {
  make_grid(3, 1);
  connect("node-1");
  hub.answer = [](const FakeNodeEvents::Call&) { return FakeNodeEvents::error(503, "timeout: the node did not answer /etcd/health"); };
  auto r = call("GET", "/v1/grids/demo/health", admin_token_);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["healthy"], false);
  auto problems = r.body["problems"].dump();
  EXPECT_NE(problems.find("node-1 (initial member 1) did not report its health"), std::string::npos) << problems;
  EXPECT_NE(problems.find("initial member 2 of 3 has not joined"), std::string::npos) << problems;
  EXPECT_NE(problems.find("no node could report etcd's health"), std::string::npos) << problems;
  EXPECT_EQ(call("GET", "/v1/grids/nope/health", admin_token_).status, 404);
}

TEST_F(EtcdApi, RemovingANodeAsksAConnectedNodeToReleaseItsAddresses) {
  make_grid(1, 3);
  connect("node-1");
  connect("node-3");
  hub.answer = [](const FakeNodeEvents::Call&) { return FakeNodeEvents::ok({{"node_id", "ENGINE-node-3"}}); };
  ASSERT_EQ(call("DELETE", "/v1/nodes/demo/node-3", admin_token_).status, 200);
  auto releases = hub.calls("/ipam/release_node");
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].node, node("node-1").id);
  EXPECT_EQ(releases[0].params, json::array({{{"node_id", "ENGINE-node-3"}}}));

  // A node no agent ever joined has no addresses; with no node connected removal still works.
  ASSERT_EQ(call("DELETE", "/v1/nodes/demo/node-2", admin_token_).status, 200);
  EXPECT_EQ(hub.calls("/ipam/release_node").size(), 1u);
  hub.answer = [](const FakeNodeEvents::Call&) { return FakeNodeEvents::error(503, "no majority"); };
  ASSERT_EQ(call("DELETE", "/v1/nodes/demo/node-1", admin_token_).status, 200);
  EXPECT_EQ(hub.calls("/ipam/release_node").size(), 1u);  // node-1 was the last connected node
  EXPECT_EQ(hub.removed, (std::vector<std::string>{"node-3", "node-2", "node-1"}));
}

}  // namespace
