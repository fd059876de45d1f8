// kontena service ...: the real command tree against the fake master (docs/api/stacks-services.md).
#include <gtest/gtest.h>

#include "cli/commands/service_spec.h"
#include "cli/commands/workload.h"
#include "fake_master.h"

using namespace kontena;
using namespace kontena::cli;
using kontena::cli::testing::CliHarness;
using kontena::cli::testing::FakeMaster;
using nlohmann::json;

namespace {

json service_json(const std::string& stack, const std::string& name, int instances = 2) {
  return {{"id", "demo/" + stack + "/" + name},
          {"name", name},
          {"stack", stack},
          {"grid", "demo"},
          {"image", "nginx:latest"},
          {"instances", instances},
          {"state", "running"},
          {"revision", 3},
          {"strategy", "ha"},
          {"deployed_at", "2026-11-26T10:00:00.000Z"},
          {"dns", name + "." + stack + ".demo.kontena.local"},
          {"instance_counts", {{"total", instances}, {"running", instances}}},
          {"health_status", nullptr},
          {"spec",
           {{"image", "nginx:latest"},
            {"instances", instances},
            {"stateful", false},
            {"ports", json::array({{{"ip", "0.0.0.0"}, {"protocol", "tcp"}, {"node_port", 80}, {"container_port", 8080}}})},
            {"environment", {"A=1", "B=2"}},
            {"deploy", {{"strategy", "ha"}, {"wait_for_port", nullptr}, {"min_health", 0.8}, {"interval", nullptr}}},
            {"health_check", nullptr}}}};
}

json deploy_json(int id, const std::string& service, const std::string& state, json instances, json error = nullptr) {
  return {{"id", id}, {"service", service}, {"state", state}, {"error", error}, {"instances", instances}};
}

json instance_json(int number, const std::string& node, const std::string& state) {
  return {{"instance_number", number}, {"node", node}, {"desired_state", "running"}, {"state", state},
          {"error", nullptr}, {"container", "shop.web-" + std::to_string(number)}, {"health", nullptr}};
}

class ServiceCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    cli.log_in("demo");
    set_poll_sleeper([this](std::chrono::milliseconds d) {
      ++sleeps;
      cli.clock.advance(d);
    });
  }
  void TearDown() override { set_poll_sleeper({}); }
  bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

  CliHarness cli;
  int sleeps = 0;
};

}  // namespace

TEST(ServiceRefs, Parse) {
  ServiceRef a = parse_service_ref("web", "demo");
  EXPECT_EQ(a.grid, "demo");
  EXPECT_EQ(a.stack, "null");
  EXPECT_EQ(a.name, "web");
  EXPECT_EQ(a.display(), "web");
  EXPECT_EQ(service_path(a), "/v1/services/demo/null/web");
  ServiceRef b = parse_service_ref("shop/web", "demo");
  EXPECT_EQ(b.stack, "shop");
  EXPECT_EQ(b.display(), "shop/web");
  ServiceRef c = parse_service_ref("prod/shop/web", "demo");
  EXPECT_EQ(c.grid, "prod");
  EXPECT_EQ(service_path(c), "/v1/services/prod/shop/web");
  for (const char* bad : {"", "/", "a/", "/a", "a/b/c/d", "Web", "web_1", "-web", "shop/We b", "a//b"})
    EXPECT_THROW(parse_service_ref(bad, "demo"), Error) << bad;
  EXPECT_THROW(parse_service_ref(std::string(64, 'a'), "demo"), Error);
  EXPECT_NO_THROW(parse_service_ref(std::string(63, 'a'), "demo"));
}

TEST_F(ServiceCommands, BadRefsAndCountsSendNothing) {
  EXPECT_EQ(cli.run({"service", "show", "a/b/c/d"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "expected SERVICE, STACK/SERVICE or GRID/STACK/SERVICE")) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "show", "Web"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "invalid service name \"Web\"")) << cli.err.str();
  for (const char* n : {"x", "-1", "1.5", "100001", "", "99999999999"}) {
    EXPECT_EQ(cli.run({"service", "scale", "web", n}), 1) << n;
  }
  EXPECT_TRUE(has(cli.err.str(), "must be a whole number 0..100000")) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "scale", "web"}), 2);
  EXPECT_EQ(cli.run({"service", "rm", "web"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "add --force")) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "update", "web"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "nothing to update")) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "create", "shop/web", "nginx"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "stack-less")) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "-p", "80"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "--ports")) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "--instances", "-2"}), 2);
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "--deploy-strategy", "fast"}), 2);
  EXPECT_EQ(cli.run({"service", "env", "add", "web", "NOEQUALS"}), 1);
  EXPECT_EQ(cli.run({"service", "env", "rm", "web", "A=1"}), 1);
  EXPECT_EQ(cli.run({"service", "exec", "web"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "no command given")) << cli.err.str();
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST_F(ServiceCommands, CreateSendsTheSpec) {
  cli.master->on("POST /v1/grids/demo/services", 201, service_json("null", "web"));
  ASSERT_EQ(cli.run({"service", "create", "web", "nginx:1.25", "-p", "80:8080", "-p", "127.0.0.1:53:53/udp", "-e", "A=1",
                     "--instances", "3", "--cmd", "nginx -g 'daemon off;'", "--deploy-strategy", "daemon",
                     "-a", "node==node-1", "--cpus", "0.5", "-m", "512m", "--privileged", "--cap-add", "NET_ADMIN",
                     "--cap-drop", "MKNOD", "-u", "www", "--stateful", "--stop-timeout", "1m30s",
                     "--health-check-protocol", "http", "--health-check-port", "8080", "--read-only", "--pid", "host",
                     "--net", "host", "--deploy-min-health", "0.5", "--deploy-wait-for-port", "8080"}),
            0)
      << cli.err.str();
  ASSERT_EQ(cli.master->requests.size(), 1u);
  const json body = FakeMaster::body_of(cli.master->requests[0]);
  const json expected = {
      {"name", "web"},
      {"image", "nginx:1.25"},
      {"ports", json::array({{{"ip", "0.0.0.0"}, {"protocol", "tcp"}, {"node_port", 80}, {"container_port", 8080}},
                             {{"ip", "127.0.0.1"}, {"protocol", "udp"}, {"node_port", 53}, {"container_port", 53}}})},
      {"environment", {"A=1"}},
      {"instances", 3},
      {"command", {"nginx", "-g", "daemon off;"}},
      {"deploy", {{"strategy", "daemon"}, {"wait_for_port", 8080}, {"min_health", 0.5}, {"interval", nullptr}}},
      {"affinity", {"node==node-1"}},
      {"cpus", 0.5},
      {"mem_limit", 512LL * 1024 * 1024},
      {"privileged", true},
      {"cap_add", {"NET_ADMIN"}},
      {"cap_drop", {"MKNOD"}},
      {"user", "www"},
      {"stateful", true},
      {"stop_grace_period", 90},
      {"health_check",
       {{"protocol", "http"}, {"port", 8080}, {"uri", "/"}, {"timeout", 10}, {"interval", 60}, {"initial_delay", 10}}},
      {"read_only", true},
      {"pid", "host"},
      {"network_mode", "host"}};
  EXPECT_EQ(body, expected) << body.dump(2);
  EXPECT_TRUE(has(cli.out.str(), "creating service web ... done")) << cli.out.str();
}

TEST_F(ServiceCommands, CreateMinimalSendsOnlyNameAndImage) {
  cli.master->on("POST /v1/grids/demo/services", 201, service_json("null", "web"));
  ASSERT_EQ(cli.run({"service", "create", "web", "nginx"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[0]), json({{"name", "web"}, {"image", "nginx"}}));
}

TEST_F(ServiceCommands, UpdateMergesDeployAndHealthCheckIntoTheCurrentSpec) {
  cli.master->on("GET /v1/services/demo/shop/web", 200, service_json("shop", "web"));
  cli.master->on("PUT /v1/services/demo/shop/web", 200, service_json("shop", "web"));
  ASSERT_EQ(cli.run({"service", "update", "shop/web", "--image", "nginx:2", "--deploy-wait-for-port", "80",
                     "--health-check-protocol", "tcp", "--health-check-port", "80", "--no-privileged"}),
            0)
      << cli.err.str();
  const auto puts = cli.master->find("PUT", "/v1/services/demo/shop/web");
  ASSERT_EQ(puts.size(), 1u);
  const json body = FakeMaster::body_of(puts[0]);
  EXPECT_EQ(body["image"], "nginx:2");
  EXPECT_EQ(body["privileged"], false);
  EXPECT_EQ(body["deploy"], json({{"strategy", "ha"}, {"wait_for_port", 80}, {"min_health", 0.8}, {"interval", nullptr}}));
  EXPECT_EQ(body["health_check"]["protocol"], "tcp");
  EXPECT_TRUE(body["health_check"]["uri"].is_null());
  EXPECT_EQ(body["health_check"]["port"], 80);
  EXPECT_FALSE(body.contains("ports"));
  EXPECT_FALSE(body.contains("instances"));

  cli.master->requests.clear();
  ASSERT_EQ(cli.run({"service", "update", "shop/web", "--no-health-check", "-e", "X=1"}), 0) << cli.err.str();
  const json second = FakeMaster::body_of(cli.master->find("PUT", "/v1/services/demo/shop/web").at(0));
  EXPECT_EQ(second, json({{"environment", {"X=1"}}, {"health_check", nullptr}}));
  EXPECT_TRUE(cli.master->find("GET", "/v1/services/demo/shop/web").empty()) << "no read needed";

  cli.master->requests.clear();
  EXPECT_EQ(cli.run({"service", "update", "shop/web", "--health-check-port", "80"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "--health-check-protocol")) << cli.err.str();
  EXPECT_TRUE(cli.master->find("PUT", "/v1/services/demo/shop/web").empty());
}

TEST_F(ServiceCommands, ScaleFollowsTheDeploy) {
  const std::string path = "/v1/services/demo/shop/web";
  cli.master->on("POST " + path + "/scale", 201, deploy_json(7, "shop/web", "created", json::array()));
  cli.master->on("GET " + path + "/deploys/7", 200,
                 deploy_json(7, "shop/web", "ongoing",
                             {{{"instance_number", 1}, {"node", "node-1"}, {"state", "running"}},
                              {{"instance_number", 2}, {"node", "node-2"}, {"state", "deploying"}},
                              {{"instance_number", 3}, {"node", nullptr}, {"state", "pending"}}}));
  cli.master->on("GET " + path + "/deploys/7", 200,
                 deploy_json(7, "shop/web", "success",
                             {{{"instance_number", 1}, {"node", "node-1"}, {"state", "running"}},
                              {{"instance_number", 2}, {"node", "node-2"}, {"state", "running"}},
                              {{"instance_number", 3}, {"node", "node-3"}, {"state", "running"}}}));
  ASSERT_EQ(cli.run({"service", "scale", "shop/web", "3"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("POST", path + "/scale").at(0)), json({{"instances", 3}}));
  const std::string out = cli.out.str();
  EXPECT_TRUE(has(out, " [3/3] web-3 on (no node) pending")) << out;
  EXPECT_TRUE(has(out, " [3/3] web-3 on node-3 running")) << out;
  EXPECT_TRUE(has(out, "deployed service shop/web")) << out;
  EXPECT_EQ(sleeps, 2);
  ASSERT_EQ(cli.run({"service", "scale", "shop/web", "0"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("POST", path + "/scale").at(1)), json({{"instances", 0}}));
}

TEST_F(ServiceCommands, DeployErrorExits1NamingTheInstance) {
  const std::string path = "/v1/services/demo/null/web";
  const std::string why = "instance 2 on node-2: image \"nginx:nope\" not found";
  cli.master->on("POST " + path + "/deploy", 201, deploy_json(8, "null/web", "created", json::array()));
  cli.master->on("GET " + path + "/deploys/8", 200, deploy_json(8, "null/web", "ongoing", json::array()));
  cli.master->on("GET " + path + "/deploys/8", 200, deploy_json(8, "null/web", "error", json::array(), why));
  EXPECT_EQ(cli.run({"service", "deploy", "web", "--force"}), 1);
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("POST", path + "/deploy").at(0)), json({{"force", true}}));
  EXPECT_TRUE(has(cli.err.str(), "deploy of service web failed: " + why)) << cli.err.str();
}

TEST_F(ServiceCommands, DeployJsonPrintsTheFinalDeployOnStdout) {
  const std::string path = "/v1/services/demo/null/web";
  cli.master->on("POST " + path + "/deploy", 201, deploy_json(8, "null/web", "created", json::array()));
  cli.master->on("GET " + path + "/deploys/8", 200,
                 deploy_json(8, "null/web", "success", {{{"instance_number", 1}, {"node", "n1"}, {"state", "running"}}}));
  ASSERT_EQ(cli.run({"service", "deploy", "web", "--json"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("POST", path + "/deploy").at(0)), json({{"force", false}}));
  EXPECT_EQ(json::parse(cli.out.str())["state"], "success");
  EXPECT_TRUE(has(cli.err.str(), "web-1 on n1 running")) << cli.err.str();
  EXPECT_TRUE(has(cli.err.str(), "service web deployed")) << cli.err.str();
  EXPECT_FALSE(has(cli.err.str(), "null/")) << cli.err.str();
}

TEST_F(ServiceCommands, ListTable) {
  json stackless = service_json("null", "cache", 1);
  stackless["spec"]["stateful"] = true;
  stackless["spec"]["ports"] = json::array();
  cli.master->on("GET /v1/grids/demo/services", 200, {{"services", json::array({stackless, service_json("shop", "web")})}});
  ASSERT_EQ(cli.run({"service", "ls"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "NAME      IMAGE         INSTANCES  STATEFUL  STATE    PORTS\n"
            "cache     nginx:latest  1 / 1      yes       running  -\n"
            "shop/web  nginx:latest  2 / 2      no        running  80:8080\n");
  ASSERT_EQ(cli.run({"service", "ls", "-q"}), 0);
  EXPECT_EQ(cli.out.str(), "cache\nshop/web\n");
  cli.master->on("GET /v1/grids/demo/services?stack=shop", 200, {{"services", json::array({service_json("shop", "web")})}});
  ASSERT_EQ(cli.run({"service", "ls", "--stack", "shop", "-q"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "shop/web\n");
}

TEST_F(ServiceCommands, ShowWithInstances) {
  cli.master->on("GET /v1/services/demo/shop/web", 200, service_json("shop", "web"));
  cli.master->on("GET /v1/services/demo/shop/web/instances", 200,
                 {{"instances", json::array({instance_json(1, "node-1", "running"), instance_json(2, "node-2", "restarting")})}});
  ASSERT_EQ(cli.run({"service", "show", "shop/web"}), 0) << cli.err.str();
  const std::string out = cli.out.str();
  EXPECT_TRUE(has(out, "demo/shop/web:")) << out;
  EXPECT_TRUE(has(out, "  instances: 2 / 2\n")) << out;
  EXPECT_TRUE(has(out, "    web-2 on node-2: restarting (desired running, health -)\n")) << out;
  EXPECT_TRUE(has(out, "    - A=1")) << out;
}

TEST_F(ServiceCommands, StartStopRestartSeveral) {
  cli.master->on("POST /v1/services/demo/null/a/stop", 200, service_json("null", "a"));
  cli.master->on("POST /v1/services/demo/shop/b/stop", 200, service_json("shop", "b"));
  ASSERT_EQ(cli.run({"service", "stop", "a", "shop/b"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "stopped service a\nstopped service shop/b\n");
  cli.master->on("POST /v1/services/demo/null/a/start", 200, service_json("null", "a"));
  cli.master->on("POST /v1/services/demo/null/a/restart", 200, service_json("null", "a"));
  ASSERT_EQ(cli.run({"service", "start", "a"}), 0);
  ASSERT_EQ(cli.run({"service", "restart", "a"}), 0);
  EXPECT_EQ(cli.master->requests.size(), 4u);
  EXPECT_EQ(cli.run({"service", "stop", "a", "B!"}), 1) << "all refs are checked first";
  EXPECT_EQ(cli.master->requests.size(), 4u);
}

TEST_F(ServiceCommands, RemoveWithForce) {
  cli.master->on("DELETE /v1/services/demo/null/web", 200, json::object());
  cli.master->on("DELETE /v1/services/demo/shop/db", 409, {{"error", "service shop/web links to shop/db"}});
  ASSERT_EQ(cli.run({"service", "rm", "--force", "web"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->find("DELETE", "/v1/services/demo/null/web").size(), 1u);
  EXPECT_EQ(cli.run({"service", "rm", "--force", "shop/db"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "links to shop/db")) << cli.err.str();
}

TEST_F(ServiceCommands, Containers) {
  cli.master->on("GET /v1/services/demo/shop/web/containers", 200,
                 {{"containers", json::array({{{"name", "shop.web-1"}, {"instance_number", 1}, {"node", "node-1"},
                                               {"state", "running"}, {"health", "healthy"}, {"error", nullptr}}})}});
  ASSERT_EQ(cli.run({"service", "containers", "shop/web"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "NAME        INSTANCE  NODE    STATE    HEALTH   ERROR\n"
            "shop.web-1  1         node-1  running  healthy  -\n");
}

TEST_F(ServiceCommands, Env) {
  cli.master->on("GET /v1/services/demo/shop/web", 200, service_json("shop", "web"));
  ASSERT_EQ(cli.run({"service", "env", "list", "shop/web"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "A=1\nB=2\n");
  cli.master->on("POST /v1/services/demo/shop/web/envs", 200, service_json("shop", "web"));
  ASSERT_EQ(cli.run({"service", "env", "add", "shop/web", "C=3", "D=x=y"}), 0) << cli.err.str();
  const auto posts = cli.master->find("POST", "/v1/services/demo/shop/web/envs");
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(FakeMaster::body_of(posts[0]), json({{"env", "C=3"}}));
  EXPECT_EQ(FakeMaster::body_of(posts[1]), json({{"env", "D=x=y"}}));
  cli.master->on("DELETE /v1/services/demo/shop/web/envs/A", 200, service_json("shop", "web"));
  ASSERT_EQ(cli.run({"service", "env", "rm", "shop/web", "A"}), 0) << cli.err.str();
  cli.master->on("DELETE /v1/services/demo/shop/web/envs/Z", 404, {{"error", "service shop/web has no variable Z"}});
  EXPECT_EQ(cli.run({"service", "env", "rm", "shop/web", "Z"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "no variable Z")) << cli.err.str();
}

TEST_F(ServiceCommands, LogsOfOneInstance) {
  cli.master->on("GET /v1/services/demo/shop/web/container_logs?limit=100&instance=2", 200,
                 {{"logs", json::array({{{"id", "1"}, {"created_at", "2026-11-26T10:00:00.000Z"},
                                         {"container", "shop.web-2"}, {"data", "up"}}})}});
  ASSERT_EQ(cli.run({"service", "logs", "shop/web", "-i", "2"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "2026-11-26 10:00:00 shop.web-2: up\n");
  cli.master->on("GET /v1/services/demo/shop/web/event_logs?limit=10", 200, {{"events", json::array()}});
  ASSERT_EQ(cli.run({"service", "events", "shop/web", "--tail", "10"}), 0) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "logs", "shop/web", "--tail", "0"}), 2);
}

TEST_F(ServiceCommands, ExecRunsOnTheInstancesNodeWithItsExitCode) {
  cli.master->on("GET /v1/services/demo/shop/web/instances", 200,
                 {{"instances", json::array({instance_json(1, "node-1", "running"), instance_json(2, "node-2", "running"),
                                             instance_json(3, "node-3", "stopped")})}});
  cli.master->on("POST /v1/containers/demo/node-2/shop.web-2/exec", 200,
                 {{"exit_code", 3}, {"stdout", "out\n"}, {"stderr", "err\n"}});
  EXPECT_EQ(cli.run({"service", "exec", "--instance", "2", "shop/web", "sh", "-c", "echo out; exit 3"}), 3);
  EXPECT_EQ(cli.out.str(), "out\n");
  EXPECT_EQ(cli.err.str(), "err\n");
  const json body = FakeMaster::body_of(cli.master->find("POST", "/v1/containers/demo/node-2/shop.web-2/exec").at(0));
  EXPECT_EQ(body, json({{"cmd", {"sh", "-c", "echo out; exit 3"}}, {"timeout", 60}}));

  cli.master->on("POST /v1/containers/demo/node-1/shop.web-1/exec", 200,
                 {{"exit_code", 0}, {"stdout", "a\nb\n"}, {"stderr", ""}});
  ASSERT_EQ(cli.run({"service", "exec", "shop/web", "ls"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "a\nb\n");

  ASSERT_EQ(cli.run({"service", "exec", "--all", "shop/web", "ls"}), 3) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "[web-1] a\n[web-1] b\n[web-2] out\n");
  EXPECT_EQ(cli.err.str(), "[web-2] err\n");
  EXPECT_TRUE(cli.master->find("POST", "/v1/containers/demo/node-3/shop.web-3/exec").empty()) << "stopped: skipped";

  ASSERT_EQ(cli.run({"service", "exec", "--instance", "2", "shop/web", "--", "ls", "-d", "/bin"}), 3) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("POST", "/v1/containers/demo/node-2/shop.web-2/exec").at(2))["cmd"],
            json({"ls", "-d", "/bin"}));
  ASSERT_EQ(cli.run({"service", "exec", "shop/web", "ls", "--instance", "2"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("POST", "/v1/containers/demo/node-1/shop.web-1/exec").at(2))["cmd"],
            json({"ls", "--instance", "2"}))
      << "options after SERVICE belong to the command";
  EXPECT_EQ(cli.run({"service", "exec", "--instance", "2"}), 2);
  EXPECT_TRUE(has(cli.err.str(), "SERVICE is required")) << cli.err.str();

  EXPECT_EQ(cli.run({"service", "exec", "--instance", "9", "shop/web", "ls"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "has no instance 9")) << cli.err.str();
}

TEST_F(ServiceCommands, HelpEverywhere) {
  for (std::vector<std::string> command :
       {std::vector<std::string>{"ls"}, {"show"}, {"create"}, {"update"}, {"scale"}, {"deploy"}, {"start"}, {"stop"},
        {"restart"}, {"rm"}, {"containers"}, {"env", "list"}, {"env", "add"}, {"env", "rm"}, {"logs"}, {"events"},
        {"exec"}}) {
    command.insert(command.begin(), "service");
    command.push_back("--help");
    EXPECT_EQ(cli.run(command), 0) << command[1];
    EXPECT_TRUE(has(cli.out.str(), "Usage")) << command[1];
  }
  EXPECT_EQ(cli.run({"service"}), 0);
  EXPECT_TRUE(has(cli.out.str(), "scale")) << cli.out.str();
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST(ServiceSpec, ParsersRejectMalformedValues) {
  EXPECT_EQ(parse_port("8080:80"), json({{"ip", "0.0.0.0"}, {"protocol", "tcp"}, {"node_port", 8080}, {"container_port", 80}}));
  for (const char* bad : {"80", "a:b", "0:80", "80:70000", "1.2.3:80:80", "80:80/sctp", "", "80:80:80:80"})
    EXPECT_THROW(parse_port(bad), Error) << bad;
  EXPECT_EQ(parse_volume("/data"), json({{"type", "anonymous"}, {"source", nullptr}, {"target", "/data"}, {"flags", nullptr}}));
  EXPECT_EQ(parse_volume("/srv:/data:ro"), json({{"type", "bind"}, {"source", "/srv"}, {"target", "/data"}, {"flags", "ro"}}));
  EXPECT_EQ(parse_volume("db:/var/lib/db")["type"], "named");
  for (const char* bad : {"", "relative", "/a:/b:1x", ":/b", "a:b:c:d"}) EXPECT_THROW(parse_volume(bad), Error) << bad;
  EXPECT_EQ(parse_link("db"), json({{"name", "db"}, {"alias", "db"}}));
  EXPECT_EQ(parse_link("other/db:database"), json({{"name", "other/db"}, {"alias", "database"}}));
  EXPECT_EQ(parse_link("other/db"), json({{"name", "other/db"}, {"alias", "db"}}));
  for (const char* bad : {"", ":x", "db:", "a:b:c"}) EXPECT_THROW(parse_link(bad), Error) << bad;
  EXPECT_EQ(parse_secret("pw:DB_PASSWORD:env"), json({{"secret", "pw"}, {"name", "DB_PASSWORD"}, {"type", "env"}}));
  for (const char* bad : {"pw", "pw:", "pw:X:file"}) EXPECT_THROW(parse_secret(bad), Error) << bad;
}

TEST_F(ServiceCommands, MalformedSizesAndDurationsSendNothing) {
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "-m", "lots"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "--memory")) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "--stop-timeout", "soon"}), 1);
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "--cmd", "echo 'unterminated"}), 1);
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "--net", "overlay"}), 1);
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "--health-check-protocol", "http", "--health-check-port", "80",
                     "--health-check-timeout", "30", "--health-check-interval", "10"}),
            1);
  EXPECT_TRUE(has(cli.err.str(), "at least the timeout")) << cli.err.str();
  EXPECT_EQ(cli.run({"service", "create", "web", "nginx", "--log-opt", "a=b"}), 1);
  EXPECT_TRUE(cli.master->requests.empty());
}
