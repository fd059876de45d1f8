// Agent RPC through the hub: /nodes/update, /nodes/stats, unknown methods, malformed frames,
// master -> agent calls and notifications, and the REST API's node events.
#include "hub_fixture.h"

#include <future>
#include <thread>

#include "common/error.h"
#include "master/api/api.h"
#include "master/api/views.h"

namespace kontena::master::testing {
namespace {

namespace proto = kontena::protocol;

class RpcTest : public HubFixture {};

Json docker_info() {
  return {{"ID", "ignored"},
          {"Name", "host-a"},
          {"ServerVersion", "20.10.24"},
          {"OperatingSystem", "Debian GNU/Linux 12 (bookworm)"},
          {"KernelVersion", "6.1.0-13-amd64"},
          {"NCPU", 8},
          {"MemTotal", 16'000'000'000LL},
          {"Driver", "overlay2"},
          {"PublicIp", "203.0.113.7"},
          {"PrivateIp", "10.0.0.7"},
          {"AgentVersion", KONTENA_VERSION},
          {"Labels", Json::array({"x=1"})}};
}

TEST_F(RpcTest, NodesUpdateMapsDockerInfoAndMarksOnline) {
  auto a = connect_grid(id('A'), "alpha");
  clock_.advance(2000ms);
  a.say(Json::array({0, 42, "/nodes/update", Json::array({docker_info()})}));
  EXPECT_EQ(a.channel->response(42), Json::parse(R"([1, 42, null, {}])"));
  auto n = *node("alpha");
  EXPECT_EQ(node_status(n), "online");
  auto view = node_json(n, grid_);
  EXPECT_EQ(view["docker_version"], "20.10.24");
  EXPECT_EQ(view["os"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(view["kernel_version"], "6.1.0-13-amd64");
  EXPECT_EQ(view["cpus"], 8);
  EXPECT_EQ(view["mem_total"], 16'000'000'000LL);
  EXPECT_EQ(view["public_ip"], "203.0.113.7");
  EXPECT_EQ(view["private_ip"], "10.0.0.7");
  EXPECT_EQ(view["agent_version"], KONTENA_VERSION);
  EXPECT_EQ(view["status"], "online");
  EXPECT_EQ(n.labels, std::vector<std::string>{"x=1"}) << "the agent's labels fill a node without labels";
  EXPECT_EQ(a.channel->notifications(proto::kMethodNodeInfo).back()[0]["labels"], Json::array({"x=1"}));
  EXPECT_EQ(n.info["updated_at"], clock_.now_unix_ms());
  EXPECT_EQ(n.last_seen_at, clock_.now_unix_ms());
  // Wrong types are skipped, not stored.
  a.say(Json::array({0, 43, "/nodes/update", Json::array({{{"NCPU", "many"}, {"ServerVersion", 5}}})}));
  EXPECT_EQ(a.channel->response(43)[2], nullptr);
  EXPECT_EQ(node("alpha")->info["cpus"], 8);
  EXPECT_EQ(node("alpha")->info["docker_version"], "20.10.24");
}

TEST_F(RpcTest, NodesUpdateKeepsLabelsTheNodeHas) {
  auto h = grid_headers(id('A'), "alpha");
  h["kontena-node-labels"] = "az=a";
  auto a = connect(h);
  a.say(Json::array({0, 1, "/nodes/update", Json::array({docker_info()})}));
  EXPECT_EQ(node("alpha")->labels, std::vector<std::string>{"az=a"});
}

TEST_F(RpcTest, NodesUpdateWithBadParamsIs400AndChangesNothing) {
  auto a = connect_grid(id('A'), "alpha");
  auto before = snapshot();
  a.say(Json::array({0, 1, "/nodes/update", Json::array()}));
  a.say(Json::array({0, 2, "/nodes/update", Json::array({1})}));
  EXPECT_EQ(a.channel->response(1)[2]["code"], 400);
  EXPECT_EQ(a.channel->response(2)[2]["code"], 400);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(node_status(*node("alpha")), "connecting");
}

TEST_F(RpcTest, NodesStatsKeepsTheLatest) {
  auto a = connect_grid(id('A'), "alpha");
  a.say(Json::array({0, 1, "/nodes/update", Json::array({docker_info()})}));
  Json stats1 = {{"cpu", {{"num_cores", 8}, {"load", {0.5, 0.4, 0.3}}}}, {"memory", {{"total", 100}, {"used", 10}}}};
  Json stats2 = {{"cpu", {{"num_cores", 8}, {"load", {1.5, 0.4, 0.3}}}}, {"memory", {{"total", 100}, {"used", 20}}}};
  a.say(Json::array({2, "/nodes/stats", Json::array({stats1})}));
  EXPECT_EQ(node("alpha")->info["stats"], stats1);
  clock_.advance(60'000ms);
  a.say(Json::array({2, "/nodes/stats", Json::array({stats2})}));
  EXPECT_EQ(node("alpha")->info["stats"], stats2);
  EXPECT_EQ(node("alpha")->info["stats_received_at"], clock_.now_unix_ms());
  EXPECT_EQ(node("alpha")->info["docker_version"], "20.10.24") << "stats keep the node info";
  // Notifications get no answer, even malformed ones.
  a.channel->clear();
  a.say(Json::array({2, "/nodes/stats", Json::array({"nope"})}));
  a.say(Json::array({2, "/no/such/notification", Json::array()}));
  EXPECT_TRUE(a.channel->texts.empty());
  EXPECT_EQ(node("alpha")->info["stats"], stats2);
}

TEST_F(RpcTest, UnknownMethodIs501) {
  auto a = connect_grid(id('A'), "alpha");
  a.say(Json::array({0, 7, "/no/such", Json::array()}));
  auto r = a.channel->response(7);
  ASSERT_TRUE(r.is_array());
  EXPECT_EQ(r[2]["code"], 501);
  EXPECT_NE(r[2]["message"].get<std::string>().find("/no/such"), std::string::npos);
  EXPECT_EQ(r[3], nullptr);
}

TEST_F(RpcTest, MalformedFramesAreSurvived) {
  auto a = connect_grid(id('A'), "alpha");
  a.channel->clear();
  for (const char* bad : {"", "garbage", "{}", "[]", "[9]", "[0]", "[0, \"x\", \"/a\", []]", "[1, 99, null]",
                          "[2, 5, []]", "[2, \"/a\", {}]", "\xff\xfe", "null", "[[[[[[[[[[",
                          "[1, 12345, null, {}]"}) {
    a.listener->on_text(bad);
  }
  EXPECT_TRUE(a.channel->texts.empty()) << a.channel->texts.front();
  // Requests that can be identified get a 400.
  a.listener->on_text(R"([0, 5, "bad-method", []])");
  a.listener->on_text(R"([0, 6, "/nodes/update", {}])");
  a.listener->on_text(R"([0, 7, 2, 3])");
  EXPECT_EQ(a.channel->response(5)[2]["code"], 400);
  EXPECT_EQ(a.channel->response(7)[2]["code"], 400);
  EXPECT_EQ(a.channel->response(6)[2]["code"], 400);
  // Still alive and well.
  a.say(Json::array({0, 8, "/nodes/update", Json::array({docker_info()})}));
  EXPECT_EQ(a.channel->response(8)[2], nullptr);
  EXPECT_EQ(node_status(*node("alpha")), "online");
}

TEST_F(RpcTest, RegisteredHandlersAndTheirErrors) {
  hub_->handle("/test/echo", [](const AgentRef& ref, const Json& params) {
    return Json{{"node", ref.name}, {"params", params}};
  });
  hub_->handle("/test/missing", [](const AgentRef&, const Json&) -> Json { fail(ErrorKind::not_found, "no such pod"); });
  hub_->handle("/test/boom", [](const AgentRef&, const Json&) -> Json { throw std::runtime_error("boom"); });
  auto a = connect_grid(id('A'), "alpha");
  a.say(Json::array({0, 1, "/test/echo", Json::array({1, 2})}));
  a.say(Json::array({0, 2, "/test/missing", Json::array()}));
  a.say(Json::array({0, 3, "/test/boom", Json::array()}));
  EXPECT_EQ(a.channel->response(1)[3], Json::parse(R"({"node": "alpha", "params": [1, 2]})"));
  EXPECT_EQ(a.channel->response(2)[2]["code"], 404);
  EXPECT_EQ(a.channel->response(3)[2]["code"], 500);
}

TEST_F(RpcTest, CallsToTheAgent) {
  auto a = connect_grid(id('A'), "alpha");
  auto node_id = node("alpha")->id;
  a.channel->clear();
  auto future = hub_->call(node_id, "/agent/ping", Json::array(), 5000ms);
  auto request = a.channel->last();
  ASSERT_EQ(request[0], 0);
  EXPECT_EQ(request[2], "/agent/ping");
  EXPECT_EQ(request[3], Json::array());
  a.say(Json::array({1, request[1], nullptr, {{"time", "2026-11-25T21:00:00.000Z"}}}));
  ASSERT_EQ(future.wait_for(0s), std::future_status::ready);
  auto response = future.get();
  EXPECT_TRUE(response.ok());
  EXPECT_EQ(response.result["time"], "2026-11-25T21:00:00.000Z");

  // An error response is passed through.
  auto f2 = hub_->call(node_id, "/containers/show", Json::array({"x"}), 5000ms);
  a.say(Json::array({1, a.channel->last()[1], {{"code", 404}, {"message", "no such container"}}, nullptr}));
  EXPECT_EQ(f2.get().error["code"], 404);

  // No answer in time: 503.
  auto f3 = hub_->call(node_id, "/agent/ping", Json::array(), 2000ms);
  clock_.advance(1999ms);
  hub_->tick(clock_.now());
  EXPECT_EQ(f3.wait_for(0s), std::future_status::timeout);
  clock_.advance(1ms);
  hub_->tick(clock_.now());
  ASSERT_EQ(f3.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(f3.get().error["code"], 503);

  // Disconnect before the answer: 503; not connected at all: 503 at once.
  auto f4 = hub_->call(node_id, "/agent/ping", Json::array(), 5000ms);
  a.listener->on_closed(1006, "");
  ASSERT_EQ(f4.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(f4.get().error["code"], 503);
  auto f5 = hub_->call(node_id, "/agent/ping", Json::array(), 5000ms);
  ASSERT_EQ(f5.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(f5.get().error["code"], 503);
}

TEST_F(RpcTest, NotifyReachesOnlyConnectedNodes) {
  auto a = connect_grid(id('A'), "alpha");
  auto node_id = node("alpha")->id;
  EXPECT_TRUE(hub_->notify(node_id, "/service_pods/notify_update", Json::array({"deploy"})));
  EXPECT_EQ(a.channel->last(), Json::parse(R"([2, "/service_pods/notify_update", ["deploy"]])"));
  a.listener->on_closed(1000, "");
  EXPECT_FALSE(hub_->notify(node_id, "/service_pods/notify_update", Json::array({"deploy"})));
}

TEST_F(RpcTest, NotifyAndCallWorkInsideAStoreTransaction) {
  auto a = connect_grid(id('A'), "alpha");
  auto node_id = node("alpha")->id;
  std::future<protocol::RpcResponse> f;
  std::thread other([&] {
    // Another thread ticks meanwhile (it takes the hub's lock and then the store's).
    for (int i = 0; i < 50; ++i) hub_->tick(clock_.now());
  });
  store_->transaction([&] {
    EXPECT_TRUE(hub_->notify(node_id, "/service_pods/notify_update", Json::array({"x"})));
    f = hub_->call(node_id, "/agent/ping", Json::array(), 1000ms);
  });
  other.join();
  a.say(Json::array({1, a.channel->last()[1], nullptr, Json::object()}));
  EXPECT_TRUE(f.get().ok());
}

TEST_F(RpcTest, PeerIpsAndNodeInfoToPeers) {
  auto a = connect_grid(id('A'), "alpha");
  auto info = docker_info();
  a.say(Json::array({0, 1, "/nodes/update", Json::array({info})}));
  auto b = connect_grid(id('B'), "beta");
  auto b_info = b.channel->notifications(proto::kMethodNodeInfo).at(0)[0];
  EXPECT_EQ(b_info["peer_ips"], Json::array({"10.0.0.7"}));
  EXPECT_EQ(b_info["overlay_ip"], "10.81.0.2");
  EXPECT_EQ(b_info["initial_member"], true);
  // beta reports its private IP: alpha hears of its new peer.
  a.channel->clear();
  info["PrivateIp"] = "10.0.0.8";
  b.say(Json::array({0, 1, "/nodes/update", Json::array({info})}));
  EXPECT_TRUE(a.channel->notifications(proto::kMethodNodeInfo).empty()) << "peers hear of it on the next tick";
  hub_->tick(clock_.now());
  auto a_infos = a.channel->notifications(proto::kMethodNodeInfo);
  ASSERT_EQ(a_infos.size(), 1u);
  EXPECT_EQ(a_infos[0][0]["peer_ips"], Json::array({"10.0.0.8"}));
  // The same IP again: no new node_info.
  a.channel->clear();
  b.say(Json::array({0, 2, "/nodes/update", Json::array({info})}));
  hub_->tick(clock_.now());
  EXPECT_TRUE(a.channel->notifications(proto::kMethodNodeInfo).empty());
}

// Many agents joining between two ticks: each connected node gets ONE node_info with all peers,
// not one per join (which made joins cost O(N^2) node list reads per grid).
TEST_F(RpcTest, PeerUpdatesAreCoalescedPerTick) {
  std::vector<decltype(connect_grid(id('A'), "n0"))> agents;
  const char letters[] = "ABCDEFGHIJ";
  for (int i = 0; i < 10; ++i) agents.push_back(connect_grid(id(letters[i]), "n" + std::to_string(i)));
  hub_->tick(clock_.now());
  for (auto& a : agents) a.channel->clear();
  for (int i = 0; i < 10; ++i) {
    auto info = docker_info();
    info.erase("Labels");  // labels for a label-less node send that node its own node_info at once
    info["PrivateIp"] = "10.0.1." + std::to_string(i + 1);
    agents[i].say(Json::array({0, 1, "/nodes/update", Json::array({info})}));
  }
  for (auto& a : agents) EXPECT_TRUE(a.channel->notifications(proto::kMethodNodeInfo).empty());
  hub_->tick(clock_.now());
  for (int i = 0; i < 10; ++i) {
    auto infos = agents[i].channel->notifications(proto::kMethodNodeInfo);
    ASSERT_EQ(infos.size(), 1u) << "node n" << i;
    EXPECT_EQ(infos[0][0]["peer_ips"].size(), 9u) << "node n" << i;
  }
  hub_->tick(clock_.now());
  for (auto& a : agents) EXPECT_EQ(a.channel->notifications(proto::kMethodNodeInfo).size(), 1u);
}

// The REST API wired to the hub.
class ApiEventsTest : public HubFixture {
 protected:
  void SetUp() override {
    HubFixture::SetUp();
    api_ = std::make_unique<MasterApi>(*store_, clock_, hub_.get());
    api_->auth().bootstrap_admin("admin-code-123");
    auto r = call("POST", "/oauth2/token", Json{{"grant_type", "authorization_code"}, {"code", "admin-code-123"}});
    token_ = r.second.value("access_token", "");
    ASSERT_FALSE(token_.empty()) << r.second.dump();
  }
  void TearDown() override {
    api_.reset();
    HubFixture::TearDown();
  }
  std::pair<int, Json> call(const std::string& method, const std::string& path, const Json& body = nullptr) {
    HttpRequest req;
    req.method = method;
    req.path = path;
    if (!token_.empty()) req.headers["authorization"] = "Bearer " + token_;
    if (!body.is_null()) req.body = body.dump();
    req.source_ip = "127.0.0.1";
    auto res = api_->handle(req);
    return {res.status, res.body.empty() ? Json() : Json::parse(res.body)};
  }
  std::unique_ptr<MasterApi> api_;
  std::string token_;
};

TEST_F(ApiEventsTest, DeleteNodeClosesItsAgentWith4040) {
  auto a = connect_grid(id('A'), "alpha");
  auto [status, body] = call("DELETE", "/v1/nodes/demo/alpha");
  EXPECT_EQ(status, 200) << body.dump();
  EXPECT_EQ(a.close_code(), proto::kCloseNodeRemoved);
  EXPECT_FALSE(node("alpha"));
  EXPECT_EQ(hub_->connection_count(), 0u);
}

TEST_F(ApiEventsTest, TokenResetWithResetConnectionCloses4031) {
  precreate("pre", "node-token-1");
  auto a = connect(node_token_headers(id('A'), "node-token-1"));
  ASSERT_TRUE(a.admitted());
  auto r = call("PUT", "/v1/nodes/demo/pre/token", Json{{"token", "node-token-2-abcdefghijkl"}});
  EXPECT_EQ(r.first, 200) << r.second.dump();
  EXPECT_FALSE(a.channel->closed) << "without reset_connection the socket stays";
  r = call("PUT", "/v1/nodes/demo/pre/token", Json{{"reset_connection", true}});
  EXPECT_EQ(r.first, 200) << r.second.dump();
  EXPECT_EQ(a.close_code(), proto::kCloseDisconnected);
  EXPECT_EQ(node_status(*node("pre")), "offline");
  // The agent comes back with the old token: 4002.
  auto again = connect(node_token_headers(id('A'), "node-token-1"));
  EXPECT_EQ(again.close_code(), proto::kCloseInvalidNodeToken);
}

TEST_F(ApiEventsTest, UpdateNodeResendsNodeInfo) {
  auto a = connect_grid(id('A'), "alpha");
  a.channel->clear();
  auto r = call("PUT", "/v1/nodes/demo/alpha", Json{{"labels", {"az=b"}}, {"availability", "drain"}});
  EXPECT_EQ(r.first, 200) << r.second.dump();
  auto infos = a.channel->notifications(proto::kMethodNodeInfo);
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0][0]["labels"], Json::array({"az=b"}));
  EXPECT_EQ(infos[0][0]["availability"], "drain");
}

TEST_F(ApiEventsTest, NodeStatsRoute) {
  auto a = connect_grid(id('A'), "alpha");
  auto r = call("GET", "/v1/nodes/demo/alpha/stats");
  EXPECT_EQ(r.first, 200);
  EXPECT_EQ(r.second["stats"], nullptr);
  EXPECT_EQ(r.second["received_at"], nullptr);
  EXPECT_EQ(r.second["status"], "connecting");
  Json stats = {{"cpu", {{"num_cores", 2}}}, {"usage", {{"container_count", 3}}}};
  a.say(Json::array({2, "/nodes/stats", Json::array({stats})}));
  r = call("GET", "/v1/nodes/demo/alpha/stats");
  EXPECT_EQ(r.first, 200);
  EXPECT_EQ(r.second["id"], "demo/alpha");
  EXPECT_EQ(r.second["stats"], stats);
  EXPECT_EQ(r.second["received_at"], format_time_ms(clock_.now_unix_ms()));
  EXPECT_EQ(call("GET", "/v1/nodes/demo/nope/stats").first, 404);
  auto list = call("GET", "/v1/grids/demo/nodes");
  EXPECT_EQ(list.second["nodes"][0]["status"], "connecting");
}

}  // namespace
}  // namespace kontena::master::testing
