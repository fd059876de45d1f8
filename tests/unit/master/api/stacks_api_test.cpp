// Stack routes through MasterApi::handle with a fake deployer: install, show, list, upgrade (dry
// run, no-change, revisions), labels, deploy and derived state, stop/restart, remove (409 when
// linked), bad definitions that store nothing, 404/403, audit entries.
#include "api/stack_fixture.h"

using namespace kontena::master;
using namespace kontena::master::testing;
using nlohmann::json;

namespace {
class StacksApi : public StackApiFixture {};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_F(StacksApi, InstallCreatesTheStackAndItsServicesNotDeployed) {
  auto r = install(shop());
  ASSERT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body["id"], "demo/shop");
  EXPECT_EQ(r.body["name"], "shop");
  EXPECT_EQ(r.body["stack"], "user/shop");
  EXPECT_EQ(r.body["version"], "1.0.0");
  EXPECT_EQ(r.body["revision"], 1);
  EXPECT_EQ(r.body["deployed_revision"], 0);
  EXPECT_EQ(r.body["state"], "initialized");
  EXPECT_EQ(r.body["expose"], "web");
  EXPECT_EQ(r.body["labels"], json({"team=web"}));
  EXPECT_TRUE(r.body["parent"].is_null());
  EXPECT_EQ(r.body["variables"]["tag"], "1");
  ASSERT_EQ(r.body["services"].size(), 2u);
  EXPECT_EQ(r.body["services"][1]["name"], "web");
  EXPECT_EQ(r.body["services"][1]["image"], "nginx:latest");
  EXPECT_EQ(r.body["services"][1]["instances"], 2);
  EXPECT_EQ(r.body["services"][1]["state"], "initialized");
  EXPECT_EQ(r.body["services"][1]["running"], 0);
  EXPECT_TRUE(fake_.calls.empty());  // install does not deploy

  auto rows = services(stack_id("shop"));
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& s : rows) {
    EXPECT_EQ(s.state, "initialized");
    EXPECT_EQ(s.revision, 1);
    EXPECT_EQ(s.stack_revision, 1);
  }
  // Specs are stored normalised: every key, defaults filled.
  auto web = service("shop", "web");
  EXPECT_EQ(web.spec["deploy"]["strategy"], "ha");
  EXPECT_EQ(web.spec["deploy"]["min_health"], 0.8);
  EXPECT_EQ(web.spec["stop_grace_period"], 10);
  EXPECT_EQ(web.spec["ports"][0]["protocol"], "tcp");
  EXPECT_EQ(web.spec["ports"][0]["ip"], "0.0.0.0");
  EXPECT_TRUE(web.spec["hooks"]["pre_start"].is_array());

  auto shown = call("GET", "/v1/stacks/demo/shop", admin_token_);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body, r.body);
  auto list = call("GET", "/v1/grids/demo/stacks", admin_token_);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["stacks"].size(), 1u);
  EXPECT_EQ(list.body["stacks"][0]["name"], "shop");
  auto rev = call("GET", "/v1/stacks/demo/shop/revisions/1", admin_token_);
  ASSERT_EQ(rev.status, 200);
  EXPECT_EQ(rev.body["revision"], 1);
  EXPECT_EQ(rev.body["definition"]["services"][1]["image"], "nginx:latest");
  EXPECT_TRUE(audited("stack", "create", 201));
  // The audit entry names the stack and leaves out the variables (they may come from the vault).
  auto entries = store_->audit_entries("demo", 10);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.front().resource_id, "demo/shop");
  EXPECT_EQ(entries.front().resource_name, "shop");
  EXPECT_EQ(entries.front().request_body["variables"], "[redacted]");
  EXPECT_EQ(entries.front().request_body["services"].size(), 2u);

  // The same name again: 409, the first one unchanged.
  auto again = shop();
  again["services"][0]["image"] = "postgres:16";
  auto dup = install(again);
  EXPECT_EQ(dup.status, 409);
  EXPECT_TRUE(contains(dup.body["error"], "already exists")) << dup.body.dump();
  EXPECT_EQ(service("shop", "db").spec["image"], "postgres:15");
}

TEST_F(StacksApi, BadDefinitionsAre422NamingTheFieldAndStoreNothing) {
  struct Case {
    std::function<void(json&)> change;
    std::string field;
    std::string message;
  };
  std::string long_value(70 * 1024, 'x');
  std::vector<Case> cases = {
      {[](json& d) { d.erase("name"); }, "name", "required"},
      {[](json& d) { d["name"] = "Shop"; }, "name", "lowercase"},
      {[](json& d) { d["name"] = "-shop"; }, "name", "not starting with '-'"},
      {[](json& d) { d["name"] = "null"; }, "name", "\"null\" is not a stack name"},
      {[](json& d) { d["name"] = std::string(64, 'a'); }, "name", "longer than 63"},
      {[](json& d) { d["colour"] = "blue"; }, "colour", "unknown key \"colour\""},
      {[](json& d) { d.erase("services"); }, "services", "required"},
      {[](json& d) { d["services"] = json::object(); }, "services", "must be a list"},
      {[](json& d) { d["services"] = json::array(); }, "services", "services or volumes"},
      {[](json& d) { d["services"][0]["networks"] = json::array(); }, "services[0].networks", "unknown key \"networks\""},
      {[](json& d) { d["services"][0].erase("image"); }, "services[0].image", "required"},
      {[](json& d) { d["services"][0]["image"] = ""; }, "services[0].image", "must not be empty"},
      {[](json& d) { d["services"][0]["image"] = "my image"; }, "services[0].image", "no spaces"},
      {[](json& d) { d["services"][0]["name"] = "Db"; }, "services[0].name", "lowercase"},
      {[](json& d) { d["services"][1]["instances"] = -1; }, "services[1].instances", "between 0 and 100000"},
      {[](json& d) { d["services"][1]["instances"] = 100001; }, "services[1].instances", "between 0 and 100000"},
      {[](json& d) { d["services"][1]["instances"] = "2"; }, "services[1].instances", "must be an integer"},
      {[](json& d) { d["services"][1]["ports"][0]["node_port"] = 70000; }, "services[1].ports[0].node_port", "between 1 and 65535"},
      {[](json& d) { d["services"][1]["ports"][0]["container_port"] = 0; }, "services[1].ports[0].container_port", "between 1 and 65535"},
      {[](json& d) { d["services"][1]["ports"][0]["protocol"] = "sctp"; }, "services[1].ports[0].protocol", "tcp or udp"},
      {[](json& d) { d["services"][1]["ports"][0]["ip"] = "1.2.3"; }, "services[1].ports[0].ip", "IPv4"},
      {[](json& d) { d["services"][1]["ports"] = json{"80:80"}; }, "services[1].ports[0]", "must be an object"},
      {[](json& d) { d["services"][1]["ports"].push_back(json{{"node_port", 80}, {"container_port", 81}}); },
       "services[1].ports[1].node_port", "published twice"},
      {[](json& d) { d["services"][0]["deploy"] = {{"strategy", "spread"}}; }, "services[0].deploy.strategy", "ha, daemon or random"},
      {[](json& d) { d["services"][0]["deploy"] = {{"min_health", 1.5}}; }, "services[0].deploy.min_health", "between 0.0 and 1.0"},
      {[](json& d) { d["services"][0]["deploy"] = {{"speed", 1}}; }, "services[0].deploy.speed", "unknown key"},
      {[](json& d) { d["services"][0]["health_check"] = {{"protocol", "udp"}, {"port", 80}}; },
       "services[0].health_check.protocol", "http or tcp"},
      {[](json& d) { d["services"][0]["health_check"] = {{"protocol", "http"}}; }, "services[0].health_check.port", "required"},
      {[](json& d) { d["services"][0]["health_check"] = {{"protocol", "tcp"}, {"port", 5432}, {"timeout", 30}, {"interval", 10}}; },
       "services[0].health_check.interval", "not be shorter than timeout"},
      {[](json& d) { d["services"][0]["affinity"] = {"node=node-1"}; }, "services[0].affinity[0]", "invalid affinity"},
      {[](json& d) { d["services"][0]["affinity"] = {"colour==blue"}; }, "services[0].affinity[0]", "unknown key"},
      {[](json& d) { d["services"][0]["environment"] = "A=1"; }, "services[0].environment", "list"},
      {[](json& d) { d["services"][0]["environment"] = {"NOVALUE"}; }, "services[0].environment[0]", "NAME=VALUE"},
      {[](json& d) { d["services"][0]["cpu_shares"] = 2048; }, "services[0].cpu_shares", "between 0 and 1024"},
      {[](json& d) { d["services"][0]["cpus"] = 0; }, "services[0].cpus", "more than 0"},
      {[](json& d) { d["services"][0]["network_mode"] = "overlay"; }, "services[0].network_mode", "host, bridge"},
      {[](json& d) { d["services"][0]["volumes"] = json::array({json{{"target", "data"}}}); }, "services[0].volumes[0].target", "absolute"},
      {[](json& d) { d["services"][0]["volumes"] = json::array({json{{"source", "data"}, {"target", "/data"}}}); },
       "services[0].volumes[0].source", "not declared"},
      {[](json& d) { d["services"][0]["hooks"] = {{"pre_start", json::array({json{{"name", "x"}}})}}; },
       "services[0].hooks.pre_start[0].cmd", "required"},
      {[](json& d) { d["services"][0]["stop_grace_period"] = "10s"; }, "services[0].stop_grace_period", "integer"},
      {[](json& d) { d["services"][1]["name"] = "db"; }, "services[1].name", "defined twice"},
      {[](json& d) { d["services"][1]["links"][0]["name"] = "cache"; }, "services[1].links[0]", "not a service of stack shop"},
      {[](json& d) { d["services"][1]["links"][0]["name"] = "other/db"; }, "services[1].links[0]", "does not exist"},
      {[](json& d) { d["services"][0]["links"] = json::array({json{{"name", "web"}}}); }, "links", "cycle"},
      {[](json& d) { d["services"][0]["depends_on"] = {"db"}; }, "services[0].depends_on[0]", "itself"},
      {[](json& d) { d["expose"] = "api"; }, "expose", "not a service"},
      {[](json& d) { d["services"][0]["name"] = std::string(50, 'd'); d["services"][1]["links"][0]["name"] = std::string(50, 'd'); },
       "services[0].name", "at most 64"},
      {[&](json& d) { d["services"][0]["environment"] = {"A=" + long_value, "B=" + long_value}; }, "services[0].environment", "128 KiB"},
      {[](json& d) { d["labels"] = {"no-equals"}; }, "labels[0]", "key=value"},
      {[](json& d) { d["parent"] = "x"; }, "parent", "must be an object"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto def = shop();
    cases[i].change(def);
    auto r = install(def);
    EXPECT_EQ(r.status, 422) << "case " << i << ": " << r.body.dump();
    EXPECT_TRUE(contains(r.body.value("field", ""), cases[i].field)) << "case " << i << ": " << r.body.dump();
    EXPECT_TRUE(contains(r.body.value("error", ""), cases[i].message)) << "case " << i << ": " << r.body.dump();
  }
  EXPECT_TRUE(store_->stacks_of_grid(grid_id_).empty());
  EXPECT_TRUE(services().empty());
  EXPECT_TRUE(audited("stack", "create", 422));
  // A body that is not JSON: 400.
  EXPECT_EQ(call("POST", "/v1/grids/demo/stacks", admin_token_, std::string("{\"name\":")).status, 400);
}

TEST_F(StacksApi, UpgradeDryRunChangesRevisions) {
  ASSERT_EQ(install(shop()).status, 201);
  auto next = shop();
  next["services"][1]["image"] = "nginx:1.25";                                   // web changed
  next["services"][0] = json{{"name", "cache"}, {"image", "redis"}};              // db dropped, cache added
  next["services"][1]["links"] = json::array({json{{"name", "cache"}}});

  // dry_run: the changes, nothing stored.
  auto dry = call("PUT", "/v1/stacks/demo/shop?dry_run=true", admin_token_, next);
  ASSERT_EQ(dry.status, 200) << dry.body.dump();
  EXPECT_EQ(dry.body["changes"]["added"], json({"cache"}));
  EXPECT_EQ(dry.body["changes"]["removed"], json({"db"}));
  ASSERT_EQ(dry.body["changes"]["changed"].size(), 1u);
  EXPECT_EQ(dry.body["changes"]["changed"][0]["name"], "web");
  EXPECT_EQ(dry.body["changes"]["changed"][0]["fields"], json({"image", "links"}));
  EXPECT_EQ(dry.body["changes"]["new_revision"], true);
  EXPECT_EQ(dry.body["revision"], 1);
  EXPECT_EQ(store_->stack_by_name(grid_id_, "shop")->revision, 1);
  EXPECT_EQ(store_->stack_revisions(stack_id("shop")).size(), 1u);
  EXPECT_EQ(service("shop", "web").spec["image"], "nginx:latest");
  EXPECT_EQ(services(stack_id("shop")).size(), 2u);
  EXPECT_EQ(call("PUT", "/v1/stacks/demo/shop?dry_run=maybe", admin_token_, next).status, 422);

  // The upgrade: revision 2; web revision 2 at stack revision 2; cache added; db kept until deploy.
  auto up = call("PUT", "/v1/stacks/demo/shop", admin_token_, next);
  ASSERT_EQ(up.status, 200) << up.body.dump();
  EXPECT_EQ(up.body["revision"], 2);
  EXPECT_EQ(up.body["changes"]["new_revision"], true);
  auto web = service("shop", "web");
  EXPECT_EQ(web.spec["image"], "nginx:1.25");
  EXPECT_EQ(web.revision, 2);
  EXPECT_EQ(web.stack_revision, 2);
  EXPECT_EQ(service("shop", "cache").stack_revision, 2);
  EXPECT_EQ(service("shop", "db").stack_revision, 1);  // removed on deploy, not here
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop/revisions/2", admin_token_).body["definition"]["services"][0]["name"], "cache");
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop/revisions/1", admin_token_).body["definition"]["services"][0]["name"], "db");
  EXPECT_TRUE(audited("stack", "upgrade", 200));
  EXPECT_TRUE(audited("stack", "upgrade (dry run)", 200));

  // The same definition again: no new revision, nothing changes.
  auto same = call("PUT", "/v1/stacks/demo/shop", admin_token_, next);
  ASSERT_EQ(same.status, 200);
  EXPECT_EQ(same.body["changes"]["new_revision"], false);
  EXPECT_EQ(same.body["changes"]["unchanged"], json({"cache", "web"}));
  EXPECT_EQ(same.body["revision"], 2);
  EXPECT_EQ(store_->stack_revisions(stack_id("shop")).size(), 2u);
  EXPECT_EQ(service("shop", "web").revision, 2);

  // Only instances: a new stack revision, but the service revision stays (no recreation).
  next["services"][1]["instances"] = 5;
  auto scaled = call("PUT", "/v1/stacks/demo/shop", admin_token_, next);
  ASSERT_EQ(scaled.status, 200);
  EXPECT_EQ(scaled.body["revision"], 3);
  web = service("shop", "web");
  EXPECT_EQ(web.revision, 2);
  EXPECT_EQ(web.stack_revision, 3);
  EXPECT_EQ(web.spec["instances"], 5);

  // Name in the body must be the stack's; bad definitions change nothing.
  next["name"] = "other";
  auto wrong = call("PUT", "/v1/stacks/demo/shop", admin_token_, next);
  EXPECT_EQ(wrong.status, 422);
  EXPECT_EQ(wrong.body["field"], "name");
  next.erase("name");
  next["services"][1]["image"] = "nginx:9";
  next["services"][1]["instances"] = -5;
  auto bad = call("PUT", "/v1/stacks/demo/shop", admin_token_, next);
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(bad.body["field"], "services[1].instances");
  EXPECT_EQ(store_->stack_by_name(grid_id_, "shop")->revision, 3);
  EXPECT_EQ(service("shop", "web").spec["image"], "nginx:1.25");
  EXPECT_EQ(call("PUT", "/v1/stacks/demo/nope", admin_token_, shop()).status, 404);

  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop/revisions/4", admin_token_).status, 404);
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop/revisions/0", admin_token_).status, 404);
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop/revisions/x", admin_token_).status, 404);
}

TEST_F(StacksApi, PatchLabels) {
  ASSERT_EQ(install(shop()).status, 201);
  auto r = call("PATCH", "/v1/stacks/demo/shop", admin_token_, json{{"labels", {"a=1", "b=2", "a=1"}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["labels"], json({"a=1", "b=2"}));
  EXPECT_EQ(store_->stack_by_name(grid_id_, "shop")->labels, (std::vector<std::string>{"a=1", "b=2"}));
  for (const auto& body : {json{{"labels", {"bad label"}}}, json{{"labels", "a=1"}}, json{{"labels", {"a=1"}}, {"x", 1}},
                           json::object()})
    EXPECT_EQ(call("PATCH", "/v1/stacks/demo/shop", admin_token_, body).status, 422) << body.dump();
  EXPECT_EQ(store_->stack_by_name(grid_id_, "shop")->labels.size(), 2u);
  EXPECT_EQ(call("PATCH", "/v1/stacks/demo/nope", admin_token_, json{{"labels", json::array()}}).status, 404);
  EXPECT_TRUE(audited("stack", "update", 200));
}

TEST_F(StacksApi, DeployAndDerivedState) {
  ASSERT_EQ(install(shop()).status, 201);
  auto d = call("POST", "/v1/stacks/demo/shop/deploy", admin_token_);
  ASSERT_EQ(d.status, 201) << d.body.dump();
  EXPECT_EQ(d.body["stack"], "shop");
  EXPECT_EQ(d.body["revision"], 1);
  EXPECT_EQ(d.body["state"], "created");
  EXPECT_TRUE(d.body["error"].is_null());
  ASSERT_EQ(d.body["service_deploys"].size(), 2u);
  EXPECT_EQ(d.body["service_deploys"][0]["service"], "shop/db");
  EXPECT_EQ(fake_.calls, std::vector<std::string>{"deploy_stack shop revision=1"});
  auto id = std::to_string(d.body["id"].get<std::int64_t>());
  auto got = call("GET", "/v1/stacks/demo/shop/deploys/" + id, admin_token_);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, d.body);
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop/deploys/999", admin_token_).status, 404);
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop", admin_token_).body["state"], "deploying");
  EXPECT_TRUE(audited("stack", "deploy", 201));

  finish_deploys();
  auto stack = *store_->stack_by_name(grid_id_, "shop");
  stack.deployed_revision = 1;
  store_->update_stack(stack);
  report(service("shop", "db"), 1, "running");
  report(service("shop", "web"), 1, "running");  // 1 of 2
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop", admin_token_).body["state"], "partially_running");
  report(service("shop", "web"), 2, "running");
  auto running = call("GET", "/v1/stacks/demo/shop", admin_token_);
  EXPECT_EQ(running.body["state"], "running");
  EXPECT_EQ(running.body["services"][1]["running"], 2);
  report(service("shop", "web"), 2, "restarting");
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop", admin_token_).body["state"], "partially_running");

  auto stopped = call("POST", "/v1/stacks/demo/shop/stop", admin_token_);
  ASSERT_EQ(stopped.status, 200) << stopped.body.dump();
  EXPECT_EQ(stopped.body["state"], "stopped");
  auto restarted = call("POST", "/v1/stacks/demo/shop/restart", admin_token_);
  ASSERT_EQ(restarted.status, 200);
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"deploy_stack shop revision=1", "stop_service shop/db", "stop_service shop/web",
                                                   "restart_service shop/db", "restart_service shop/web"}));
  EXPECT_EQ(call("POST", "/v1/stacks/demo/shop/stop", admin_token_, json{{"now", true}}).status, 422);
  EXPECT_EQ(call("POST", "/v1/stacks/demo/nope/deploy", admin_token_).status, 404);
}

TEST_F(StacksApi, RemoveRefusedWhileLinkedFromAnotherStack) {
  json db{{"name", "db"}, {"services", json::array({json{{"name", "pg"}, {"image", "postgres"}}})}};
  json app{{"name", "app"},
           {"services", json::array({json{{"name", "api"}, {"image", "api"}, {"links", json::array({json{{"name", "db/pg"}}})}}})}};
  ASSERT_EQ(install(db).status, 201);
  ASSERT_EQ(install(app).status, 201) << "a link to an existing stack's service is fine";
  auto refused = call("DELETE", "/v1/stacks/demo/db", admin_token_);
  EXPECT_EQ(refused.status, 409);
  EXPECT_TRUE(contains(refused.body["error"], "app/api")) << refused.body.dump();
  EXPECT_TRUE(fake_.calls.empty());
  EXPECT_TRUE(store_->stack_by_name(grid_id_, "db").has_value());
  EXPECT_TRUE(audited("stack", "delete", 409));

  ASSERT_EQ(call("DELETE", "/v1/stacks/demo/app", admin_token_).status, 200);
  ASSERT_EQ(call("DELETE", "/v1/stacks/demo/db", admin_token_).status, 200);
  EXPECT_EQ(fake_.calls, (std::vector<std::string>{"remove_stack app", "remove_stack db"}));
  EXPECT_TRUE(store_->stacks_of_grid(grid_id_).empty());
  EXPECT_EQ(call("DELETE", "/v1/stacks/demo/db", admin_token_).status, 404);
}

TEST_F(StacksApi, NotFoundAndForbidden) {
  ASSERT_EQ(install(shop()).status, 201);
  for (const auto& path : {"/v1/grids/nope/stacks", "/v1/stacks/nope/shop", "/v1/stacks/demo/nope",
                           "/v1/stacks/demo/null", "/v1/stacks/demo/nope/revisions/1", "/v1/stacks/demo/nope/container_logs"})
    EXPECT_EQ(call("GET", path, admin_token_).status, 404) << path;
  EXPECT_EQ(install(shop()).status, 409);
  EXPECT_EQ(call("POST", "/v1/grids/nope/stacks", admin_token_, shop()).status, 404);

  auto alice = user_token("alice@example.com");
  EXPECT_EQ(call("GET", "/v1/grids/demo/stacks", alice).status, 403);
  EXPECT_EQ(call("GET", "/v1/stacks/demo/shop", alice).status, 403);
  auto other = shop();
  other["name"] = "other";
  EXPECT_EQ(call("POST", "/v1/grids/demo/stacks", alice, other).status, 403);
  EXPECT_EQ(call("DELETE", "/v1/stacks/demo/shop", alice).status, 403);
  EXPECT_EQ(call("POST", "/v1/stacks/demo/shop/deploy", alice).status, 403);
  EXPECT_FALSE(store_->stack_by_name(grid_id_, "other").has_value());
  EXPECT_TRUE(fake_.calls.empty());
  // A member may.
  ASSERT_EQ(call("POST", "/v1/grids/demo/users", admin_token_, json{{"email", "alice@example.com"}}).status, 200);
  EXPECT_EQ(call("POST", "/v1/grids/demo/stacks", alice, other).status, 201);
  EXPECT_EQ(call("GET", "/v1/grids/demo/stacks", alice).body["stacks"].size(), 2u);
}

// Without a deployer, deploys and removals are 503 and change nothing.
class StacksApiWithoutDeployer : public ApiFixture {};

TEST_F(StacksApiWithoutDeployer, DeployAndRemoveAre503) {
  ASSERT_EQ(call("POST", "/v1/grids", admin_token_, json{{"name", "demo"}}).status, 201);
  ASSERT_EQ(call("POST", "/v1/grids/demo/stacks", admin_token_,
                 json{{"name", "shop"}, {"services", json::array({json{{"name", "web"}, {"image", "nginx"}}})}})
                .status,
            201);
  auto d = call("POST", "/v1/stacks/demo/shop/deploy", admin_token_);
  EXPECT_EQ(d.status, 503);
  EXPECT_TRUE(d.body["error"].get<std::string>().find("deployer") != std::string::npos);
  EXPECT_EQ(call("DELETE", "/v1/stacks/demo/shop", admin_token_).status, 503);
  EXPECT_EQ(call("POST", "/v1/services/demo/shop/web/scale", admin_token_, json{{"instances", 3}}).status, 503);
  auto grid = store_->grid_by_name("demo");
  auto stack = store_->stack_by_name(grid->id, "shop");
  ASSERT_TRUE(stack.has_value());
  EXPECT_TRUE(store_->pending_stack_deploys().empty());
  EXPECT_EQ(store_->service_by_name(grid->id, stack->id, "web")->spec["instances"], 1);
}

TEST_F(StacksApi, ChildStacksAndVolumeOnlyStacks) {
  // The CLI installs a dependency before its parent: the parent need not exist yet.
  json child{{"name", "shop-db"},
             {"parent", {{"name", "shop"}}},
             {"services", json::array({json{{"name", "pg"}, {"image", "postgres"}}})}};
  auto c = install(child);
  ASSERT_EQ(c.status, 201) << c.body.dump();
  EXPECT_EQ(c.body["parent"], json({{"name", "shop"}}));
  EXPECT_EQ(store_->stack_by_name(grid_id_, "shop-db")->parent_name, "shop");
  auto parent = shop();
  parent["dependencies"] = json::array({json{{"name", "db"}, {"stack", "db.yml"}, {"variables", {{"size", 1}}}}});
  parent["services"][1]["links"].push_back(json{{"name", "shop-db/pg"}, {"alias", "pg"}});
  auto p = install(parent);
  ASSERT_EQ(p.status, 201) << p.body.dump();
  EXPECT_EQ(p.body["dependencies"][0]["name"], "db");
  EXPECT_EQ(p.body["dependencies"][0]["variables"]["size"], 1);
  // The child cannot go while the parent links to it; after the parent it can.
  EXPECT_EQ(call("DELETE", "/v1/stacks/demo/shop-db", admin_token_).status, 409);
  EXPECT_EQ(call("DELETE", "/v1/stacks/demo/shop", admin_token_).status, 200);
  EXPECT_EQ(call("DELETE", "/v1/stacks/demo/shop-db", admin_token_).status, 200);

  auto vols = install(json{{"name", "data"}, {"services", json::array()},
                           {"volumes", json::array({json{{"name", "pgdata"}, {"external", "shared-pgdata"}}})}});
  ASSERT_EQ(vols.status, 201) << vols.body.dump();
  EXPECT_EQ(vols.body["services"], json::array());
  EXPECT_EQ(vols.body["state"], "initialized");
  auto def = call("GET", "/v1/stacks/demo/data/revisions/1", admin_token_);
  EXPECT_EQ(def.body["definition"]["volumes"][0], json({{"name", "pgdata"}, {"external", "shared-pgdata"}}));
}
