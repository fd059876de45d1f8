// The master's /etcd/* and /ipam/release_node requests (agent/etcd_rpc.h) answered by the agent's
// session against the in-process fake master, with FakeEtcd as the grid's etcd.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "agent/etcd_rpc.h"
#include "agent/ipam/ipam.h"
#include "agent_harness.h"
#include "common/error.h"
#include "fake_etcd.h"
#include "protocol/etcd_rpc.h"

using namespace kontena;
using namespace kontena::agent;
using agent::fakes::AgentHarness;
using agent::fakes::FakeMasterConnection;
using std::chrono::milliseconds;
using Json = nlohmann::json;

namespace {

class EtcdRpcTest : public AgentHarness {
 protected:
  ~EtcdRpcTest() override {
    stop_agent();
    stop_master();
    worker.join();
  }

  // Starts the agent with the etcd handlers and waits for its session; nullptr on failure.
  FakeMasterConnection* start() {
    start_agent();
    EtcdRpcDeps deps;
    deps.worker = worker.get_executor();
    deps.client = [this]() -> kontena::etcd::EtcdClient* { return has_client ? &etcd : nullptr; };
    deps.member_status = [this] { return member; };
    deps.ipam = [this]() -> ipam::Ipam* { return has_ipam ? &ipam : nullptr; };
    deps.network_status = [] { return Json{{"overlay_ip", "10.81.0.1"}}; };
    register_etcd_rpc(*agent, std::move(deps));
    run_agent();
    FakeMasterConnection* c = nullptr;
    bool ok = run_until([&] {
      c = master.ws(0);
      return c && !c->calls("/nodes/update").empty();
    });
    return ok ? c : nullptr;
  }

  // Sends the request and waits for its response frame [1, id, error, result].
  Json ask(FakeMasterConnection* c, const std::string& method, Json params) {
    std::int64_t id = ++next_id;
    c->send(Json::array({0, id, method, params}));
    if (!run_until([&] { return !c->response(id).is_null(); })) return Json{{"timeout", method}};
    return c->response(id);
  }
  static int code(const Json& response) { return response[2].is_object() ? response[2].value("code", 0) : 0; }
  static std::string message(const Json& response) {
    return response[2].is_object() ? response[2].value("message", std::string()) : "";
  }

  asio::thread_pool worker{1};
  kontena::etcd::FakeEtcd etcd;
  ipam::Ipam ipam{etcd, ipam::IpamConfig{}};
  std::atomic<bool> has_client{true};
  std::atomic<bool> has_ipam{true};
  Json member = {{"state", "running"}, {"pid", 42}, {"error", ""}, {"restarts", 0}};
  std::int64_t next_id = 100;
};

Json key_param(const std::string& key, bool recursive = false) {
  return Json::array({{{"key", key}, {"recursive", recursive}}});
}

TEST_F(EtcdRpcTest, SetGetListAndDelete) {
  auto* c = start();
  ASSERT_NE(c, nullptr);
  auto set = ask(c, "/etcd/set", Json::array({{{"key", "/apps/web/port"}, {"value", "80"}}}));
  EXPECT_TRUE(set[2].is_null()) << set.dump();
  EXPECT_EQ(set[3], (Json{{"key", "/apps/web/port"}, {"value", "80"}}));
  ask(c, "/etcd/set", Json::array({{{"key", "/apps/web/host"}, {"value", "a"}}}));
  ask(c, "/etcd/set", Json::array({{{"key", "/apps/webx"}, {"value", "not under /apps/web/"}}}));
  EXPECT_EQ(etcd.keys().at("/apps/web/port"), "80");

  auto get = ask(c, "/etcd/get", key_param("/apps/web/port"));
  EXPECT_EQ(get[3], (Json{{"key", "/apps/web/port"}, {"value", "80"}})) << get.dump();

  auto list = ask(c, "/etcd/get", key_param("/apps/web", true));
  ASSERT_TRUE(list[2].is_null()) << list.dump();
  EXPECT_EQ(list[3]["key"], "/apps/web");
  EXPECT_EQ(list[3]["children"], Json::array({{{"key", "/apps/web/host"}, {"value", "a"}},
                                              {{"key", "/apps/web/port"}, {"value", "80"}}}));
  EXPECT_EQ(list[3]["truncated"], false);
  EXPECT_FALSE(list[3].contains("value"));
  EXPECT_EQ(ask(c, "/etcd/get", key_param("/", true))[3]["children"].size(), 3u);

  auto del = ask(c, "/etcd/delete", key_param("/apps/web", true));
  EXPECT_EQ(del[3], (Json{{"deleted", 2}})) << del.dump();
  EXPECT_EQ(etcd.keys(), (std::map<std::string, std::string>{{"/apps/webx", "not under /apps/web/"}}));
  EXPECT_EQ(ask(c, "/etcd/delete", key_param("/apps/webx"))[3], (Json{{"deleted", 1}}));
  EXPECT_TRUE(etcd.keys().empty());
}

TEST_F(EtcdRpcTest, MissingKeysAre404) {
  auto* c = start();
  ASSERT_NE(c, nullptr);
  auto get = ask(c, "/etcd/get", key_param("/nope"));
  EXPECT_EQ(code(get), 404);
  EXPECT_NE(message(get).find("etcd has no key /nope"), std::string::npos) << get.dump();
  EXPECT_EQ(code(ask(c, "/etcd/get", key_param("/nope", true))), 404);
  EXPECT_EQ(code(ask(c, "/etcd/delete", key_param("/nope"))), 404);
  EXPECT_EQ(code(ask(c, "/etcd/delete", key_param("/nope", true))), 404);
}

TEST_F(EtcdRpcTest, BadKeysAndParamsAre422AndChangeNothing) {
  auto* c = start();
  ASSERT_NE(c, nullptr);
  etcd.put("/keep", "1");
  int calls_before = etcd.calls();
  std::vector<std::pair<std::string, Json>> bad = {
      {"/etcd/get", key_param("no-slash")},
      {"/etcd/get", key_param("/a/../b")},
      {"/etcd/get", key_param("/..")},
      {"/etcd/get", key_param(std::string("/a\0b", 4))},
      {"/etcd/get", key_param("")},
      {"/etcd/get", Json::array({{{"key", 5}}})},
      {"/etcd/get", Json::array({"not an object"})},
      {"/etcd/get", Json::array({{{"key", "/a"}, {"recursive", "yes"}}})},
      {"/etcd/set", Json::array({{{"key", "/a"}}})},
      {"/etcd/set", Json::array({{{"key", "/a"}, {"value", 5}}})},
      {"/etcd/set", Json::array({{{"key", "/a"}, {"value", std::string(protocol::kMaxEtcdValueBytes + 1, 'x')}}})},
      {"/etcd/set", Json::array({{{"key", "/../keep"}, {"value", "x"}}})},
      {"/etcd/delete", key_param("/a/..")},
      {"/etcd/delete", key_param("/", true)},  // would erase the grid's whole network state
      {"/ipam/release_node", Json::array({{{"node_id", ""}}})},
      {"/ipam/release_node", Json::array()},
  };
  for (const auto& [method, params] : bad) {
    auto r = ask(c, method, params);
    EXPECT_EQ(code(r), 422) << method << " " << params.dump().substr(0, 200) << " -> " << r.dump().substr(0, 300);
  }
  EXPECT_EQ(etcd.calls(), calls_before) << "a bad request reached etcd";
  EXPECT_EQ(etcd.keys(), (std::map<std::string, std::string>{{"/keep", "1"}}));
  EXPECT_TRUE(c->open);
}

TEST_F(EtcdRpcTest, NoClientOrNoMajorityIs503) {
  has_client = false;
  auto* c = start();
  ASSERT_NE(c, nullptr);
  auto r = ask(c, "/etcd/get", key_param("/a"));
  EXPECT_EQ(code(r), 503);
  EXPECT_NE(message(r).find("no etcd client yet"), std::string::npos) << r.dump();
  has_client = true;
  etcd.set_unavailable(true);
  r = ask(c, "/etcd/set", Json::array({{{"key", "/a"}, {"value", "x"}}}));
  EXPECT_EQ(code(r), 503);
  EXPECT_NE(message(r).find("majority"), std::string::npos) << r.dump();
  EXPECT_EQ(code(ask(c, "/etcd/delete", key_param("/a"))), 503);
  etcd.set_unavailable(false);
  EXPECT_TRUE(etcd.keys().empty());
}

TEST_F(EtcdRpcTest, CallsRunOffTheEventLoop) {
  auto* c = start();
  ASSERT_NE(c, nullptr);
  etcd.put("/slow", "v");
  etcd.set_before_call([](const std::string& op, const std::string&) {
    if (op == "get") std::this_thread::sleep_for(milliseconds(300));
  });
  std::int64_t id = ++next_id;
  c->send(Json::array({0, id, "/etcd/get", key_param("/slow")}));
  c->send(Json::array({0, id + 1, "/agent/ping", Json::array()}));
  ASSERT_TRUE(run_until([&] { return !c->response(id + 1).is_null(); }));
  EXPECT_TRUE(c->response(id).is_null()) << "the etcd get answered before the ping: it ran on the loop";
  ASSERT_TRUE(run_until([&] { return !c->response(id).is_null(); }));
  EXPECT_EQ(c->response(id)[3]["value"], "v");
}

TEST_F(EtcdRpcTest, HealthReportsAHealthyCluster) {
  auto* c = start();
  ASSERT_NE(c, nullptr);
  c->send(Json::array({2, "/agent/node_info", Json::array({{{"name", "node-1"}, {"node_number", 1}, {"initial_member", true},
                                                            {"grid", {{"name", "demo"}, {"initial_size", 1}}}}})}));
  ASSERT_TRUE(run_until([&] { return agent->master_state().node_number == 1; }));
  auto r = ask(c, "/etcd/health", Json::array());
  ASSERT_TRUE(r[2].is_null()) << r.dump();
  const Json& h = r[3];
  EXPECT_EQ(h["member"]["state"], "running");
  EXPECT_EQ(h["network"]["overlay_ip"], "10.81.0.1");
  ASSERT_EQ(h["endpoints"].size(), 1u);
  EXPECT_EQ(h["endpoints"][0]["endpoint"], "http://127.0.0.1:2379");
  EXPECT_EQ(h["endpoints"][0]["healthy"], true);
  EXPECT_EQ(h["endpoints"][0]["member_id"], "8e9e05c52164694d");
  EXPECT_EQ(h["endpoints"][0]["version"], "3.4.23");
  ASSERT_EQ(h["members"].size(), 1u);
  EXPECT_EQ(h["members"][0]["name"], "node-1");
  EXPECT_EQ(h["members"][0]["peer_urls"], Json::array({"http://127.0.0.1:2380"}));
  EXPECT_EQ(h["healthy"], 1);
  EXPECT_EQ(h["total"], 1);
  EXPECT_EQ(h["majority"], true);
  EXPECT_EQ(h["leader"], "8e9e05c52164694d");
}

TEST_F(EtcdRpcTest, HealthReportsALostMajorityWithoutFailing) {
  kontena::etcd::EndpointStatus up;
  up.endpoint = "http://10.81.0.1:2379";
  up.healthy = true;
  up.member_id = 1;
  up.leader = 0;  // no leader known: the cluster lost its majority, yet this member answers
  kontena::etcd::EndpointStatus down;
  down.endpoint = "http://10.81.0.2:2379";
  down.error = "connection refused";
  etcd.set_endpoint_status({up, down, down});
  etcd.set_unavailable(true);  // members() fails too
  member = nullptr;            // not an initial member
  auto* c = start();
  ASSERT_NE(c, nullptr);
  c->send(Json::array({2, "/agent/node_info", Json::array({{{"name", "node-4"}, {"node_number", 4},
                                                            {"grid", {{"name", "demo"}, {"initial_size", 3}}}}})}));
  ASSERT_TRUE(run_until([&] { return agent->master_state().node_number == 4; }));
  auto r = ask(c, "/etcd/health", Json::array());
  ASSERT_TRUE(r[2].is_null()) << r.dump();
  const Json& h = r[3];
  EXPECT_TRUE(h["member"].is_null());
  EXPECT_EQ(h["healthy"], 0) << "FakeEtcd reports every endpoint unhealthy while unavailable";
  EXPECT_EQ(h["total"], 3);
  EXPECT_EQ(h["majority"], false);
  EXPECT_EQ(h["endpoints"].size(), 3u);
  EXPECT_EQ(h["endpoints"][1]["healthy"], false);
  EXPECT_NE(h["members_error"].get<std::string>().find("majority"), std::string::npos) << h.dump();

  // Without an etcd client the report says so instead of failing.
  has_client = false;
  r = ask(c, "/etcd/health", Json::array());
  ASSERT_TRUE(r[2].is_null()) << r.dump();
  EXPECT_NE(r[3]["error"].get<std::string>().find("no etcd client yet"), std::string::npos);
  EXPECT_EQ(r[3]["majority"], false);
}

TEST_F(EtcdRpcTest, ReleaseNodeFreesTheRemovedNodesSliceAndAddresses) {
  auto* c = start();
  ASSERT_NE(c, nullptr);
  ipam.allocate("ENGINE-GONE", "shop.web-1");
  ipam.allocate("ENGINE-KEPT", "shop.web-2");
  ASSERT_EQ(ipam.describe()["addresses"], 2);
  auto r = ask(c, "/ipam/release_node", Json::array({{{"node_id", "ENGINE-GONE"}}}));
  ASSERT_TRUE(r[2].is_null()) << r.dump();
  EXPECT_EQ(r[3]["node_id"], "ENGINE-GONE");
  auto described = ipam.describe();
  EXPECT_EQ(described["addresses"], 1) << described.dump();
  EXPECT_FALSE(described["slices"].contains("ENGINE-GONE")) << described.dump();
  EXPECT_TRUE(described["slices"].contains("ENGINE-KEPT")) << described.dump();

  has_ipam = false;
  EXPECT_EQ(code(ask(c, "/ipam/release_node", Json::array({{{"node_id", "ENGINE-KEPT"}}}))), 503);
}

TEST(EtcdKey, Rules) {
  EXPECT_NO_THROW(protocol::validate_etcd_key("/"));
  EXPECT_NO_THROW(protocol::validate_etcd_key("/kontena/ipam/pools/kontena"));
  EXPECT_NO_THROW(protocol::validate_etcd_key("/a/..b/c.."));  // only whole ".." segments are refused
  EXPECT_NO_THROW(protocol::validate_etcd_key("/a/"));
  EXPECT_THROW(protocol::validate_etcd_key(""), Error);
  EXPECT_THROW(protocol::validate_etcd_key("a"), Error);
  EXPECT_THROW(protocol::validate_etcd_key("/a/.."), Error);
  EXPECT_THROW(protocol::validate_etcd_key("/../a"), Error);
  EXPECT_THROW(protocol::validate_etcd_key("/" + std::string(protocol::kMaxEtcdKeyBytes, 'a')), Error);
  try {
    protocol::validate_etcd_key("x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_EQ(e.field(), "key");
  }
}

TEST(EtcdRequest, Parses) {
  auto r = parse_etcd_request(EtcdOp::get, Json::array({{{"key", "/a"}}}));
  EXPECT_EQ(r.key, "/a");
  EXPECT_FALSE(r.recursive);
  EXPECT_TRUE(parse_etcd_request(EtcdOp::remove, Json{{"key", "/a"}, {"recursive", true}}).recursive);
  EXPECT_EQ(parse_etcd_request(EtcdOp::set, Json::array({{{"key", "/a"}, {"value", ""}}})).value, "");
  EXPECT_THROW(parse_etcd_request(EtcdOp::get, Json::array({{{"key", "/a"}}, {{"key", "/b"}}})), Error);
}

}  // namespace
