// The agents' service-pod RPCs through a real AgentHub (fake channel, no socket): pod lists,
// set_state, health, log batches, events, oneshot hooks; malformed params change nothing.
#include "fixture.h"

#include "master/agents/agent_hub.h"
#include "master/agents/handshake.h"
#include "protocol/service_pod.h"

namespace kontena::master::testing {
namespace {

class Channel final : public NodeChannel {
 public:
  void send_text(std::string text) override {
    std::lock_guard lock(mu);
    texts.push_back(std::move(text));
  }
  void ping(std::string) override {}
  void close(std::uint16_t, std::string) override {}
  std::string remote_address() const override { return "192.0.2.1:40000"; }
  Json response(std::int64_t id) {
    std::lock_guard lock(mu);
    for (auto& t : texts) {
      auto m = Json::parse(t);
      if (m.is_array() && m.size() == 4 && m[0] == 1 && m[1] == id) return m;
    }
    return Json();
  }
  std::mutex mu;
  std::vector<std::string> texts;
};

class AgentRpcTest : public DeployerTest {
 protected:
  void SetUp() override {
    DeployerTest::SetUp();
    hub_ = std::make_unique<AgentHub>(*store_, clock_);
    deployer_->register_agent_handlers(*hub_);
    link_hub_ = agent_link(*hub_);
    // The agent of node-1 connects with the grid token.
    HttpRequest req;
    req.method = "GET";
    req.path = "/";
    req.headers = {{"kontena-grid-token", "grid-token"},
                   {"kontena-node-id", engine_id},
                   {"kontena-node-name", "node-1"},
                   {"kontena-version", KONTENA_VERSION},
                   {"kontena-connected-at", agents::format_connected_at(clock_.now())}};
    req.source_ip = "192.0.2.1";
    channel_ = std::make_shared<Channel>();
    listener_ = hub_->open(req, channel_);
    ASSERT_TRUE(listener_);
    node_ = *store_->node_by_name(grid_.id, "node-1");
    link_.online.insert(node_.id);
    other_ = add_node("node-2");
  }
  void TearDown() override {
    listener_.reset();
    hub_.reset();
    DeployerTest::TearDown();
  }
  Json request(const std::string& method, Json params) {
    auto id = ++next_id_;
    listener_->on_text(Json::array({0, id, method, params}).dump());
    return channel_->response(id);
  }
  void notify(const std::string& method, Json params) { listener_->on_text(Json::array({2, method, params}).dump()); }
  // A deployed instance of `svc` on node-1.
  ServiceInstance place(const Service& svc, int number, std::int64_t node) {
    ServiceInstance i;
    i.service_id = svc.id;
    i.instance_number = number;
    i.node_id = node;
    i.deploy_rev = "2026-11-26T10:00:00.000Z";
    i.created_at = i.updated_at = clock_.now_unix_ms();
    return store_->upsert_instance(i);
  }
  std::string snapshot(std::int64_t service_id) {
    Json all = Json::array();
    for (auto& i : instances(service_id))
      all.push_back({i.instance_number, i.node_id, i.desired_state, i.state, i.error, i.rev, i.health, i.reported_at});
    Store::LogFilter f;
    f.grid_id = grid_.id;
    f.limit = 10000;
    all.push_back(store_->container_logs(f).size());
    all.push_back(store_->events(f).size());
    return all.dump();
  }

  const std::string engine_id = "AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA";
  std::unique_ptr<AgentHub> hub_;
  std::unique_ptr<AgentLink> link_hub_;
  std::shared_ptr<Channel> channel_;
  std::shared_ptr<ChannelListener> listener_;
  Node node_, other_;
  std::int64_t next_id_ = 0;
};

TEST_F(AgentRpcTest, PodListHasTheNodesInstancesAsServicePods) {
  Json sp = spec(3, {{"environment", {"A=1", "B=two words"}},
                     {"command", {"sleep", "100"}},
                     {"entrypoint", "/bin/sh -c"},
                     {"ports", {{{"ip", "0.0.0.0"}, {"protocol", "tcp"}, {"node_port", 8080}, {"container_port", 80}}}},
                     {"volumes",
                      {{{"type", "named"}, {"source", "data"}, {"target", "/data"}, {"flags", nullptr}},
                       {{"type", "bind"}, {"source", "/srv"}, {"target", "/srv"}, {"flags", "ro"}},
                       {{"type", "anonymous"}, {"source", nullptr}, {"target", "/cache"}, {"flags", nullptr}}}},
                     {"cpus", 0.5},
                     {"cpu_shares", 512},
                     {"mem_limit", 134217728},
                     {"shm_size", 67108864},
                     {"privileged", true},
                     {"cap_add", {"NET_ADMIN"}},
                     {"user", "nobody"},
                     {"read_only", true},
                     {"network_mode", "bridge"},
                     {"logging", {{"driver", "json-file"}, {"options", {{"max-size", "1m"}}}}},
                     {"stop_signal", "SIGINT"},
                     {"stop_grace_period", 30},
                     {"health_check", {{"protocol", "http"}, {"port", 80}, {"uri", "/health"}, {"timeout", 5},
                                       {"interval", 30}, {"initial_delay", 3}}},
                     {"hooks",
                      {{"pre_start",
                        {{{"name", "migrate"}, {"cmd", "rake db:migrate"}, {"instances", "1"}, {"oneshot", true}},
                         {{"name", "all"}, {"cmd", "true"}, {"instances", "*"}, {"oneshot", false}}}},
                       {"post_start", {{{"name", "two"}, {"cmd", "echo"}, {"instances", "2,3"}, {"oneshot", false}}}},
                       {"pre_stop", Json::array()}}},
                     {"deploy", {{"strategy", "ha"}, {"wait_for_port", 80}, {"min_health", 0.8}, {"interval", nullptr}}}});
  Stack st;
  st.grid_id = grid_.id;
  st.name = "shop";
  st.created_at = st.updated_at = clock_.now_unix_ms();
  st = store_->insert_stack(st, {{"name", "shop"}, {"services", Json::array()}});
  auto svc = add_service("web", sp, st.id);
  auto s = service(svc.id);
  s.revision = 4;
  store_->update_service(s);
  place(svc, 1, node_.id);
  place(svc, 2, node_.id);
  place(svc, 3, other_.id);
  auto gone = place(svc, 4, node_.id);
  gone.desired_state = "terminated";
  store_->upsert_instance(gone);

  auto r = request("/node_service_pods/list", Json::array({engine_id}));
  ASSERT_TRUE(r[2].is_null()) << r.dump();
  auto pods = protocol::service_pods_from_list_result(r[3]);
  ASSERT_EQ(pods.size(), 2u) << "instance 3 is on node-2, instance 4 is terminated";
  const auto& p = pods[0];
  EXPECT_EQ(p.service_id, std::to_string(svc.id));
  EXPECT_EQ(p.service_name, "web");
  EXPECT_EQ(p.stack_name, "shop");
  EXPECT_EQ(p.grid_name, "demo");
  EXPECT_EQ(p.instance_number, 1);
  EXPECT_EQ(p.deploy_rev, "2026-11-26T10:00:00.000Z");
  EXPECT_EQ(p.service_revision, 4);
  EXPECT_EQ(p.desired_state, "running");
  EXPECT_EQ(p.image, "local/busybox:latest");
  EXPECT_EQ(p.cmd, (std::vector<std::string>{"sleep", "100"}));
  EXPECT_EQ(p.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(p.env, (std::vector<std::string>{"A=1", "B=two words"}));
  ASSERT_EQ(p.ports.size(), 1u);
  EXPECT_EQ(p.ports[0].node_port, 8080);
  EXPECT_EQ(p.ports[0].container_port, 80);
  EXPECT_EQ(p.volumes, (std::vector<std::string>{"shop.data:/data", "/srv:/srv:ro", "/cache"}));
  EXPECT_EQ(p.cpus, 0.5);
  EXPECT_EQ(p.cpu_shares, 512);
  EXPECT_EQ(p.mem_limit, 134217728);
  EXPECT_EQ(p.shm_size, 67108864);
  EXPECT_TRUE(p.privileged);
  EXPECT_EQ(p.cap_add, std::vector<std::string>{"NET_ADMIN"});
  EXPECT_EQ(p.user, "nobody");
  EXPECT_TRUE(p.read_only);
  EXPECT_EQ(p.net, "bridge");
  ASSERT_TRUE(p.network) << "bridge services join the grid overlay";
  EXPECT_EQ(p.network->name, "kontena");
  EXPECT_EQ(p.dns_search, (std::vector<std::string>{"shop.demo.kontena.local", "demo.kontena.local"}));
  EXPECT_EQ(p.log_driver, "json-file");
  EXPECT_EQ(p.log_opts.at("max-size"), "1m");
  EXPECT_EQ(p.stop_signal, "SIGINT");
  EXPECT_EQ(p.stop_grace_period, 30);
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->uri, "/health");
  EXPECT_EQ(p.health_check->interval, 30);
  EXPECT_EQ(p.wait_for_port, 80);
  ASSERT_EQ(p.hooks.pre_start.size(), 2u);
  EXPECT_EQ(p.hooks.pre_start[0].name, "migrate");
  EXPECT_TRUE(p.hooks.pre_start[0].oneshot);
  EXPECT_TRUE(p.hooks.post_start.empty()) << "post_start is for instances 2 and 3";
  EXPECT_EQ(pods[1].hooks.pre_start.size(), 1u) << "migrate is for instance 1 only";
  EXPECT_EQ(pods[1].hooks.post_start.size(), 1u);

  // A oneshot hook reported done is not sent again.
  notify("/node_service_pods/mark_oneshot_hook",
         Json::array({engine_id, {{"service_id", std::to_string(svc.id)}, {"instance_number", 1}, {"name", "migrate"}}}));
  pods = protocol::service_pods_from_list_result(request("/node_service_pods/list", Json::array({engine_id}))[3]);
  ASSERT_EQ(pods[0].hooks.pre_start.size(), 1u);
  EXPECT_EQ(pods[0].hooks.pre_start[0].name, "all");

  // A stopped service's pods are stopped.
  deployer_->stop_service(service(svc.id));
  pods = protocol::service_pods_from_list_result(request("/node_service_pods/list", Json::array({engine_id}))[3]);
  for (auto& pod : pods) EXPECT_EQ(pod.desired_state, "stopped");
}

TEST_F(AgentRpcTest, SetStateUpdatesTheInstanceAndIgnoresUnknownOnes) {
  auto svc = add_service("web", spec(2));
  place(svc, 1, node_.id);
  place(svc, 2, other_.id);
  clock_.advance(3s);
  Json state = {{"service_id", std::to_string(svc.id)},
                {"instance_number", 1},
                {"rev", "2026-11-26T10:00:00.000Z"},
                {"state", "restarting"},
                {"error", "create null.web-1 failed: image not found"}};
  auto r = request("/node_service_pods/set_state", Json::array({engine_id, state}));
  EXPECT_EQ(r, Json::array({1, next_id_, nullptr, Json::object()}));
  auto i = *store_->instance(svc.id, 1);
  EXPECT_EQ(i.state, "restarting");
  EXPECT_EQ(i.error, "create null.web-1 failed: image not found");
  EXPECT_EQ(i.rev, "2026-11-26T10:00:00.000Z");
  EXPECT_EQ(i.reported_at, clock_.now_unix_ms());
  EXPECT_TRUE(has_event("service:instance_error", "image not found"));

  auto before = snapshot(svc.id);
  // Unknown service, unknown instance, an instance on another node: answered {}, nothing changes.
  for (Json s : {Json{{"service_id", "999"}, {"instance_number", 1}, {"rev", ""}, {"state", "running"}},
                 Json{{"service_id", "s1"}, {"instance_number", 1}, {"rev", ""}, {"state", "missing"}},
                 Json{{"service_id", std::to_string(svc.id)}, {"instance_number", 7}, {"rev", ""}, {"state", "running"}},
                 Json{{"service_id", std::to_string(svc.id)}, {"instance_number", 2}, {"rev", ""}, {"state", "running"}}}) {
    r = request("/node_service_pods/set_state", Json::array({engine_id, s}));
    EXPECT_EQ(r[3], Json::object()) << s.dump();
  }
  EXPECT_EQ(snapshot(svc.id), before);
  // Malformed: 400, nothing changes.
  for (Json params : {Json::array({engine_id}), Json::array({engine_id, "x"}),
                      Json::array({engine_id, {{"service_id", std::to_string(svc.id)}, {"instance_number", 1}}}),
                      Json::array({engine_id, {{"service_id", std::to_string(svc.id)}, {"instance_number", 1},
                                               {"state", "exploded"}}}),
                      Json::array({engine_id, {{"service_id", std::to_string(svc.id)}, {"instance_number", "1"},
                                               {"state", "running"}}}),
                      Json::object()}) {
    r = request("/node_service_pods/set_state", params);
    ASSERT_TRUE(r[2].is_object()) << params.dump() << " -> " << r.dump();
    EXPECT_EQ(r[2]["code"], 400) << params.dump();
  }
  EXPECT_EQ(snapshot(svc.id), before);
}

TEST_F(AgentRpcTest, HealthResultsUpdateTheInstance) {
  auto svc = add_service("web", spec(1));
  place(svc, 1, node_.id);
  notify("/containers/health", Json::array({engine_id, {{"service_id", std::to_string(svc.id)},
                                                        {"instance_number", 1},
                                                        {"status", "unhealthy"},
                                                        {"error", "GET / answered 500"}}}));
  EXPECT_EQ(store_->instance(svc.id, 1)->health, "unhealthy");
  EXPECT_TRUE(has_event("service:health_check", "instance 1 is unhealthy: GET / answered 500"));
  auto r = request("/containers/health", Json::array({engine_id, {{"service_id", std::to_string(svc.id)},
                                                                  {"instance_number", 1},
                                                                  {"status", "healthy"}}}));
  EXPECT_EQ(r[3], Json::object());
  EXPECT_EQ(store_->instance(svc.id, 1)->health, "healthy");

  auto before = snapshot(svc.id);
  for (Json params : {Json::array({engine_id, {{"service_id", std::to_string(svc.id)}, {"instance_number", 1},
                                               {"status", "sick"}}}),
                      Json::array({engine_id, {{"instance_number", 1}, {"status", "unhealthy"}}}),
                      Json::array({engine_id, {{"service_id", std::to_string(svc.id)}, {"status", "unhealthy"}}}),
                      Json::array({engine_id})}) {
    r = request("/containers/health", params);
    EXPECT_EQ(r[2]["code"], 400) << params.dump();
    notify("/containers/health", params);
  }
  EXPECT_EQ(snapshot(svc.id), before);
}

TEST_F(AgentRpcTest, LogBatchesAreStoredWithNamesAndMalformedBatchesAreRejectedWhole) {
  Stack st;
  st.grid_id = grid_.id;
  st.name = "shop";
  st.created_at = st.updated_at = clock_.now_unix_ms();
  st = store_->insert_stack(st, {{"name", "shop"}, {"services", Json::array()}});
  auto svc = add_service("web", spec(1), st.id);
  place(svc, 1, node_.id);
  Json line = {{"service_id", std::to_string(svc.id)},
               {"instance_number", 1},
               {"container", "shop.web-1"},
               {"stream", "stdout"},
               {"data", "hello"},
               {"time", "2026-11-26T10:00:01.250Z"}};
  Json unknown = line;
  unknown["service_id"] = "12345";
  notify("/containers/log_batch", Json::array({engine_id, {line, unknown}}));
  Store::LogFilter f;
  f.grid_id = grid_.id;
  auto logs = store_->container_logs(f);
  ASSERT_EQ(logs.size(), 1u) << "a line of an unknown service is dropped";
  EXPECT_EQ(logs[0].node, "node-1");
  EXPECT_EQ(logs[0].stack, "shop");
  EXPECT_EQ(logs[0].service, "web");
  EXPECT_EQ(logs[0].instance_number, 1);
  EXPECT_EQ(logs[0].container, "shop.web-1");
  EXPECT_EQ(logs[0].stream, "stdout");
  EXPECT_EQ(logs[0].data, "hello");
  EXPECT_EQ(format_time_ms(logs[0].created_at), "2026-11-26T10:00:01.250Z");

  auto before = snapshot(svc.id);
  Json bad_stream = line, bad_time = line, no_data = line;
  bad_stream["stream"] = "stdin";
  bad_time["time"] = "yesterday";
  no_data.erase("data");
  for (Json batch : {Json::array({line, bad_stream}), Json::array({bad_time, line}), Json::array({no_data}),
                     Json::array({"text"})}) {
    notify("/containers/log_batch", Json::array({engine_id, batch}));
  }
  notify("/containers/log_batch", Json::array({engine_id}));
  notify("/containers/log_batch", Json::object());
  EXPECT_EQ(snapshot(svc.id), before) << "a malformed batch stores none of its lines";
}

TEST_F(AgentRpcTest, PodEventsGoToTheEventLog) {
  auto svc = add_service("web", spec(1));
  place(svc, 1, node_.id);
  notify("/node_service_pods/event", Json::array({engine_id, {{"service_id", std::to_string(svc.id)},
                                                              {"instance_number", 1},
                                                              {"type", "service:instance_crash"},
                                                              {"severity", 2},
                                                              {"message", "exited with 137"}}}));
  auto evs = events("web");
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back().type, "service:instance_crash");
  EXPECT_EQ(evs.back().severity, 2);
  EXPECT_EQ(evs.back().stack, "null");
  EXPECT_EQ(evs.back().node, "node-1");
  auto before = snapshot(svc.id);
  notify("/node_service_pods/event", Json::array({engine_id, {{"service_id", std::to_string(svc.id)},
                                                              {"instance_number", 1},
                                                              {"type", "x"},
                                                              {"severity", 9},
                                                              {"message", "m"}}}));
  EXPECT_EQ(snapshot(svc.id), before);
}

TEST_F(AgentRpcTest, HubAgentLinkNotifiesTheConnectedAgent) {
  EXPECT_TRUE(link_hub_->connected(node_.id));
  EXPECT_FALSE(link_hub_->connected(other_.id));
  EXPECT_TRUE(link_hub_->notify(node_.id, "/service_pods/notify_update", Json::array({"deploy"})));
  EXPECT_FALSE(link_hub_->notify(other_.id, "/service_pods/notify_update", Json::array({"deploy"})));
  bool found = false;
  for (auto& t : channel_->texts)
    if (Json::parse(t) == Json::array({2, "/service_pods/notify_update", {"deploy"}})) found = true;
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace kontena::master::testing
