// Whole commands, parsed by the real command tree, against the fake master.
#include <gtest/gtest.h>

#include "fake_master.h"

using namespace kontena;
using namespace kontena::cli;
using kontena::cli::testing::CliHarness;
using kontena::cli::testing::FakeMaster;
using nlohmann::json;

namespace {

json grid_json(const std::string& name, int initial_size = 1) {
  return {{"id", name},         {"name", name},       {"token", "grid-token-" + name}, {"initial_size", initial_size},
          {"node_count", 2},    {"user_count", 1},    {"subnet", "10.81.0.0/16"},      {"supernet", "10.80.0.0/12"},
          {"default_affinity", json::array()},        {"trusted_subnets", json::array()},
          {"stats", json::object()},                  {"logs", json::object()}};
}

json node_json(const std::string& name, int number, bool initial, std::vector<std::string> labels = {}) {
  return {{"id", "demo/" + name}, {"name", name},         {"grid", "demo"},        {"node_number", number},
          {"initial_member", initial}, {"status", "created"}, {"agent_version", nullptr}, {"labels", labels},
          {"availability", "active"}, {"connected", false}};
}

}  // namespace

TEST(Cli, BareCommandsPrintHelpAndSucceed) {
  CliHarness cli;
  EXPECT_EQ(cli.run({}), 0);
  EXPECT_NE(cli.out.str().find("Usage: kontena"), std::string::npos) << cli.out.str();
  EXPECT_EQ(cli.run({"grid"}), 0);
  EXPECT_NE(cli.out.str().find("Usage: kontena grid"), std::string::npos) << cli.out.str();
  EXPECT_NE(cli.out.str().find("create"), std::string::npos);
  EXPECT_EQ(cli.run({"master", "user"}), 0);
  EXPECT_NE(cli.out.str().find("Usage: kontena master user"), std::string::npos) << cli.out.str();
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST(Cli, HelpOnACommandSucceeds) {
  CliHarness cli;
  EXPECT_EQ(cli.run({"grid", "create", "--help"}), 0);
  EXPECT_NE(cli.out.str().find("--initial-size"), std::string::npos) << cli.out.str();
  EXPECT_EQ(cli.run({"--version"}), 0);
  EXPECT_NE(cli.out.str().find(KONTENA_VERSION), std::string::npos);
}

TEST(Cli, UsageErrorsExitWith2) {
  CliHarness cli;
  cli.log_in("demo");
  EXPECT_EQ(cli.run({"grid", "create"}), 2);
  EXPECT_NE(cli.err.str().find("error: NAME is required"), std::string::npos) << cli.err.str();
  EXPECT_NE(cli.err.str().find("kontena grid create --help"), std::string::npos) << cli.err.str();
  EXPECT_EQ(cli.run({"grid", "list", "--bogus"}), 2);
  EXPECT_EQ(cli.run({"nosuchcommand"}), 2);
  EXPECT_EQ(cli.run({"grid", "create", "demo", "--initial-size", "9"}), 2);
  EXPECT_EQ(cli.run({"node", "update", "n1", "--availability", "maybe"}), 2);
  EXPECT_EQ(cli.run({"master", "login", "http://m:1"}), 2) << "neither --code nor --token";
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST(Cli, NotLoggedIn) {
  CliHarness cli;
  EXPECT_EQ(cli.run({"grid", "list"}), 1);
  EXPECT_EQ(cli.err.str(), "error: not logged in to a master: run 'kontena master login --code CODE URL' first\n");
}

TEST(Cli, NoGridSelected) {
  CliHarness cli;
  cli.log_in();
  EXPECT_EQ(cli.run({"node", "list"}), 1);
  EXPECT_EQ(cli.err.str(), "error: no grid selected: use --grid NAME or 'kontena grid use NAME'\n");
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST(Cli, MasterErrorsArePrintedWithExit1) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("POST /v1/grids", 422, {{"error", "must be 3..64 characters"}, {"field", "name"}});
  EXPECT_EQ(cli.run({"grid", "create", "ab"}), 1);
  EXPECT_EQ(cli.err.str(), "error: must be 3..64 characters (field: name)\n");
  EXPECT_EQ(cli.out.str(), "creating grid ab ... failed\n");
  EXPECT_EQ(cli.saved_config().servers[0].grid, "") << "a failed create selects nothing";
}

TEST(Cli, LoginWithCodeStoresTheTokenAndSelectsTheOnlyGrid) {
  CliHarness cli;
  cli.master->on("POST /oauth2/token", 200,
                 {{"id", 1}, {"access_token", "acc"}, {"refresh_token", "ref"}, {"expires_in", 7200},
                  {"user", {{"email", "admin"}}}});
  cli.master->on("GET /v1/grids", 200, {{"grids", {grid_json("demo")}}});
  ASSERT_EQ(cli.run({"master", "login", "--code", "secret123", "http://127.0.0.1:9292/"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "Authenticated to default as admin\nUsing grid demo\n");

  const auto login = cli.master->find("POST", "/oauth2/token");
  ASSERT_EQ(login.size(), 1u);
  EXPECT_EQ(FakeMaster::body_of(login[0]),
            (json{{"grant_type", "authorization_code"}, {"code", "secret123"}, {"expires_in", 7200}}));
  EXPECT_EQ(FakeMaster::header(cli.master->find("GET", "/v1/grids")[0], "Authorization"), "Bearer acc");

  const ClientConfig config = cli.saved_config();
  EXPECT_EQ(config.current_server, "default");
  ASSERT_EQ(config.servers.size(), 1u);
  EXPECT_EQ(config.servers[0].url, "http://127.0.0.1:9292");
  EXPECT_EQ(config.servers[0].username, "admin");
  EXPECT_EQ(config.servers[0].grid, "demo");
  EXPECT_EQ(config.servers[0].token->access_token, "acc");
  EXPECT_EQ(config.servers[0].token->refresh_token, "ref");
  EXPECT_EQ(config.servers[0].token->expires_at, cli.clock.now_unix_ms() / 1000 + 7200);
}

TEST(Cli, LoginNamesNewMastersWithoutOverwritingOthers) {
  CliHarness cli;
  cli.master->on("POST /oauth2/token", 200, {{"access_token", "acc"}, {"expires_in", nullptr}, {"user", {{"email", "a"}}}});
  cli.master->on("GET /v1/grids", 200, {{"grids", json::array()}});
  ASSERT_EQ(cli.run({"master", "login", "-c", "x", "-e", "0", "http://one:9292"}), 0) << cli.err.str();
  ASSERT_EQ(cli.run({"master", "login", "-c", "x", "http://two:9292"}), 0) << cli.err.str();
  ASSERT_EQ(cli.run({"master", "login", "-c", "x", "http://one:9292"}), 0) << cli.err.str();
  ASSERT_EQ(cli.run({"master", "login", "-c", "x", "--name", "named", "http://three:9292"}), 0) << cli.err.str();
  const ClientConfig config = cli.saved_config();
  ASSERT_EQ(config.servers.size(), 3u);
  EXPECT_EQ(config.servers[0].name, "default");
  EXPECT_EQ(config.servers[1].name, "default-2");
  EXPECT_EQ(config.servers[2].name, "named");
  EXPECT_EQ(config.current_server, "named");
  EXPECT_FALSE(config.servers[0].token->expires_at) << "-e 0 = never expires";
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[0])["expires_in"], 0);
}

TEST(Cli, LoginWithTokenVerifiesIt) {
  CliHarness cli;
  cli.master->on("GET /v1/user", 200, {{"email", "ops@example.com"}});
  cli.master->on("GET /v1/grids", 200, {{"grids", {grid_json("a"), grid_json("b")}}});
  ASSERT_EQ(cli.run({"master", "login", "--token", "tok", "https://m.example.com"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "Authenticated to default as ops@example.com\n") << "two grids: none selected";
  EXPECT_EQ(FakeMaster::header(cli.master->requests[0], "Authorization"), "Bearer tok");
  const ClientConfig config = cli.saved_config();
  EXPECT_EQ(config.servers[0].token->access_token, "tok");
  EXPECT_TRUE(config.servers[0].token->refresh_token.empty());
  EXPECT_EQ(config.servers[0].grid, "");
}

TEST(Cli, LoginWithABadCodeStoresNothing) {
  CliHarness cli;
  cli.master->on("POST /oauth2/token", 400, {{"error", "invalid or expired code"}});
  EXPECT_EQ(cli.run({"master", "login", "--code", "nope", "http://m:9292"}), 1);
  EXPECT_EQ(cli.err.str(), "error: invalid or expired code\n");
  EXPECT_TRUE(cli.saved_config().servers.empty());
}

TEST(Cli, LoginKeepsTheSpentCodesTokenWhenTheGridIsWrong) {
  CliHarness cli;
  cli.master->on("POST /oauth2/token", 200, {{"access_token", "acc"}, {"user", {{"email", "admin"}}}});
  cli.master->on("GET /v1/grids/nope", 404, {{"error", "grid nope does not exist"}});
  EXPECT_EQ(cli.run({"master", "login", "--code", "c", "--grid", "nope", "http://m:9292"}), 1);
  EXPECT_EQ(cli.err.str(), "error: grid nope does not exist\n");
  const ClientConfig config = cli.saved_config();
  ASSERT_EQ(config.servers.size(), 1u);
  EXPECT_EQ(config.servers[0].token->access_token, "acc");
  EXPECT_EQ(config.servers[0].grid, "");
}

TEST(Cli, LoginSavesATokenRefreshedWhileChoosingTheGrid) {
  CliHarness cli;
  // Expires within the refresh leeway, so listing the grids refreshes it first.
  cli.master->on("POST /oauth2/token", 200,
                 {{"access_token", "short"}, {"refresh_token", "r1"}, {"expires_in", 2}, {"user", {{"email", "admin"}}}});
  cli.master->on("POST /oauth2/token", 200, {{"access_token", "renewed"}, {"refresh_token", "r2"}, {"expires_in", 7200}});
  cli.master->on("GET /v1/grids", 200, {{"grids", {grid_json("demo")}}});
  ASSERT_EQ(cli.run({"master", "login", "--code", "c", "-e", "2", "http://m:9292"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::header(cli.master->find("GET", "/v1/grids")[0], "Authorization"), "Bearer renewed");
  const ClientConfig config = cli.saved_config();
  EXPECT_EQ(config.servers[0].token->access_token, "renewed");
  EXPECT_EQ(config.servers[0].token->refresh_token, "r2");
  EXPECT_EQ(config.servers[0].grid, "demo");
}

TEST(Cli, MasterJoinUsesTheInviteCode) {
  CliHarness cli;
  cli.master->on("POST /oauth2/token", 200, {{"access_token", "acc"}, {"user", {{"email", "bob"}}}});
  cli.master->on("GET /v1/grids", 200, {{"grids", json::array()}});
  ASSERT_EQ(cli.run({"master", "join", "http://m:9292", "inv123", "-n", "work"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[0])["code"], "inv123");
  EXPECT_EQ(cli.saved_config().current_server, "work");
}

TEST(Cli, MasterListUseCurrentRemove) {
  CliHarness cli;
  cli.log_in("demo");
  ClientConfig config = cli.saved_config();
  config.servers.push_back(ServerEntry{"other", "http://other:9292", "", "", std::nullopt, json::object()});
  save_config(config, cli.config_path());

  ASSERT_EQ(cli.run({"master", "ls"}), 0);
  EXPECT_EQ(cli.out.str(),
            "NAME     URL                 USER   GRID\n"
            "local *  http://master:9292  admin  demo\n"
            "other    http://other:9292   -      -\n");
  ASSERT_EQ(cli.run({"master", "list", "-q"}), 0);
  EXPECT_EQ(cli.out.str(), "local\nother\n");
  ASSERT_EQ(cli.run({"master", "use", "other"}), 0);
  ASSERT_EQ(cli.run({"master", "current"}), 0);
  EXPECT_EQ(cli.out.str(), "other http://other:9292\n");
  EXPECT_EQ(cli.run({"master", "use", "nope"}), 1);
  ASSERT_EQ(cli.run({"master", "rm", "other"}), 0);
  config = cli.saved_config();
  EXPECT_EQ(config.servers.size(), 1u);
  EXPECT_EQ(config.current_server, "");
  EXPECT_TRUE(cli.master->requests.empty()) << "all local";
}

TEST(Cli, LogoutRevokesAndForgetsTheToken) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /oauth2/tokens/current", 200, {{"id", 7}});
  cli.master->on("DELETE /oauth2/tokens/7", 200, json::object());
  ASSERT_EQ(cli.run({"master", "logout"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->find("DELETE", "/oauth2/tokens/7").size(), 1u);
  EXPECT_FALSE(cli.saved_config().servers[0].token);
  EXPECT_EQ(cli.run({"grid", "ls"}), 1);
  EXPECT_NE(cli.err.str().find("not logged in"), std::string::npos);
}

TEST(Cli, GridCreateSendsTheOptionsAndSelectsTheGrid) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("POST /v1/grids", 201, grid_json("demo", 3));
  ASSERT_EQ(cli.run({"grid", "create", "demo", "--initial-size", "3", "--default-affinity", "label==ssd",
                     "--default-affinity", "node!=n3", "--statsd-server", "stats:9000", "--log-forwarder", "fluentd",
                     "--log-opt", "tag=x"}),
            0)
      << cli.err.str();
  EXPECT_EQ(cli.out.str(), "creating grid demo ... done\nUsing grid demo\n");
  const auto create = cli.master->find("POST", "/v1/grids");
  ASSERT_EQ(create.size(), 1u);
  EXPECT_EQ(FakeMaster::body_of(create[0]),
            (json{{"name", "demo"},
                  {"initial_size", 3},
                  {"default_affinity", {"label==ssd", "node!=n3"}},
                  {"stats", {{"statsd", {{"server", "stats"}, {"port", 9000}}}}},
                  {"logs", {{"forwarder", "fluentd"}, {"opts", {{"tag", "x"}}}}}}));
  EXPECT_EQ(FakeMaster::header(create[0], "Authorization"), "Bearer access-1");
  EXPECT_EQ(cli.saved_config().servers[0].grid, "demo");
}

TEST(Cli, GridListMarksTheCurrentGrid) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/grids", 200, {{"grids", {grid_json("demo", 3), grid_json("test")}}});
  ASSERT_EQ(cli.run({"grid", "list"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "NAME    NODES  USERS  INITIAL\n"
            "demo *  2      1      3\n"
            "test    2      1      1\n");
  ASSERT_EQ(cli.run({"grid", "ls", "-q"}), 0);
  EXPECT_EQ(cli.out.str(), "demo\ntest\n");
  ASSERT_EQ(cli.run({"grid", "ls", "--json"}), 0);
  EXPECT_EQ(json::parse(cli.out.str())["grids"][1]["name"], "test");
}

TEST(Cli, GridEnvForAgents) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/grids/demo", 200, grid_json("demo"));
  ASSERT_EQ(cli.run({"grid", "env"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "KONTENA_URI=ws://master:9292\nKONTENA_TOKEN=grid-token-demo\n");
  ASSERT_EQ(cli.run({"grid", "env", "--export", "demo"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "export KONTENA_URI=ws://master:9292\nexport KONTENA_TOKEN=grid-token-demo\n");
}

TEST(Cli, GridShowPrintsKeyValueLines) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/grids/demo", 200, grid_json("demo", 3));
  ASSERT_EQ(cli.run({"grid", "show"}), 0) << cli.err.str();
  const std::string out = cli.out.str();
  EXPECT_EQ(out.rfind("demo:\n  uri: ws://master:9292\n  token: grid-token-demo\n  initial size: 3\n", 0), 0u) << out;
  EXPECT_NE(out.find("  nodes: 2\n"), std::string::npos) << out;
}

TEST(Cli, GridUseChecksTheGridAndCurrentPrintsIt) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("GET /v1/grids/nope", 404, {{"error", "grid nope does not exist"}});
  EXPECT_EQ(cli.run({"grid", "use", "nope"}), 1);
  EXPECT_EQ(cli.saved_config().servers[0].grid, "");
  cli.master->on("GET /v1/grids/demo", 200, grid_json("demo"));
  ASSERT_EQ(cli.run({"grid", "use", "demo"}), 0) << cli.err.str();
  EXPECT_EQ(cli.saved_config().servers[0].grid, "demo");
  ASSERT_EQ(cli.run({"grid", "current", "--name"}), 0);
  EXPECT_EQ(cli.out.str(), "demo\n");
}

TEST(Cli, GridRemoveNeedsForceWithoutATerminal) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("DELETE /v1/grids/demo", 200, json::object());
  EXPECT_EQ(cli.run({"grid", "rm", "demo"}), 1);
  EXPECT_EQ(cli.err.str(),
            "error: refusing to remove grid demo without confirmation: stdin is not a terminal, add --force\n");
  EXPECT_TRUE(cli.master->requests.empty());

  ASSERT_EQ(cli.run({"grid", "remove", "--force", "demo"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->find("DELETE", "/v1/grids/demo").size(), 1u);
  EXPECT_EQ(cli.saved_config().servers[0].grid, "") << "the removed grid is no longer selected";
}

TEST(Cli, GridRemoveAsksOnATerminal) {
  CliHarness cli;
  cli.log_in("demo");
  cli.stdin_is_terminal = true;
  cli.master->on("DELETE /v1/grids/demo", 200, json::object());
  cli.in.str("n\n");
  EXPECT_EQ(cli.run({"grid", "rm", "demo"}), 1);
  EXPECT_TRUE(cli.master->requests.empty());
  cli.in.clear();
  cli.in.str("y\n");
  ASSERT_EQ(cli.run({"grid", "rm", "demo"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "Are you sure you want to remove grid demo? [y/N] removing grid demo ... done\n");
}

TEST(Cli, GridUpdate) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("PUT /v1/grids/demo", 200, grid_json("demo"));
  ASSERT_EQ(cli.run({"grid", "update", "demo", "--no-default-affinity", "--statsd-server", "s"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[0]),
            (json{{"default_affinity", json::array()}, {"stats", {{"statsd", {{"server", "s"}, {"port", 8125}}}}}}));
  EXPECT_EQ(cli.run({"grid", "update", "demo", "--no-default-affinity", "--default-affinity", "a==b"}), 2);
  EXPECT_EQ(cli.run({"grid", "update", "demo"}), 1);
  EXPECT_NE(cli.err.str().find("nothing to update"), std::string::npos);
}

TEST(Cli, GridFromOptionAndEnvironment) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/grids/envgrid", 200, grid_json("envgrid"));
  cli.master->on("GET /v1/grids/envgrid/nodes", 200, {{"nodes", json::array()}});
  cli.master->on("GET /v1/grids/optgrid", 200, grid_json("optgrid"));
  cli.master->on("GET /v1/grids/optgrid/nodes", 200, {{"nodes", json::array()}});
  cli.env["KONTENA_GRID"] = "envgrid";
  ASSERT_EQ(cli.run({"node", "ls"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->requests.back().target, "/v1/grids/envgrid/nodes");
  ASSERT_EQ(cli.run({"node", "ls", "--grid", "optgrid"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->requests.back().target, "/v1/grids/optgrid/nodes");
}

TEST(Cli, EnvironmentTokenAndUrlWithoutConfig) {
  CliHarness cli;
  cli.env["KONTENA_URL"] = "http://envmaster:1234";
  cli.env["KONTENA_TOKEN"] = "envtoken";
  cli.master->on("GET /v1/grids", 200, {{"grids", json::array()}});
  ASSERT_EQ(cli.run({"grid", "ls", "-q"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->requests[0].url.host, "envmaster");
  EXPECT_EQ(cli.master->requests[0].url.port, "1234");
  EXPECT_EQ(FakeMaster::header(cli.master->requests[0], "Authorization"), "Bearer envtoken");
}

TEST(Cli, NodeListShowsInitialMembers) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/grids/demo", 200, grid_json("demo", 3));
  json second = node_json("node-4", 4, false);
  second["agent_version"] = "0.1.0";
  second["status"] = "online";
  cli.master->on("GET /v1/grids/demo/nodes", 200, {{"nodes", {node_json("node-1", 1, true, {"a=b", "c=d"}), second}}});
  ASSERT_EQ(cli.run({"node", "list"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "NAME    VERSION  STATUS   INITIAL  LABELS\n"
            "node-1  -        created  1 / 3    a=b,c=d\n"
            "node-4  0.1.0    online   -        -\n");
}

TEST(Cli, NodeListAllGrids) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("GET /v1/grids", 200, {{"grids", {grid_json("demo", 1), grid_json("prod", 1)}}});
  cli.master->on("GET /v1/grids/demo/nodes", 200, {{"nodes", {node_json("a", 1, true)}}});
  cli.master->on("GET /v1/grids/prod/nodes", 200, {{"nodes", {node_json("b", 1, true)}}});
  ASSERT_EQ(cli.run({"node", "ls", "--all", "-q"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "demo/a\nprod/b\n");
}

TEST(Cli, NodeCreateUpdateAndLabels) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("POST /v1/grids/demo/nodes", 201, node_json("n1", 1, true));
  ASSERT_EQ(cli.run({"node", "create", "n1", "--token", "t", "-l", "a=b", "-l", "c=d"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()),
            (json{{"name", "n1"}, {"token", "t"}, {"labels", {"a=b", "c=d"}}}));

  cli.master->on("PUT /v1/nodes/demo/n1", 200, node_json("n1", 1, true));
  ASSERT_EQ(cli.run({"node", "update", "n1", "--availability", "drain"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()), (json{{"availability", "drain"}}));

  cli.master->on("GET /v1/nodes/demo/n1", 200, node_json("n1", 1, true, {"a=b", "c=d"}));
  ASSERT_EQ(cli.run({"node", "label", "add", "n1", "e=f", "a=b"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->requests.back().method, "PUT");
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()), (json{{"labels", {"a=b", "c=d", "e=f"}}}));
  ASSERT_EQ(cli.run({"node", "label", "rm", "n1", "a=b"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()), (json{{"labels", {"c=d"}}}));
  const std::size_t before = cli.master->requests.size();
  EXPECT_EQ(cli.run({"node", "label", "rm", "n1", "x=y"}), 1);
  EXPECT_EQ(cli.master->requests.back().method, "GET") << "nothing written for an unknown label";
  EXPECT_EQ(cli.master->requests.size(), before + 1);
  ASSERT_EQ(cli.run({"node", "label", "ls", "n1"}), 0);
  EXPECT_EQ(cli.out.str(), "a=b\nc=d\n");
}

TEST(Cli, NodeTokenCommands) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("GET /v1/nodes/demo/n1/token", 200, {{"id", "demo/n1"}, {"token", "node-secret"}});
  ASSERT_EQ(cli.run({"node", "env", "n1"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "KONTENA_URI=ws://master:9292\nKONTENA_NODE_TOKEN=node-secret\n");

  cli.master->on("PUT /v1/nodes/demo/n1/token", 200, {{"id", "demo/n1"}, {"token", "new"}});
  ASSERT_EQ(cli.run({"node", "reset-token", "n1", "--reset-connection"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()), (json{{"reset_connection", true}}));
  cli.master->on("DELETE /v1/nodes/demo/n1/token", 200, json::object());
  ASSERT_EQ(cli.run({"node", "reset-token", "n1", "--clear-token"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->requests.back().method, "DELETE");
  EXPECT_EQ(cli.run({"node", "reset-token", "n1", "--clear-token", "--token", "x"}), 2);
}

TEST(Cli, NodeRemoveWithForce) {
  CliHarness cli;
  cli.log_in("demo");
  cli.master->on("DELETE /v1/nodes/demo/n1", 200, json::object());
  cli.master->on("DELETE /v1/nodes/demo/n2", 200, json::object());
  EXPECT_EQ(cli.run({"node", "rm", "n1"}), 1);
  ASSERT_EQ(cli.run({"node", "rm", "--force", "n1", "n2"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->requests.size(), 2u);
}

TEST(Cli, ExpiredTokenIsRefreshedAndSaved) {
  CliHarness cli;
  cli.log_in("demo", cli.clock.now_unix_ms() / 1000 - 60, "refresh-1");
  cli.master->on("POST /oauth2/token", 200,
                 {{"access_token", "access-2"}, {"refresh_token", "refresh-2"}, {"expires_in", 7200}});
  cli.master->on("GET /v1/grids", 200, {{"grids", json::array()}});
  ASSERT_EQ(cli.run({"grid", "ls"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[0]),
            (json{{"grant_type", "refresh_token"}, {"refresh_token", "refresh-1"}}));
  EXPECT_EQ(FakeMaster::header(cli.master->requests[1], "Authorization"), "Bearer access-2");
  const ClientConfig config = cli.saved_config();
  EXPECT_EQ(config.servers[0].token->access_token, "access-2");
  EXPECT_EQ(config.servers[0].token->refresh_token, "refresh-2");
  EXPECT_EQ(config.servers[0].grid, "demo") << "the rest of the entry is unchanged";
}

TEST(Cli, UserCommands) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("POST /oauth2/authorize", 200, {{"email", "bob@example.com"}, {"invite_code", "inv1"}});
  cli.master->on("POST /v1/users/bob@example.com/roles", 200, json::object());
  ASSERT_EQ(cli.run({"master", "user", "invite", "bob@example.com", "-r", "grid_admin,user_admin"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "bob@example.com  inv1\n");
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests[0]),
            (json{{"response_type", "invite"}, {"email", "bob@example.com"}}));
  const auto roles = cli.master->find("POST", "/v1/users/bob@example.com/roles");
  ASSERT_EQ(roles.size(), 2u);
  EXPECT_EQ(FakeMaster::body_of(roles[1]), (json{{"role", "user_admin"}}));

  cli.master->on("GET /v1/users", 200,
                 {{"users", {{{"email", "admin"}, {"roles", {{{"name", "master_admin"}}}}},
                             {{"email", "bob@example.com"}, {"roles", json::array()}}}}});
  ASSERT_EQ(cli.run({"master", "user", "ls"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "EMAIL            ROLES\n"
            "admin            master_admin\n"
            "bob@example.com  -\n");

  cli.master->on("DELETE /v1/users/bob@example.com/roles/grid_admin", 200, json::object());
  ASSERT_EQ(cli.run({"master", "user", "role", "rm", "grid_admin", "bob@example.com"}), 0) << cli.err.str();
  EXPECT_EQ(cli.master->requests.back().target, "/v1/users/bob@example.com/roles/grid_admin");
}

TEST(Cli, InviteCodeIsPrintedEvenWhenARoleFails) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("POST /oauth2/authorize", 200, {{"email", "bob"}, {"invite_code", "inv1"}});
  cli.master->on("POST /v1/users/bob/roles", 422, {{"error", "role \"x\" does not exist"}, {"field", "role"}});
  EXPECT_EQ(cli.run({"master", "user", "invite", "bob", "--roles", "x"}), 1);
  EXPECT_EQ(cli.out.str(), "bob  inv1\n");
  EXPECT_EQ(cli.err.str(), "error: role \"x\" does not exist\n");
}

TEST(Cli, VersionWithAnUnreachableMasterWarns) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("GET /", 503, {{"error", "store unavailable"}});
  ASSERT_EQ(cli.run({"version"}), 0);
  EXPECT_EQ(cli.out.str(), std::string("cli: ") + KONTENA_VERSION + "\n");
  EXPECT_EQ(cli.err.str(), "warning: no master version: store unavailable\n");
}

TEST(Cli, TokenCommands) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("POST /oauth2/authorize", 200, {{"access_token", "created-token"}, {"code", "login-code"}});
  ASSERT_EQ(cli.run({"master", "token", "create", "-d", "ci", "-e", "3600"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "created-token\n");
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()),
            (json{{"response_type", "token"}, {"expires_in", 3600}, {"description", "ci"}}));
  ASSERT_EQ(cli.run({"master", "token", "create", "--code", "-u", "bob"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "login-code\n");
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()), (json{{"response_type", "code"}, {"user", "bob"}}));

  cli.master->on("GET /oauth2/tokens", 200,
                 {{"access_tokens",
                   {{{"id", 7}, {"token_last4", "ab12"}, {"description", "ci"}, {"expires_at", nullptr},
                     {"created_at", "2023-11-14T22:13:20.000Z"}}}}});
  ASSERT_EQ(cli.run({"master", "token", "ls"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "ID  LAST4  DESCRIPTION  EXPIRES  CREATED\n"
            "7   ab12   ci           never    2023-11-14 22:13:20\n");

  cli.master->on("GET /oauth2/tokens/current", 200, {{"id", 3}});
  ASSERT_EQ(cli.run({"master", "token", "current", "--token"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "access-1\n");
}

TEST(Cli, AuditLogTable) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("GET /v1/audit_logs?limit=2", 200,
                 {{"logs",
                   {{{"time", "2023-11-14T22:13:20.000Z"}, {"user_identity", {{"email", "admin"}}}, {"grid", "demo"},
                     {"resource_type", "grid"}, {"resource_name", "demo"}, {"event_name", "create"},
                     {"event_status", "success"}, {"http_status", 201}, {"source_ip", "127.0.0.1"}}}}});
  ASSERT_EQ(cli.run({"master", "audit-log", "--limit", "2"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(),
            "TIME                 USER   GRID  RESOURCE   EVENT   STATUS   SOURCE\n"
            "2023-11-14 22:13:20  admin  demo  grid:demo  create  success  127.0.0.1\n");
}

TEST(Cli, MasterConfig) {
  CliHarness cli;
  cli.log_in();
  cli.master->on("PATCH /v1/config", 200, json::object());
  ASSERT_EQ(cli.run({"master", "config", "set", "a.b=1", "c=2"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()), (json{{"a.b", "1"}, {"c", "2"}}));
  ASSERT_EQ(cli.run({"master", "config", "unset", "a.b"}), 0) << cli.err.str();
  EXPECT_EQ(FakeMaster::body_of(cli.master->requests.back()), (json{{"a.b", nullptr}}));
  cli.master->on("GET /v1/config/c", 200, {{"c", "2"}});
  ASSERT_EQ(cli.run({"master", "config", "get", "c"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "2\n");
}

TEST(Cli, Whoami) {
  CliHarness cli;
  cli.log_in("demo");
  ASSERT_EQ(cli.run({"whoami"}), 0) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "Master: local\nURL: http://master:9292\nGrid: demo\nUser: admin\n");
}

TEST(Cli, VersionWithAndWithoutAMaster) {
  CliHarness cli;
  ASSERT_EQ(cli.run({"version"}), 0);
  EXPECT_EQ(cli.out.str(), std::string("cli: ") + KONTENA_VERSION + "\n");
  cli.log_in();
  cli.master->on("GET /", 200, {{"name", "Kontena Master"}, {"version", "9.9.9"}});
  ASSERT_EQ(cli.run({"version"}), 0);
  EXPECT_EQ(cli.out.str(), std::string("cli: ") + KONTENA_VERSION + "\nmaster: 9.9.9 (http://master:9292)\n");
  EXPECT_EQ(FakeMaster::header(cli.master->requests.back(), "Authorization"), "") << "GET / is public";
}
