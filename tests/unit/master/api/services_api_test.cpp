// Service, container and log routes through MasterApi::handle with a fake deployer: stack-less
// create with defaults, update (revision rules), scale, deploy, start/stop/restart, envs,
// instances/containers/deploys views, remove (409 when linked), exec, logs queries, drain.
#include "api/stack_fixture.h"

using namespace kontena::master;
using namespace kontena::master::testing;
using nlohmann::json;

namespace {
class ServicesApi : public StackApiFixture {
 protected:
  Reply create(const json& body) { return call("POST", "/v1/grids/demo/services", admin_token_, body); }
  std::string svc(const std::string& rest = "") { return "/v1/services/demo/null/web" + rest; }
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_F(ServicesApi, CreateStacklessWithStackFileDefaults) {
  auto r = create(json{{"name", "web"}, {"image", "nginx"}});
  ASSERT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body["id"], "demo/null/web");
  EXPECT_EQ(r.body["stack"], "null");
  EXPECT_EQ(r.body["grid"], "demo");
  EXPECT_EQ(r.body["state"], "initialized");
  EXPECT_EQ(r.body["revision"], 1);
  EXPECT_EQ(r.body["stack_revision"], 0);
  EXPECT_EQ(r.body["instances"], 1);
  EXPECT_EQ(r.body["strategy"], "ha");
  EXPECT_EQ(r.body["image"], "nginx:latest");
  EXPECT_EQ(r.body["dns"], "web.demo.kontena.local");
  EXPECT_TRUE(r.body["deployed_at"].is_null());
  EXPECT_TRUE(r.body["health_status"].is_null());
  EXPECT_EQ(r.body["instance_counts"], json({{"total", 0}, {"running", 0}}));
  const auto& spec = r.body["spec"];
  EXPECT_EQ(spec["deploy"], json({{"strategy", "ha"}, {"min_health", 0.8}, {"wait_for_port", nullptr}, {"interval", nullptr}}));
  EXPECT_EQ(spec["stop_grace_period"], 10);
  for (const char* list : {"environment", "secrets", "certificates", "links", "depends_on", "external_links", "ports", "volumes",
                           "volumes_from", "affinity", "cap_add", "cap_drop", "devices"})
    EXPECT_EQ(spec[list], json::array()) << list;
  for (const char* none : {"build", "command", "entrypoint", "cpus", "cpu_shares", "mem_limit", "memswap_limit", "shm_size",
                           "network_mode", "pid", "user", "logging", "health_check", "stop_signal"})
    EXPECT_TRUE(spec[none].is_null()) << none;
  EXPECT_EQ(spec["hooks"]["post_start"], json::array());
  EXPECT_EQ(spec["privileged"], false);
  EXPECT_EQ(spec.size(), 36u);  // every key of the normalised form
  EXPECT_EQ(service("null", "web").stack_id, 0);
  EXPECT_TRUE(audited("service", "create", 201));

  EXPECT_EQ(call("GET", svc(), admin_token_).body, r.body);
  EXPECT_EQ(create(json{{"name", "web"}, {"image", "nginx"}}).status, 409);
  // A stack-less service may link to another stack-less service, or to a stack's one.
  ASSERT_EQ(install(shop()).status, 201);
  auto api = create(json{{"name", "api"}, {"image", "api:1"}, {"links", {"web", "shop/db:database"}},
                         {"health_check", {{"protocol", "http"}, {"port", 8080}}}});
  ASSERT_EQ(api.status, 201) << api.body.dump();
  EXPECT_EQ(api.body["spec"]["links"][1], json({{"name", "shop/db"}, {"alias", "database"}}));
  EXPECT_EQ(api.body["spec"]["health_check"]["uri"], "/");
  EXPECT_EQ(api.body["health_status"], json({{"healthy", 0}, {"total", 0}}));

  auto all = call("GET", "/v1/grids/demo/services", admin_token_);
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.body["services"].size(), 4u);
  EXPECT_EQ(call("GET", "/v1/grids/demo/services?stack=null", admin_token_).body["services"].size(), 2u);
  auto of_shop = call("GET", "/v1/grids/demo/services?stack=shop", admin_token_);
  ASSERT_EQ(of_shop.body["services"].size(), 2u);
  EXPECT_EQ(of_shop.body["services"][1]["dns"], "web.shop.demo.kontena.local");
  EXPECT_EQ(call("GET", "/v1/grids/demo/services?stack=nope", admin_token_).status, 404);
}

TEST_F(ServicesApi, BadServiceSpecsAre422AndStoreNothing) {
  struct Case {
    json body;
    std::string field;
    std::string message;
  };
  std::vector<Case> cases = {
      {json{{"image", "nginx"}}, "name", "required"},
      {json{{"name", "web"}}, "image", "required"},
      {json{{"name", "web"}, {"image", nullptr}}, "image", "required"},
      {json{{"name", "web"}, {"image", 5}}, "image", "must be a string"},
      {json{{"name", "Web"}, {"image", "nginx"}}, "name", "lowercase"},
      {json{{"name", "web"}, {"image", "nginx"}, {"colour", "red"}}, "colour", "unknown key \"colour\""},
      {json{{"name", "web"}, {"image", "nginx"}, {"instances", 100001}}, "instances", "between 0 and 100000"},
      {json{{"name", "web"}, {"image", "nginx"}, {"instances", 1.5}}, "instances", "integer"},
      {json{{"name", "web"}, {"image", "nginx"}, {"privileged", "yes"}}, "privileged", "true or false"},
      {json{{"name", "web"}, {"image", "nginx"}, {"command", "sleep 1"}}, "command", "list of strings"},
      {json{{"name", "web"}, {"image", "nginx"}, {"ports", json::array({json{{"node_port", 80}}})}}, "ports[0].container_port",
       "required"},
      {json{{"name", "web"}, {"image", "nginx"}, {"ports", json::array({json{{"node_port", 0}, {"container_port", 80}}})}},
       "ports[0].node_port", "between 1 and 65535"},
      {json{{"name", "web"}, {"image", "nginx"}, {"deploy", {{"strategy", "all"}}}}, "deploy.strategy", "ha, daemon or random"},
      {json{{"name", "web"}, {"image", "nginx"}, {"deploy", {{"min_health", -0.1}}}}, "deploy.min_health", "between 0.0"},
      {json{{"name", "web"}, {"image", "nginx"}, {"deploy", {{"wait_for_port", 0}}}}, "deploy.wait_for_port", "between 1"},
      {json{{"name", "web"}, {"image", "nginx"}, {"health_check", {{"protocol", "http"}, {"port", 80}, {"uri", "health"}}}},
       "health_check.uri", "start with /"},
      {json{{"name", "web"}, {"image", "nginx"}, {"affinity", {"label=az"}}}, "affinity[0]", "invalid affinity"},
      {json{{"name", "web"}, {"image", "nginx"}, {"secrets", json::array({json{{"secret", "PW"}}})}}, "secrets[0].name", "required"},
      {json{{"name", "web"}, {"image", "nginx"}, {"secrets", json::array({json{{"secret", "PW"}, {"name", "X"}, {"type", "file"}}})}},
       "secrets[0].type", "env"},
      {json{{"name", "web"}, {"image", "nginx"}, {"links", {"nope"}}}, "links[0]", "does not exist"},
      {json{{"name", "web"}, {"image", "nginx"}, {"links", {"web"}}}, "links[0]", "itself"},
      {json{{"name", "web"}, {"image", "nginx"}, {"mem_limit", "512m"}}, "mem_limit", "integer"},
      {json{{"name", "web"}, {"image", "nginx"}, {"pid", "container"}}, "pid", "host"},
      {json{{"name", "web"}, {"image", "nginx"}, {"logging", {{"options", json::object()}}}}, "logging.driver", "required"},
      {json{{"name", "web"}, {"image", "nginx"}, {"hooks", {{"post_start", json::array({json{{"name", "a"}, {"cmd", "b"}, {"instances", "x"}}})}}}},
       "hooks.post_start[0].instances", "instance numbers"},
      {json{{"name", std::string(60, 'w')}, {"image", "nginx"}}, "name", "at most 64"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto r = create(cases[i].body);
    EXPECT_EQ(r.status, 422) << "case " << i << ": " << r.body.dump();
    EXPECT_EQ(r.body.value("field", ""), cases[i].field) << "case " << i << ": " << r.body.dump();
    EXPECT_TRUE(contains(r.body.value("error", ""), cases[i].message)) << "case " << i << ": " << r.body.dump();
  }
  EXPECT_TRUE(services().empty());
  EXPECT_TRUE(audited("service", "create", 422));
}

TEST_F(ServicesApi, UpdateMergesKeysAndBumpsTheRevisionOnlyWhenNeeded) {
  ASSERT_EQ(create(json{{"name", "web"}, {"image", "nginx"}, {"environment", {"A=1"}}}).status, 201);
  auto u = call("PUT", svc(), admin_token_, json{{"image", "nginx:1.25"}, {"cpus", 0.5}});
  ASSERT_EQ(u.status, 200) << u.body.dump();
  EXPECT_EQ(u.body["revision"], 2);
  EXPECT_EQ(u.body["spec"]["image"], "nginx:1.25");
  EXPECT_EQ(u.body["spec"]["cpus"], 0.5);
  EXPECT_EQ(u.body["spec"]["environment"], json({"A=1"}));  // untouched keys stay
  // The same values: no new revision.
  EXPECT_EQ(call("PUT", svc(), admin_token_, json{{"image", "nginx:1.25"}}).body["revision"], 2);
  // Instances only: no new revision (scaling does not recreate containers).
  auto more = call("PUT", svc(), admin_token_, json{{"instances", 3}});
  EXPECT_EQ(more.body["revision"], 2);
  EXPECT_EQ(more.body["instances"], 3);
  // Bad updates change nothing.
  for (const auto& body : {json{{"instances", -1}}, json{{"image", ""}}, json{{"name", "other"}}, json{{"size", 3}},
                           json{{"ports", json::array({json{{"node_port", 80}, {"container_port", 99999}}})}}}) {
    auto bad = call("PUT", svc(), admin_token_, body);
    EXPECT_EQ(bad.status, 422) << body.dump() << " -> " << bad.body.dump();
  }
  auto now = service("null", "web");
  EXPECT_EQ(now.revision, 2);
  EXPECT_EQ(now.spec["instances"], 3);
  EXPECT_EQ(now.spec["image"], "nginx:1.25");
  EXPECT_EQ(call("PUT", "/v1/services/demo/null/nope", admin_token_, json{{"instances", 1}}).status, 404);
  EXPECT_TRUE(audited("service", "update", 200));
  EXPECT_TRUE(audited("service", "update", 422));
}

TEST_F(ServicesApi, DeployScaleStartStopRestart) {
  ASSERT_EQ(create(json{{"name", "web"}, {"image", "nginx"}}).status, 201);
  auto d = call("POST", svc("/deploy"), admin_token_, json{{"force", true}});
  ASSERT_EQ(d.status, 201) << d.body.dump();
  EXPECT_EQ(d.body["service"], "null/web");
  EXPECT_EQ(d.body["state"], "created");
  EXPECT_EQ(d.body["force"], true);
  EXPECT_EQ(d.body["instances"], json::array());
  auto id = std::to_string(d.body["id"].get<std::int64_t>());
  auto got = call("GET", svc("/deploys/" + id), admin_token_);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, d.body);
  EXPECT_EQ(call("GET", svc("/deploys/12345"), admin_token_).status, 404);
  EXPECT_EQ(call("GET", svc(), admin_token_).body["state"], "deploying");
  finish_deploys();
  EXPECT_EQ(call("GET", svc(), admin_token_).body["state"], "running");
  EXPECT_EQ(call("POST", svc("/deploy"), admin_token_, json{{"force", "yes"}}).status, 422);

  auto scaled = call("POST", svc("/scale"), admin_token_, json{{"instances", 4}});
  ASSERT_EQ(scaled.status, 201) << scaled.body.dump();
  EXPECT_EQ(scaled.body["reason"], "scale");
  EXPECT_EQ(service("null", "web").spec["instances"], 4);
  EXPECT_EQ(service("null", "web").revision, 1);
  for (const auto& body : {json{{"instances", -1}}, json{{"instances", 100001}}, json::object(), json{{"instances", "2"}}})
    EXPECT_EQ(call("POST", svc("/scale"), admin_token_, body).status, 422) << body.dump();
  EXPECT_EQ(service("null", "web").spec["instances"], 4);
  finish_deploys();

  auto stopped = call("POST", svc("/stop"), admin_token_);
  ASSERT_EQ(stopped.status, 200);
  EXPECT_EQ(stopped.body["state"], "stopped");
  EXPECT_EQ(call("POST", svc("/start"), admin_token_).body["state"], "running");
  EXPECT_EQ(call("POST", svc("/restart"), admin_token_).status, 200);
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"deploy_service null/web force=1 reason=deploy instances=1",
                                                   "deploy_service null/web force=0 reason=scale instances=4",
                                                   "stop_service null/web", "start_service null/web",
                                                   "restart_service null/web"}));
  EXPECT_TRUE(audited("service", "scale", 201));
  EXPECT_TRUE(audited("service", "stop", 200));
  EXPECT_EQ(call("POST", "/v1/services/demo/null/nope/stop", admin_token_).status, 404);
  EXPECT_EQ(call("POST", "/v1/services/demo/nope/web/stop", admin_token_).status, 404);
}

TEST_F(ServicesApi, DeployerRefusalsPassThrough) {
  ASSERT_EQ(install(shop()).status, 201);
  fake_.conflict = "service shop/web is being removed";
  auto r = call("POST", "/v1/services/demo/shop/web/deploy", admin_token_);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body["error"], "service shop/web is being removed");
  EXPECT_TRUE(store_->pending_service_deploys().empty());
  EXPECT_TRUE(audited("service", "deploy", 409));
  // A deploy of one stack is not found under another.
  fake_.conflict.clear();
  json other{{"name", "other"}, {"services", json::array({json{{"name", "x"}, {"image", "x"}}})}};
  ASSERT_EQ(install(other).status, 201);
  auto d = call("POST", "/v1/stacks/demo/other/deploy", admin_token_);
  ASSERT_EQ(d.status, 201);
  auto id = std::to_string(d.body["id"].get<std::int64_t>());
  EXPECT_EQ(call("GET", "/v1/stacks/demo/other/deploys/" + id, admin_token_).status, 200);
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop/deploys/" + id, admin_token_).status, 404);
  auto sd = d.body["service_deploys"][0]["id"].get<std::int64_t>();
  EXPECT_EQ(call("GET", "/v1/services/demo/other/x/deploys/" + std::to_string(sd), admin_token_).status, 200);
  EXPECT_EQ(call("GET", "/v1/services/demo/shop/web/deploys/" + std::to_string(sd), admin_token_).status, 404);
}

TEST_F(ServicesApi, InstancesAndContainers) {
  ASSERT_EQ(install(shop()).status, 201);
  auto node = store_->insert_node([&] {
    Node n;
    n.grid_id = grid_id_;
    n.name = "node-1";
    return n;
  }());
  auto web = service("shop", "web");
  report(web, 1, "running", node.id);
  ServiceInstance unplaced;
  unplaced.service_id = web.id;
  unplaced.instance_number = 2;
  store_->upsert_instance(unplaced);

  auto inst = call("GET", "/v1/services/demo/shop/web/instances", admin_token_);
  ASSERT_EQ(inst.status, 200) << inst.body.dump();
  ASSERT_EQ(inst.body["instances"].size(), 2u);
  const auto& first = inst.body["instances"][0];
  EXPECT_EQ(first["instance_number"], 1);
  EXPECT_EQ(first["node"], "node-1");
  EXPECT_EQ(first["state"], "running");
  EXPECT_EQ(first["desired_state"], "running");
  EXPECT_EQ(first["container"], "shop.web-1");
  EXPECT_TRUE(first["error"].is_null());
  EXPECT_TRUE(inst.body["instances"][1]["node"].is_null());
  EXPECT_TRUE(inst.body["instances"][1]["state"].is_null());

  auto ctrs = call("GET", "/v1/services/demo/shop/web/containers", admin_token_);
  ASSERT_EQ(ctrs.status, 200);
  ASSERT_EQ(ctrs.body["containers"].size(), 1u);  // only placed instances
  EXPECT_EQ(ctrs.body["containers"][0], json({{"name", "shop.web-1"}, {"instance_number", 1}, {"node", "node-1"},
                                              {"state", "running"}, {"health", nullptr}, {"error", nullptr}}));
  auto shown = call("GET", "/v1/services/demo/shop/web", admin_token_);
  EXPECT_EQ(shown.body["instance_counts"], json({{"total", 2}, {"running", 1}}));
  EXPECT_EQ(call("GET", "/v1/services/demo/shop/nope/instances", admin_token_).status, 404);
}

TEST_F(ServicesApi, Envs) {
  ASSERT_EQ(create(json{{"name", "web"}, {"image", "nginx"}, {"environment", {"A=1", "B=2"}}}).status, 201);
  auto added = call("POST", svc("/envs"), admin_token_, json{{"env", "C=3"}});
  ASSERT_EQ(added.status, 200) << added.body.dump();
  EXPECT_EQ(added.body["spec"]["environment"], json({"A=1", "B=2", "C=3"}));
  EXPECT_EQ(added.body["revision"], 2);
  auto replaced = call("POST", svc("/envs"), admin_token_, json{{"env", "A=x=y"}});
  EXPECT_EQ(replaced.body["spec"]["environment"], json({"A=x=y", "B=2", "C=3"}));
  EXPECT_EQ(replaced.body["revision"], 3);
  auto removed = call("DELETE", svc("/envs/B"), admin_token_);
  ASSERT_EQ(removed.status, 200);
  EXPECT_EQ(removed.body["spec"]["environment"], json({"A=x=y", "C=3"}));
  EXPECT_EQ(removed.body["revision"], 4);
  EXPECT_EQ(call("DELETE", svc("/envs/B"), admin_token_).status, 404);
  for (const auto& body : {json{{"env", "NOEQUALS"}}, json{{"env", "=1"}}, json::object(), json{{"env", 5}}})
    EXPECT_EQ(call("POST", svc("/envs"), admin_token_, body).status, 422) << body.dump();
  EXPECT_EQ(service("null", "web").revision, 4);
  EXPECT_TRUE(audited("service", "add env", 200));
  EXPECT_TRUE(audited("service", "remove env", 404));
}

TEST_F(ServicesApi, RemoveRefusedWhileLinked) {
  ASSERT_EQ(create(json{{"name", "db"}, {"image", "postgres"}}).status, 201);
  ASSERT_EQ(create(json{{"name", "web"}, {"image", "nginx"}, {"links", {"db"}}}).status, 201);
  auto refused = call("DELETE", "/v1/services/demo/null/db", admin_token_);
  EXPECT_EQ(refused.status, 409);
  EXPECT_TRUE(contains(refused.body["error"], "null/web")) << refused.body.dump();
  EXPECT_EQ(services().size(), 2u);
  ASSERT_EQ(call("DELETE", svc(), admin_token_).status, 200);
  ASSERT_EQ(call("DELETE", "/v1/services/demo/null/db", admin_token_).status, 200);
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"remove_service null/web", "remove_service null/db"}));
  EXPECT_TRUE(services().empty());
  EXPECT_EQ(call("DELETE", svc(), admin_token_).status, 404);
}

TEST_F(ServicesApi, ForbiddenForNonMembers) {
  ASSERT_EQ(create(json{{"name", "web"}, {"image", "nginx"}}).status, 201);
  auto bob = user_token("bob@example.com");
  EXPECT_EQ(call("GET", "/v1/grids/demo/services", bob).status, 403);
  EXPECT_EQ(call("GET", svc(), bob).status, 403);
  EXPECT_EQ(call("POST", "/v1/grids/demo/services", bob, json{{"name", "x"}, {"image", "nginx"}}).status, 403);
  EXPECT_EQ(call("PUT", svc(), bob, json{{"image", "evil"}}).status, 403);
  EXPECT_EQ(call("POST", svc("/scale"), bob, json{{"instances", 9}}).status, 403);
  EXPECT_EQ(call("DELETE", svc(), bob).status, 403);
  EXPECT_EQ(call("GET", svc("/container_logs"), bob).status, 403);
  EXPECT_EQ(services().size(), 1u);
  EXPECT_EQ(service("null", "web").spec["image"], "nginx:latest");
  EXPECT_TRUE(fake_.calls.empty());
  EXPECT_EQ(call("GET", "/v1/services/nope/null/web", admin_token_).status, 404);
}

TEST_F(ServicesApi, ContainerExec) {
  Node n;
  n.grid_id = grid_id_;
  n.name = "node-1";
  n.node_id = "engine-1";
  n.connected = true;
  auto node = store_->insert_node(n);
  auto r = call("POST", "/v1/containers/demo/node-1/web-1/exec", admin_token_, json{{"cmd", {"sh", "-c", "echo hello"}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, fake_.exec_result);
  EXPECT_EQ(fake_.calls.back(), "exec node-1 web-1 sh -c echo hello timeout=60000");
  EXPECT_EQ(call("POST", "/v1/containers/demo/engine-1/web-1/exec", admin_token_, json{{"cmd", {"true"}}, {"timeout", 5}}).status, 200);
  EXPECT_EQ(fake_.calls.back(), "exec node-1 web-1 true timeout=5000");
  EXPECT_TRUE(audited("container", "exec", 200));

  EXPECT_EQ(call("POST", "/v1/containers/demo/node-1/missing/exec", admin_token_, json{{"cmd", {"true"}}}).status, 404);
  EXPECT_EQ(call("POST", "/v1/containers/demo/node-9/web-1/exec", admin_token_, json{{"cmd", {"true"}}}).status, 404);
  auto calls = fake_.calls.size();
  for (const auto& body : {json::object(), json{{"cmd", json::array()}}, json{{"cmd", "ls"}}, json{{"cmd", {"ls"}}, {"timeout", 0}},
                           json{{"cmd", {"ls"}}, {"tty", true}}})
    EXPECT_EQ(call("POST", "/v1/containers/demo/node-1/web-1/exec", admin_token_, body).status, 422) << body.dump();
  node.connected = false;
  store_->update_node(node);
  auto offline = call("POST", "/v1/containers/demo/node-1/web-1/exec", admin_token_, json{{"cmd", {"true"}}});
  EXPECT_EQ(offline.status, 503);
  EXPECT_TRUE(contains(offline.body["error"], "offline"));
  EXPECT_EQ(fake_.calls.size(), calls);
}

TEST_F(ServicesApi, DrainAndActivateTellTheDeployer) {
  ASSERT_EQ(call("POST", "/v1/grids/demo/nodes", admin_token_, json{{"name", "node-1"}}).status, 201);
  ASSERT_EQ(call("PUT", "/v1/nodes/demo/node-1", admin_token_, json{{"labels", {"az=a"}}}).status, 200);
  EXPECT_TRUE(fake_.calls.empty());  // no availability change
  ASSERT_EQ(call("PUT", "/v1/nodes/demo/node-1", admin_token_, json{{"availability", "drain"}}).status, 200);
  ASSERT_EQ(call("PUT", "/v1/nodes/demo/node-1", admin_token_, json{{"availability", "drain"}}).status, 200);
  ASSERT_EQ(call("PUT", "/v1/nodes/demo/node-1", admin_token_, json{{"availability", "active"}}).status, 200);
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"node_availability_changed node-1 drain",
                                                   "node_availability_changed node-1 active"}));
}

TEST_F(ServicesApi, LogsQueries) {
  ASSERT_EQ(install(shop()).status, 201);
  std::vector<ContainerLog> lines;
  for (int i = 1; i <= 6; ++i) {
    ContainerLog l;
    l.grid_id = grid_id_;
    l.node = "node-1";
    l.stack = i <= 4 ? "shop" : "null";
    l.service = i <= 2 ? "db" : "web";
    l.instance_number = i % 2 + 1;
    l.container = l.stack == "null" ? "web-1" : "shop." + l.service + "-1";
    l.stream = "stdout";
    l.data = "line " + std::to_string(i);
    l.created_at = 1'700'000'000'000 + i * 1000;
    lines.push_back(l);
  }
  store_->append_container_logs(lines);
  EventLog e;
  e.grid_id = grid_id_;
  e.stack = "shop";
  e.service = "web";
  e.type = "service:deploy";
  e.message = "deploy started";
  e.created_at = 1'700'000'000'000;
  store_->append_events({e});

  auto grid = call("GET", "/v1/grids/demo/container_logs", admin_token_);
  ASSERT_EQ(grid.status, 200) << grid.body.dump();
  ASSERT_EQ(grid.body["logs"].size(), 6u);
  EXPECT_EQ(grid.body["logs"][0]["data"], "line 1");  // oldest first
  EXPECT_EQ(grid.body["logs"][0]["created_at"], "2023-11-14T22:13:21.000Z");
  auto tail = call("GET", "/v1/grids/demo/container_logs?limit=2", admin_token_);
  ASSERT_EQ(tail.body["logs"].size(), 2u);
  EXPECT_EQ(tail.body["logs"][1]["data"], "line 6");  // the newest two
  auto from = std::to_string(grid.body["logs"][3]["id"].get<std::int64_t>());
  auto newer = call("GET", "/v1/grids/demo/container_logs?from=" + from, admin_token_);
  ASSERT_EQ(newer.body["logs"].size(), 2u);
  EXPECT_EQ(newer.body["logs"][0]["data"], "line 5");
  auto since = call("GET", "/v1/grids/demo/container_logs?since=2023-11-14T22:13:24Z", admin_token_);
  ASSERT_EQ(since.body["logs"].size(), 3u);
  EXPECT_EQ(since.body["logs"][0]["data"], "line 4");

  auto stack = call("GET", "/v1/stacks/demo/shop/container_logs", admin_token_);
  EXPECT_EQ(stack.body["logs"].size(), 4u);
  auto web = call("GET", "/v1/services/demo/shop/web/container_logs", admin_token_);
  ASSERT_EQ(web.body["logs"].size(), 2u);
  EXPECT_EQ(web.body["logs"][0]["data"], "line 3");
  auto inst = call("GET", "/v1/services/demo/shop/web/container_logs?instance=1", admin_token_);
  ASSERT_EQ(inst.body["logs"].size(), 1u);
  EXPECT_EQ(inst.body["logs"][0]["data"], "line 4");
  EXPECT_EQ(call("GET", "/v1/services/demo/null/web/container_logs", admin_token_).status, 404);

  auto events = call("GET", "/v1/stacks/demo/shop/event_logs", admin_token_);
  ASSERT_EQ(events.status, 200);
  ASSERT_EQ(events.body["events"].size(), 1u);
  EXPECT_EQ(events.body["events"][0]["type"], "service:deploy");
  EXPECT_EQ(events.body["events"][0]["message"], "deploy started");
  EXPECT_EQ(call("GET", "/v1/grids/demo/event_logs", admin_token_).body["events"].size(), 1u);
  EXPECT_EQ(call("GET", "/v1/services/demo/shop/db/event_logs", admin_token_).body["events"].size(), 0u);

  for (const auto& q : {"limit=0", "limit=10001", "limit=x", "since=yesterday", "since=2023-13-01T00:00:00Z", "from=-1", "from=a"})
    EXPECT_EQ(call("GET", std::string("/v1/grids/demo/container_logs?") + q, admin_token_).status, 422) << q;
  EXPECT_EQ(call("GET", "/v1/services/demo/shop/web/event_logs?instance=0", admin_token_).status, 422);
  EXPECT_EQ(call("GET", "/v1/grids/demo/container_logs?limit=10000", admin_token_).status, 200);
}
