// kontena stack install/upgrade/deploy/ls/show/inspect/rm/logs: the real command tree against the
// fake master (docs/api/stacks-services.md), with the poll sleeper replaced so following a deploy
// takes no time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/commands/workload.h"
#include "fake_master.h"

using namespace kontena;
using namespace kontena::cli;
using kontena::cli::testing::CliHarness;
using kontena::cli::testing::FakeMaster;
using nlohmann::json;

namespace {

constexpr const char* kShop =
    "stack: user/shop\n"
    "version: 1.0.0\n"
    "variables:\n"
    "  tag:\n"
    "    type: string\n"
    "    default: latest\n"
    "services:\n"
    "  web:\n"
    "    image: nginx:${tag}\n"
    "    instances: 2\n"
    "    links:\n"
    "      - db\n"
    "  db:\n"
    "    image: redis\n";

json instance(int number, const std::string& node, const std::string& state, json error = nullptr) {
  return {{"instance_number", number}, {"node", node}, {"state", state}, {"error", error}};
}

json service_deploy(int id, const std::string& service, const std::string& state, json instances) {
  return {{"id", id}, {"service", service}, {"state", state}, {"error", nullptr}, {"instances", instances}};
}

json stack_deploy(int id, const std::string& state, json service_deploys, json error = nullptr) {
  return {{"id", id}, {"stack", "shop"}, {"revision", 1}, {"state", state}, {"error", error},
          {"service_deploys", service_deploys}};
}

json stack_json(const std::string& name, int revision = 1, json parent = nullptr) {
  return {{"id", "demo/" + name}, {"name", name}, {"grid", "demo"}, {"stack", "user/" + name}, {"version", "1.0.0"},
          {"revision", revision}, {"deployed_revision", revision}, {"parent", parent}, {"labels", json::array()},
          {"expose", nullptr}, {"state", "running"}, {"dependencies", json::array()},
          {"services", json::array({{{"id", "demo/" + name + "/web"}, {"name", "web"}, {"image", "nginx:latest"},
                                     {"instances", 2}, {"state", "running"}, {"running", 2}}})}};
}

class StackCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    cli.log_in("demo");
    set_poll_sleeper([this](std::chrono::milliseconds d) {
      ++sleeps;
      cli.clock.advance(d);
      if (interrupt_after > 0 && sleeps >= interrupt_after) request_follow_interrupt();
    });
  }
  void TearDown() override { set_poll_sleeper({}); }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = (cli.dir.path() / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

  // A deploy 12 of stack shop: created, then ongoing with web-1 running, then success.
  void deploy_succeeds(const std::string& stack = "shop", int id = 12) {
    FakeMaster& m = *cli.master;
    m.on("POST /v1/stacks/demo/" + stack + "/deploy", 201, stack_deploy(id, "created", json::array()));
    const std::string poll = "GET /v1/stacks/demo/" + stack + "/deploys/" + std::to_string(id);
    m.on(poll, 200,
         stack_deploy(id, "ongoing",
                      {service_deploy(7, stack + "/web", "ongoing",
                                      {instance(1, "node-1", "running"), instance(2, "node-2", "deploying")})}));
    m.on(poll, 200,
         stack_deploy(id, "success",
                      {service_deploy(7, stack + "/web", "success",
                                      {instance(1, "node-1", "running"), instance(2, "node-2", "running")})}));
  }

  CliHarness cli;
  int sleeps = 0;
  int interrupt_after = 0;
};

}  // namespace

TEST_F(StackCommands, InstallPostsTheStackDeploysAndFollows) {
  const auto file = write("kontena.yml", kShop);
  cli.master->on("POST /v1/grids/demo/stacks", 201, stack_json("shop"));
  deploy_succeeds();
  ASSERT_EQ(cli.run({"stack", "install", file, "-v", "tag=1.25"}), 0) << cli.err.str();
  const auto posts = cli.master->find("POST", "/v1/grids/demo/stacks");
  ASSERT_EQ(posts.size(), 1u);
  const json body = FakeMaster::body_of(posts[0]);
  EXPECT_EQ(body["name"], "shop");
  EXPECT_EQ(body["stack"], "user/shop");
  ASSERT_EQ(body["services"].size(), 2u);
  EXPECT_EQ(body["services"][0]["image"], "nginx:1.25");
  EXPECT_EQ(body["services"][0]["instances"], 2);
  EXPECT_TRUE(body["parent"].is_null());
  EXPECT_TRUE(body.contains("source"));
  EXPECT_EQ(cli.master->find("POST", "/v1/stacks/demo/shop/deploy").size(), 1u);
  EXPECT_EQ(cli.master->find("GET", "/v1/stacks/demo/shop/deploys/12").size(), 2u);
  EXPECT_EQ(sleeps, 2);
  const std::string out = cli.out.str();
  EXPECT_TRUE(has(out, "created stack shop")) << out;
  EXPECT_TRUE(has(out, " [1/2] web-1 on node-1 running")) << out;
  EXPECT_TRUE(has(out, " [2/2] web-2 on node-2 deploying")) << out;
  EXPECT_TRUE(has(out, " [2/2] web-2 on node-2 running")) << out;
  EXPECT_TRUE(has(out, "deployed stack shop")) << out;
  // A state printed once is not printed again.
  EXPECT_EQ(out.find(" [1/2] web-1 on node-1 running"), out.rfind(" [1/2] web-1 on node-1 running")) << out;
}

TEST_F(StackCommands, InstallNoDeployOnlyCreates) {
  const auto file = write("kontena.yml", kShop);
  cli.master->on("POST /v1/grids/demo/stacks", 201, stack_json("shop"));
  ASSERT_EQ(cli.run({"stack", "install", "--no-deploy", "-n", "other", file}), 0) << cli.err.str();
  ASSERT_EQ(cli.master->requests.size(), 1u);
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[0])["name"], "other");
  EXPECT_TRUE(has(cli.out.str(), "created stack other"));
}

TEST_F(StackCommands, InstallDeployErrorExits1WithTheDeploysError) {
  const auto file = write("kontena.yml", kShop);
  cli.master->on("POST /v1/grids/demo/stacks", 201, stack_json("shop"));
  cli.master->on("POST /v1/stacks/demo/shop/deploy", 201, stack_deploy(12, "ongoing", json::array()));
  const std::string why = "service web: instance 2 on node-2: image \"nginx:nope\" not found";
  cli.master->on("GET /v1/stacks/demo/shop/deploys/12", 200,
                 stack_deploy(12, "error",
                              {service_deploy(7, "shop/web", "error",
                                              {instance(1, "node-1", "running"),
                                               instance(2, "node-2", "error", "image \"nginx:nope\" not found")})},
                              why));
  EXPECT_EQ(cli.run({"stack", "install", file}), 1);
  EXPECT_TRUE(has(cli.err.str(), "deploy of stack shop failed: " + why)) << cli.err.str();
  EXPECT_TRUE(has(cli.out.str(), "web-2 on node-2 error: image \"nginx:nope\" not found")) << cli.out.str();
}

TEST_F(StackCommands, InstallBadInputSendsNothing) {
  EXPECT_EQ(cli.run({"stack", "install", (cli.dir.path() / "missing.yml").string()}), 1);
  EXPECT_TRUE(has(cli.err.str(), "missing.yml")) << cli.err.str();
  const auto bad = write("bad.yml", "stack: user/x\nservices:\n  web:\n    image: nginx\n    bogus: 1\n");
  EXPECT_EQ(cli.run({"stack", "install", bad}), 1);
  EXPECT_TRUE(has(cli.err.str(), "bad.yml:5:")) << cli.err.str();
  const auto good = write("kontena.yml", kShop);
  EXPECT_EQ(cli.run({"stack", "install", good, "-n", "Bad_Name"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "invalid stack name \"Bad_Name\"")) << cli.err.str();
  EXPECT_EQ(cli.run({"stack", "install", good, "-v", "novalue"}), 1);
  EXPECT_EQ(cli.run({"stack", "install", "someone/stack:1.0"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "stack registry")) << cli.err.str();
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST_F(StackCommands, InstallJsonKeepsStdoutMachineReadable) {
  const auto file = write("kontena.yml", kShop);
  cli.master->on("POST /v1/grids/demo/stacks", 201, stack_json("shop"));
  cli.master->on("GET /v1/stacks/demo/shop", 200, stack_json("shop"));
  deploy_succeeds();
  ASSERT_EQ(cli.run({"stack", "install", file, "--json"}), 0) << cli.err.str();
  const json printed = json::parse(cli.out.str());
  EXPECT_EQ(printed["name"], "shop");
  EXPECT_TRUE(has(cli.err.str(), "web-1 on node-1 running")) << cli.err.str();
}

TEST_F(StackCommands, InstallDependenciesFirstAsParentDashAlias) {
  write("db.yml",
        "stack: user/db\n"
        "variables:\n"
        "  size:\n"
        "    type: integer\n"
        "    default: 1\n"
        "services:\n"
        "  redis:\n"
        "    image: redis\n"
        "    instances: ${size}\n");
  const auto file = write("kontena.yml",
                          "stack: user/shop\n"
                          "depends:\n"
                          "  db:\n"
                          "    stack: db.yml\n"
                          "services:\n"
                          "  web:\n"
                          "    image: nginx\n");
  cli.master->on("POST /v1/grids/demo/stacks", 201, stack_json("shop"));
  ASSERT_EQ(cli.run({"stack", "install", "--no-deploy", file, "-v", "db.size=3"}), 0) << cli.err.str();
  const auto posts = cli.master->find("POST", "/v1/grids/demo/stacks");
  ASSERT_EQ(posts.size(), 2u);
  const json child = FakeMaster::body_of(posts[0]);
  const json parent = FakeMaster::body_of(posts[1]);
  EXPECT_EQ(child["name"], "shop-db");
  EXPECT_EQ(child["parent"], json({{"name", "shop"}}));
  EXPECT_EQ(child["services"][0]["instances"], 3);
  EXPECT_EQ(parent["name"], "shop");
  EXPECT_TRUE(parent["parent"].is_null());

  cli.master->requests.clear();
  ASSERT_EQ(cli.run({"stack", "install", "--no-deploy", "--skip-dependencies", file}), 0) << cli.err.str();
  ASSERT_EQ(cli.master->requests.size(), 1u);
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[0])["name"], "shop");
}

TEST_F(StackCommands, ABrokenDependencySendsNothing) {
  write("db.yml", "stack: user/db\nservices:\n  redis:\n    image: redis\n    nope: 1\n");
  const auto file = write("kontena.yml", "stack: user/shop\ndepends:\n  db:\n    stack: db.yml\nservices:\n  web:\n    image: nginx\n");
  EXPECT_EQ(cli.run({"stack", "install", file}), 1);
  EXPECT_TRUE(has(cli.err.str(), "db.yml:5:")) << cli.err.str();
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST_F(StackCommands, UpgradeDryRunPrintsChangesAndChangesNothing) {
  const auto file = write("kontena.yml", kShop);
  cli.master->on("GET /v1/stacks/demo/shop", 200, stack_json("shop"));
  json answer = stack_json("shop");
  answer["changes"] = {{"added", json::array()},
                       {"removed", {"old"}},
                       {"changed", {{{"name", "web"}, {"fields", {"image"}}}}},
                       {"unchanged", {"db"}},
                       {"new_revision", true}};
  cli.master->on("PUT /v1/stacks/demo/shop?dry_run=true", 200, answer);
  ASSERT_EQ(cli.run({"stack", "upgrade", "shop", file, "--dry-run", "-v", "tag=2"}), 0) << cli.err.str();
  const std::string out = cli.out.str();
  EXPECT_TRUE(has(out, "would change stack shop")) << out;
  EXPECT_TRUE(has(out, "~ web (image)")) << out;
  EXPECT_TRUE(has(out, "- old (removed)")) << out;
  EXPECT_TRUE(has(out, "db (unchanged)")) << out;
  ASSERT_EQ(cli.master->find("PUT", "/v1/stacks/demo/shop?dry_run=true").size(), 1u);
  EXPECT_EQ(FakeMaster::body_of(cli.master->find("PUT", "/v1/stacks/demo/shop?dry_run=true")[0])["services"][0]["image"],
            "nginx:2");
  EXPECT_TRUE(cli.master->find("PUT", "/v1/stacks/demo/shop").empty());
  EXPECT_TRUE(cli.master->find("POST", "/v1/stacks/demo/shop/deploy").empty());
}

TEST_F(StackCommands, UpgradePutsThenDeploysAndFollows) {
  const auto file = write("kontena.yml", kShop);
  cli.master->on("GET /v1/stacks/demo/shop", 200, stack_json("shop"));
  cli.master->on("GET /v1/grids/demo/stacks", 200, {{"stacks", json::array({stack_json("shop")})}});
  json answer = stack_json("shop", 2);
  answer["changes"] = {{"added", {"db"}}, {"removed", json::array()}, {"changed", json::array()},
                       {"unchanged", {"web"}}, {"new_revision", true}};
  cli.master->on("PUT /v1/stacks/demo/shop", 200, answer);
  deploy_succeeds();
  ASSERT_EQ(cli.run({"stack", "upgrade", "shop", file}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->find("PUT", "/v1/stacks/demo/shop").size(), 1u);
  EXPECT_EQ(cli.master->find("POST", "/v1/stacks/demo/shop/deploy").size(), 1u);
  EXPECT_TRUE(has(cli.out.str(), "changed stack shop (revision 2)")) << cli.out.str();
  EXPECT_TRUE(has(cli.out.str(), "+ db (added)")) << cli.out.str();
  EXPECT_TRUE(has(cli.out.str(), "deployed stack shop")) << cli.out.str();
}

TEST_F(StackCommands, UpgradeOfAMissingStackFails) {
  const auto file = write("kontena.yml", kShop);
  cli.master->on("GET /v1/stacks/demo/nope", 404, {{"error", "stack nope not found"}});
  EXPECT_EQ(cli.run({"stack", "upgrade", "nope", file}), 1);
  EXPECT_TRUE(has(cli.err.str(), "stack nope not found")) << cli.err.str();
  EXPECT_EQ(cli.master->requests.size(), 1u);
  EXPECT_EQ(cli.run({"stack", "upgrade", "BAD", file}), 1);
  EXPECT_EQ(cli.master->requests.size(), 1u);
}

TEST_F(StackCommands, UpgradeToAnotherStackNeedsForceWithoutATerminal) {
  const auto file = write("kontena.yml", kShop);
  json current = stack_json("shop");
  current["stack"] = "someone/else";
  cli.master->on("GET /v1/stacks/demo/shop", 200, current);
  EXPECT_EQ(cli.run({"stack", "upgrade", "shop", file}), 1);
  EXPECT_TRUE(has(cli.err.str(), "--force")) << cli.err.str();
  EXPECT_TRUE(cli.master->find("PUT", "/v1/stacks/demo/shop").empty());
}

TEST_F(StackCommands, DeployFollowsAndStartIsAnAlias) {
  deploy_succeeds();
  ASSERT_EQ(cli.run({"stack", "deploy", "shop"}), 0) << cli.err.str();
  EXPECT_TRUE(has(cli.out.str(), "deployed stack shop")) << cli.out.str();
  deploy_succeeds();
  ASSERT_EQ(cli.run({"stack", "start", "shop", "--json"}), 0) << cli.err.str();
  EXPECT_EQ(json::parse(cli.out.str())["state"], "success");
}

TEST_F(StackCommands, CtrlCStopsFollowingOnly) {
  cli.master->on("POST /v1/stacks/demo/shop/deploy", 201, stack_deploy(12, "ongoing", json::array()));
  cli.master->on("GET /v1/stacks/demo/shop/deploys/12", 200, stack_deploy(12, "ongoing", json::array()));
  interrupt_after = 3;
  EXPECT_EQ(cli.run({"stack", "deploy", "shop"}), 130);
  EXPECT_TRUE(has(cli.out.str(), "stopped following the deploy of stack shop; it continues on the master"))
      << cli.out.str();
  EXPECT_EQ(cli.master->find("GET", "/v1/stacks/demo/shop/deploys/12").size(), 2u);
  EXPECT_FALSE(follow_interrupted()) << "the flag is reset for the next command";
}

TEST_F(StackCommands, StopAndRestart) {
  cli.master->on("POST /v1/stacks/demo/shop/stop", 200, stack_json("shop"));
  cli.master->on("POST /v1/stacks/demo/shop/restart", 200, stack_json("shop"));
  ASSERT_EQ(cli.run({"stack", "stop", "shop"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "stopped stack shop\n");
  ASSERT_EQ(cli.run({"stack", "restart", "shop"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "restarted stack shop\n");
}

TEST_F(StackCommands, ListTableAndQuiet) {
  json other = stack_json("db", 1, {{"name", "shop"}});
  other["expose"] = "redis";
  other["state"] = "stopped";
  cli.master->on("GET /v1/grids/demo/stacks", 200, {{"stacks", json::array({other, stack_json("shop")})}});
  ASSERT_EQ(cli.run({"stack", "ls"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "NAME  STACK      VERSION  SERVICES  STATE    EXPOSED\n"
            "db    user/db    1.0.0    1         stopped  redis\n"
            "shop  user/shop  1.0.0    1         running  -\n");
  ASSERT_EQ(cli.run({"stack", "list", "-q"}), 0);
  EXPECT_EQ(cli.out.str(), "db\nshop\n");
  ASSERT_EQ(cli.run({"stack", "ls", "--json"}), 0);
  EXPECT_EQ(json::parse(cli.out.str())["stacks"].size(), 2u);
}

TEST_F(StackCommands, ShowListsServicesAndInstances) {
  cli.master->on("GET /v1/stacks/demo/shop", 200, stack_json("shop"));
  cli.master->on("GET /v1/services/demo/shop/web/instances", 200,
                 {{"instances", json::array({{{"instance_number", 1}, {"node", "node-1"}, {"state", "running"},
                                              {"desired_state", "running"}, {"error", nullptr}}})}});
  ASSERT_EQ(cli.run({"stack", "show", "shop"}), 0) << cli.err.str();
  const std::string out = cli.out.str();
  EXPECT_TRUE(has(out, "demo/shop:")) << out;
  EXPECT_TRUE(has(out, "state: running")) << out;
  EXPECT_TRUE(has(out, "instances: 2 / 2 running")) << out;
  EXPECT_TRUE(has(out, "web-1 on node-1: running (desired running)")) << out;
}

TEST_F(StackCommands, InspectPrintsTheStoredSource) {
  cli.master->on("GET /v1/stacks/demo/shop", 200, stack_json("shop", 3));
  cli.master->on("GET /v1/stacks/demo/shop/revisions/3", 200,
                 {{"revision", 3},
                  {"definition", {{"source", "stack: user/shop\nservices: {}\n"}, {"variables", {{"tag", "1.25"}}}}}});
  cli.master->on("GET /v1/stacks/demo/shop/revisions/1", 200,
                 {{"revision", 1}, {"definition", {{"source", "first"}, {"variables", json::object()}}}});
  ASSERT_EQ(cli.run({"stack", "inspect", "shop"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "stack: user/shop\nservices: {}\n");
  ASSERT_EQ(cli.run({"stack", "inspect", "shop", "--values"}), 0) << cli.err.str();
  EXPECT_TRUE(has(cli.out.str(), "tag")) << cli.out.str();
  EXPECT_TRUE(has(cli.out.str(), "1.25")) << cli.out.str();
  ASSERT_EQ(cli.run({"stack", "inspect", "shop", "--revision", "1"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "first\n");
}

TEST_F(StackCommands, RemoveNeedsForceWithoutATerminalAndRemovesChildren) {
  EXPECT_EQ(cli.run({"stack", "rm", "shop"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "stdin is not a terminal, add --force")) << cli.err.str();
  EXPECT_TRUE(cli.master->requests.empty());

  cli.master->on("GET /v1/grids/demo/stacks", 200,
                 {{"stacks", json::array({stack_json("shop"), stack_json("shop-db", 1, {{"name", "shop"}}),
                                          stack_json("other")})}});
  cli.master->on("DELETE /v1/stacks/demo/shop", 200, json::object());
  cli.master->on("DELETE /v1/stacks/demo/shop-db", 200, json::object());
  ASSERT_EQ(cli.run({"stack", "rm", "--force", "shop"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->find("DELETE", "/v1/stacks/demo/shop").size(), 1u);
  EXPECT_EQ(cli.master->find("DELETE", "/v1/stacks/demo/shop-db").size(), 1u);
  EXPECT_TRUE(cli.master->find("DELETE", "/v1/stacks/demo/other").empty());

  cli.master->requests.clear();
  ASSERT_EQ(cli.run({"stack", "rm", "--force", "--keep-dependencies", "shop"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->find("DELETE", "/v1/stacks/demo/shop").size(), 1u);
  EXPECT_TRUE(cli.master->find("DELETE", "/v1/stacks/demo/shop-db").empty());

  cli.stdin_is_terminal = true;
  cli.in.clear();
  cli.in.str("n\n");
  cli.master->requests.clear();
  EXPECT_EQ(cli.run({"stack", "rm", "shop"}), 1);
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST_F(StackCommands, LogsAndFollowWithFrom) {
  const std::string path = "/v1/stacks/demo/shop/container_logs";
  cli.master->on("GET " + path + "?limit=5", 200,
                 {{"logs", json::array({{{"id", "a1"}, {"created_at", "2026-11-26T10:00:00.000Z"},
                                         {"container", "shop.web-1"}, {"data", "hello\n"}}})}});
  cli.master->on("GET " + path + "?limit=5&from=a1", 200,
                 {{"logs", json::array({{{"id", "a2"}, {"created_at", "2026-11-26T10:00:01.000Z"},
                                         {"container", "shop.web-2"}, {"data", "world"}}})}});
  cli.master->on("GET " + path + "?limit=5&from=a2", 200, {{"logs", json::array()}});
  interrupt_after = 3;
  ASSERT_EQ(cli.run({"stack", "logs", "shop", "--tail", "5", "-f"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "2026-11-26 10:00:00 shop.web-1: hello\n"
            "2026-11-26 10:00:01 shop.web-2: world\n");
  EXPECT_EQ(cli.master->find("GET", path + "?limit=5&from=a2").size(), 1u);
  EXPECT_EQ(cli.run({"stack", "logs", "shop", "--since", "yesterday"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "--since")) << cli.err.str();
}

TEST_F(StackCommands, Events) {
  cli.master->on("GET /v1/stacks/demo/shop/event_logs?limit=100", 200,
                 {{"events", json::array({{{"id", "e1"}, {"created_at", "2026-11-26T10:00:00.000Z"},
                                           {"type", "service:create_instance"}, {"stack", "shop"},
                                           {"service", "web"}, {"instance_number", 1}, {"node", "node-1"},
                                           {"message", "created"}}})}});
  ASSERT_EQ(cli.run({"stack", "events", "shop"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "2026-11-26 10:00:00 service:create_instance shop/web-1 (node-1): created\n");
}

TEST_F(StackCommands, HelpEverywhere) {
  for (const char* command : {"install", "upgrade", "deploy", "start", "stop", "restart", "ls", "show", "inspect", "rm",
                              "logs", "events", "validate"}) {
    EXPECT_EQ(cli.run({"stack", command, "--help"}), 0) << command;
    EXPECT_TRUE(has(cli.out.str(), "Usage")) << command;
  }
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST_F(StackCommands, UpgradeInstallsNewDependenciesAndRemovesDroppedOnes) {
  write("cache.yml", "stack: user/cache\nservices:\n  memcached:\n    image: memcached\n");
  const auto file = write("kontena.yml",
                          "stack: user/shop\n"
                          "depends:\n"
                          "  cache:\n"
                          "    stack: cache.yml\n"
                          "services:\n"
                          "  web:\n"
                          "    image: nginx\n");
  cli.master->on("GET /v1/stacks/demo/shop", 200, stack_json("shop"));
  cli.master->on("GET /v1/stacks/demo/shop-cache", 404, {{"error", "not found"}});
  // Installed before: a child shop-db that the new file no longer lists.
  cli.master->on("GET /v1/grids/demo/stacks", 200,
                 {{"stacks", json::array({stack_json("shop"), stack_json("shop-db", 1, {{"name", "shop"}})})}});
  cli.master->on("POST /v1/grids/demo/stacks", 201, stack_json("shop-cache"));
  json answer = stack_json("shop", 2);
  answer["changes"] = {{"new_revision", false}};
  cli.master->on("PUT /v1/stacks/demo/shop", 200, answer);
  cli.master->on("DELETE /v1/stacks/demo/shop-db", 200, json::object());
  ASSERT_EQ(cli.run({"stack", "upgrade", "--no-deploy", "shop", file}), 0) << cli.err.str();
  const auto posts = cli.master->find("POST", "/v1/grids/demo/stacks");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(FakeMaster::body_of(posts[0])["name"], "shop-cache");
  EXPECT_EQ(FakeMaster::body_of(posts[0])["parent"], json({{"name", "shop"}}));
  EXPECT_EQ(cli.master->find("DELETE", "/v1/stacks/demo/shop-db").size(), 1u);
  EXPECT_TRUE(has(cli.out.str(), "no changes: stack shop stays at revision 2")) << cli.out.str();

  cli.master->requests.clear();
  ASSERT_EQ(cli.run({"stack", "upgrade", "--no-deploy", "--skip-dependencies", "shop", file}), 0) << cli.err.str();
  EXPECT_TRUE(cli.master->find("POST", "/v1/grids/demo/stacks").empty());
  EXPECT_TRUE(cli.master->find("DELETE", "/v1/stacks/demo/shop-db").empty());
  EXPECT_EQ(cli.master->find("PUT", "/v1/stacks/demo/shop").size(), 1u);
}

TEST_F(StackCommands, UpgradeReuseValuesTakesTheInstalledValues) {
  const auto file = write("kontena.yml", kShop);
  json current = stack_json("shop");
  current["variables"] = {{"tag", "1.19"}};
  cli.master->on("GET /v1/stacks/demo/shop", 200, current);
  json answer = stack_json("shop");
  answer["changes"] = {{"new_revision", false}};
  cli.master->on("PUT /v1/stacks/demo/shop?dry_run=true", 200, answer);
  ASSERT_EQ(cli.run({"stack", "upgrade", "shop", file, "--dry-run", "--reuse-values"}), 0) << cli.err.str();
  auto sent = cli.master->find("PUT", "/v1/stacks/demo/shop?dry_run=true");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(FakeMaster::body_of(sent[0])["services"][0]["image"], "nginx:1.19");
  ASSERT_EQ(cli.run({"stack", "upgrade", "shop", file, "--dry-run", "--reuse-values", "-v", "tag=2"}), 0);
  sent = cli.master->find("PUT", "/v1/stacks/demo/shop?dry_run=true");
  EXPECT_EQ(FakeMaster::body_of(sent.at(1))["services"][0]["image"], "nginx:2");
  ASSERT_EQ(cli.run({"stack", "upgrade", "shop", file, "--dry-run"}), 0);
  sent = cli.master->find("PUT", "/v1/stacks/demo/shop?dry_run=true");
  EXPECT_EQ(FakeMaster::body_of(sent.at(2))["services"][0]["image"], "nginx:latest");
  EXPECT_TRUE(has(cli.out.str(), "no changes")) << cli.out.str();
}

TEST_F(StackCommands, InstallFromAUrl) {
  cli.master->on_raw("GET /stacks/shop.yml", 200, kShop);
  cli.master->on("POST /v1/grids/demo/stacks", 201, stack_json("shop"));
  ASSERT_EQ(cli.run({"stack", "install", "--no-deploy", "http://files.example:8080/stacks/shop.yml"}), 0) << cli.err.str();
  ASSERT_EQ(cli.master->requests.size(), 2u);
  EXPECT_EQ(cli.master->requests[0].url.host, "files.example");
  EXPECT_EQ(cli.master->requests[0].url.port, "8080");
  EXPECT_TRUE(FakeMaster::header(cli.master->requests[0], "Authorization").empty()) << "no token sent elsewhere";
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[1])["services"][1]["image"], "redis:latest");

  cli.master->requests.clear();
  EXPECT_EQ(cli.run({"stack", "install", "http://files.example:8080/stacks/missing.yml"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "missing.yml")) << cli.err.str();
  EXPECT_TRUE(has(cli.err.str(), "404")) << cli.err.str();
  EXPECT_EQ(cli.master->requests.size(), 1u) << "only the failed fetch";
}

TEST_F(StackCommands, FollowRidesOutAShortMasterOutage) {
  cli.master->on("POST /v1/stacks/demo/shop/deploy", 201, stack_deploy(12, "ongoing", json::array()));
  const std::string poll = "GET /v1/stacks/demo/shop/deploys/12";
  cli.master->on(poll, 503, {{"error", "restarting"}});
  cli.master->on(poll, 503, {{"error", "restarting"}});
  cli.master->on(poll, 200, stack_deploy(12, "success", json::array()));
  ASSERT_EQ(cli.run({"stack", "deploy", "shop"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->find("GET", "/v1/stacks/demo/shop/deploys/12").size(), 3u);

  // A master that stays away: the follow gives up with its error after kFollowRetries.
  cli.master->requests.clear();
  cli.master->on("POST /v1/stacks/demo/down/deploy", 201, stack_deploy(13, "ongoing", json::array()));
  cli.master->on("GET /v1/stacks/demo/down/deploys/13", 503, {{"error", "the store is unavailable"}});
  EXPECT_EQ(cli.run({"stack", "deploy", "down"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "the store is unavailable")) << cli.err.str();
  EXPECT_EQ(cli.master->find("GET", "/v1/stacks/demo/down/deploys/13").size(), static_cast<std::size_t>(kFollowRetries + 1));

  // Other errors end the follow at once.
  cli.master->requests.clear();
  cli.master->on("POST /v1/stacks/demo/gone/deploy", 201, stack_deploy(14, "ongoing", json::array()));
  cli.master->on("GET /v1/stacks/demo/gone/deploys/14", 404, {{"error", "stack gone not found"}});
  EXPECT_EQ(cli.run({"stack", "deploy", "gone"}), 1);
  EXPECT_EQ(cli.master->find("GET", "/v1/stacks/demo/gone/deploys/14").size(), 1u);
}

TEST_F(StackCommands, FollowGivesUpAfterTheLimit) {
  cli.master->on("POST /v1/stacks/demo/shop/deploy", 201, stack_deploy(12, "ongoing", json::array()));
  cli.master->on("GET /v1/stacks/demo/shop/deploys/12", 200, stack_deploy(12, "ongoing", json::array()));
  EXPECT_EQ(cli.run({"stack", "deploy", "shop"}), 1);
  EXPECT_TRUE(has(cli.err.str(), "gave up following the deploy of stack shop after 40 minutes")) << cli.err.str();
  const auto limit_ms = std::chrono::duration_cast<std::chrono::milliseconds>(kFollowLimit).count();
  EXPECT_GE(static_cast<long long>(sleeps) * kDeployPollInterval.count(), limit_ms);
  EXPECT_LE(static_cast<long long>(sleeps - 1) * kDeployPollInterval.count(), limit_ms + kDeployPollInterval.count());
}

TEST_F(StackCommands, NamesAreCheckedBeforeAnythingIsSent) {
  const auto file = write("kontena.yml", kShop);
  for (const char* bad : {"null", "-x", "UPPER", "a_b"}) {
    EXPECT_EQ(cli.run({"stack", "install", file, "-n", bad}), 1) << bad;
    // "-x" as a positional is an unknown option: a usage error (2).
    EXPECT_EQ(cli.run({"stack", "show", bad}), bad[0] == '-' ? 2 : 1) << bad;
    EXPECT_EQ(cli.run({"stack", "rm", "--force", bad}), bad[0] == '-' ? 2 : 1) << bad;
  }
  EXPECT_EQ(cli.run({"stack", "deploy", std::string(64, 'a')}), 1);
  EXPECT_TRUE(has(cli.err.str(), "at most 63 characters")) << cli.err.str();
  EXPECT_TRUE(cli.master->requests.empty());
}
