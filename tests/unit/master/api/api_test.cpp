// The REST API in-process: every route's happy path, its auth rules and its bad inputs, and
// that a rejected call stores nothing.
#include "api/api_fixture.h"

using namespace kontena::master;
using namespace kontena::master::testing;
using nlohmann::json;

namespace {
class Api : public ApiFixture {
 protected:
  std::size_t grid_count() { return store_->grids().size(); }
};
}  // namespace

TEST_F(Api, RootAndPingArePublic) {
  auto r = call("GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["name"], "Kontena Master");
  EXPECT_EQ(r.body["version"], KONTENA_VERSION);
  EXPECT_EQ(call("GET", "/v1/ping").body["message"], "pong");
}

TEST_F(Api, UnknownRouteAndMethod) {
  EXPECT_EQ(call("GET", "/v1/nope", admin_token_).status, 404);
  EXPECT_EQ(call("PATCH", "/v1/grids", admin_token_).status, 405);
}

TEST_F(Api, AuthenticationRequired) {
  auto r = call("GET", "/v1/grids");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body["error"].get<std::string>().find("authentication required"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1/grids", std::string(64, 'f')).status, 401);
  EXPECT_EQ(call("GET", "/v1/user", admin_token_).body["email"], "admin");
}

TEST_F(Api, LoginTokenExpiresAndRefreshes) {
  auto code = call("POST", "/oauth2/authorize", admin_token_, json{{"response_type", "code"}});
  ASSERT_EQ(code.status, 201);
  auto tok = call("POST", "/oauth2/token", "",
                  json{{"grant_type", "authorization_code"}, {"code", code.body["code"]}, {"expires_in", 60}});
  ASSERT_EQ(tok.status, 201);
  EXPECT_EQ(tok.body["expires_in"], 60);
  clock_.advance(std::chrono::seconds(61));
  EXPECT_EQ(call("GET", "/v1/user", tok.body["access_token"]).status, 401);
  auto refreshed = call("POST", "/oauth2/token", "",
                        json{{"grant_type", "refresh_token"}, {"refresh_token", tok.body["refresh_token"]}});
  ASSERT_EQ(refreshed.status, 201);
  EXPECT_EQ(call("GET", "/v1/user", refreshed.body["access_token"]).status, 200);
  EXPECT_EQ(call("POST", "/oauth2/token", "", json{{"grant_type", "password"}}).status, 422);
}

TEST_F(Api, TokenCreateListRemove) {
  auto created = call("POST", "/oauth2/authorize", admin_token_,
                      json{{"response_type", "token"}, {"description", "ci"}});
  ASSERT_EQ(created.status, 201);
  EXPECT_TRUE(created.body["expires_in"].is_null());
  std::string token = created.body["access_token"];
  auto list = call("GET", "/oauth2/tokens", token);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["access_tokens"].size(), 2u);
  for (const auto& t : list.body["access_tokens"]) EXPECT_FALSE(t.contains("access_token"));
  EXPECT_EQ(call("GET", "/oauth2/tokens/current", token).body["description"], "ci");
  auto id = std::to_string(created.body["id"].get<int>());
  EXPECT_EQ(call("DELETE", "/oauth2/tokens/" + id, admin_token_).status, 200);
  EXPECT_EQ(call("GET", "/v1/user", token).status, 401);
  EXPECT_EQ(call("DELETE", "/oauth2/tokens/" + id, admin_token_).status, 404);
  EXPECT_EQ(call("DELETE", "/oauth2/tokens/abc", admin_token_).status, 404);
}

TEST_F(Api, GridLifecycle) {
  auto r = call("POST", "/v1/grids", admin_token_,
                json{{"name", "demo"}, {"initial_size", 3}, {"default_affinity", {"label==az=a"}},
                     {"trusted_subnets", {"192.168.0.0/24"}}, {"stats", {{"statsd", {{"server", "10.0.0.1"}}}}}});
  ASSERT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body["initial_size"], 3);
  EXPECT_EQ(r.body["subnet"], "10.81.0.0/16");
  EXPECT_EQ(r.body["supernet"], "10.80.0.0/12");
  EXPECT_EQ(r.body["user_count"], 1);
  EXPECT_GE(r.body["token"].get<std::string>().size(), 64u);
  EXPECT_EQ(call("GET", "/v1/grids", admin_token_).body["grids"].size(), 1u);
  EXPECT_EQ(call("GET", "/v1/grids/demo", admin_token_).body["stats"]["statsd"]["port"], 8125);

  auto u = call("PUT", "/v1/grids/demo", admin_token_, json{{"default_affinity", json::array()}, {"stats", nullptr}});
  ASSERT_EQ(u.status, 200) << u.body.dump();
  EXPECT_TRUE(u.body["default_affinity"].empty());
  EXPECT_TRUE(u.body["stats"].empty());
  EXPECT_EQ(u.body["trusted_subnets"][0], "192.168.0.0/24");
  EXPECT_EQ(call("PUT", "/v1/grids/demo", admin_token_, json{{"initial_size", 5}}).status, 422);

  EXPECT_EQ(call("DELETE", "/v1/grids/demo", admin_token_).status, 200);
  EXPECT_EQ(call("GET", "/v1/grids/demo", admin_token_).status, 404);
  EXPECT_EQ(grid_count(), 0u);
}

TEST_F(Api, GridBadInputsStoreNothing) {
  struct Case {
    std::string body;
    int status;
    std::string message;
  };
  std::vector<Case> cases = {
      {"{\"name\": \"demo\"", 400, "not valid JSON"},
      {"[\"demo\"]", 400, "JSON object"},
      {R"({})", 422, "name is required"},
      {R"({"name": 42})", 422, "name must be a string"},
      {R"({"name": "ab"})", 422, "too short"},
      {R"({"name": "my grid"})", 422, "letters, digits"},
      {R"({"name": "demo", "initial_size": 0})", 422, "between 1 and 7"},
      {R"({"name": "demo", "initial_size": 8})", 422, "between 1 and 7"},
      {R"({"name": "demo", "initial_size": "3"})", 422, "must be an integer"},
      {R"({"name": "demo", "subnet": "10.81.0.0"})", 422, "IPv4 CIDR"},
      {R"({"name": "demo", "subnet": "10.200.0.0/16"})", 422, "not inside supernet"},
      {R"({"name": "demo", "default_affinity": "node==a"})", 422, "array of strings"},
      {R"({"name": "demo", "default_affinity": ["node=a"]})", 422, "default_affinity"},
      {R"({"name": "demo", "trusted_subnets": ["x"]})", 422, "trusted_subnets"},
      {R"({"name": "demo", "logs": {"forwarder": "splunk"}})", 422, "not supported"},
      {R"({"name": "demo", "token": "short"})", 422, "token must be"},
      {R"({"name": "demo", "colour": "blue"})", 422, "unknown field \"colour\""},
  };
  for (const auto& c : cases) {
    auto r = call("POST", "/v1/grids", admin_token_, c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body.dump();
    EXPECT_NE(r.body.value("error", "").find(c.message), std::string::npos) << c.body << " -> " << r.body.dump();
  }
  EXPECT_EQ(grid_count(), 0u);
  // Duplicates: 409 and the first one unchanged.
  ASSERT_EQ(call("POST", "/v1/grids", admin_token_, json{{"name", "demo"}, {"initial_size", 3}}).status, 201);
  auto dup = call("POST", "/v1/grids", admin_token_, json{{"name", "demo"}, {"initial_size", 1}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_NE(dup.body["error"].get<std::string>().find("already exists"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1/grids/demo", admin_token_).body["initial_size"], 3);
  EXPECT_EQ(grid_count(), 1u);
}

TEST_F(Api, NodeLifecycleAndTokens) {
  ASSERT_EQ(call("POST", "/v1/grids", admin_token_, json{{"name", "demo"}, {"initial_size", 2}}).status, 201);
  auto n1 = call("POST", "/v1/grids/demo/nodes", admin_token_, json{{"name", "node-1"}, {"labels", {"az=a"}}});
  ASSERT_EQ(n1.status, 201) << n1.body.dump();
  EXPECT_EQ(n1.body["status"], "created");
  EXPECT_EQ(n1.body["node_number"], 1);
  EXPECT_EQ(n1.body["initial_member"], true);
  EXPECT_EQ(n1.body["has_token"], true);
  auto n2 = call("POST", "/v1/grids/demo/nodes", admin_token_, json{{"name", "node-2"}});
  auto n3 = call("POST", "/v1/grids/demo/nodes", admin_token_,
                 json{{"name", "node-3"}, {"token", "0123456789abcdef0123"}});
  EXPECT_EQ(n3.body["node_number"], 3);
  EXPECT_EQ(n3.body["initial_member"], false);
  EXPECT_EQ(call("GET", "/v1/nodes/demo/node-3/token", admin_token_).body["token"], "0123456789abcdef0123");
  EXPECT_EQ(call("GET", "/v1/grids/demo/nodes", admin_token_).body["nodes"].size(), 3u);

  auto upd = call("PUT", "/v1/nodes/demo/node-1", admin_token_, json{{"availability", "drain"}, {"labels", {"az=b"}}});
  ASSERT_EQ(upd.status, 200) << upd.body.dump();
  EXPECT_EQ(upd.body["availability"], "drain");
  EXPECT_EQ(upd.body["labels"][0], "az=b");
  EXPECT_EQ(call("PUT", "/v1/nodes/demo/node-1", admin_token_, json{{"availability", "paused"}}).status, 422);

  auto reset = call("PUT", "/v1/nodes/demo/node-1/token", admin_token_, json::object());
  ASSERT_EQ(reset.status, 200);
  EXPECT_NE(reset.body["token"], call("GET", "/v1/nodes/demo/node-2/token", admin_token_).body["token"]);
  // Another node's token cannot be reused.
  EXPECT_EQ(call("PUT", "/v1/nodes/demo/node-2/token", admin_token_, json{{"token", "0123456789abcdef0123"}}).status,
            409);
  EXPECT_EQ(call("DELETE", "/v1/nodes/demo/node-2/token", admin_token_).status, 200);
  EXPECT_EQ(call("GET", "/v1/nodes/demo/node-2/token", admin_token_).status, 404);

  // Bad node inputs.
  EXPECT_EQ(call("POST", "/v1/grids/demo/nodes", admin_token_, json{{"name", "node-1"}}).status, 409);
  EXPECT_EQ(call("POST", "/v1/grids/demo/nodes", admin_token_, json{{"name", "-bad"}}).status, 422);
  EXPECT_EQ(call("POST", "/v1/grids/demo/nodes", admin_token_, json{{"name", "n9"}, {"labels", {"a b"}}}).status, 422);
  EXPECT_EQ(call("POST", "/v1/grids/nope/nodes", admin_token_, json{{"name", "n9"}}).status, 404);
  EXPECT_EQ(call("GET", "/v1/nodes/demo/unknown", admin_token_).status, 404);
  EXPECT_EQ(call("GET", "/v1/grids/demo/nodes", admin_token_).body["nodes"].size(), 3u);

  // A grid with nodes is not removed; after removing them it is.
  EXPECT_EQ(call("DELETE", "/v1/grids/demo", admin_token_).status, 422);
  for (auto n : {"node-1", "node-2", "node-3"}) EXPECT_EQ(call("DELETE", std::string("/v1/nodes/demo/") + n, admin_token_).status, 200);
  // Node numbers are reused from the lowest.
  EXPECT_EQ(call("POST", "/v1/grids/demo/nodes", admin_token_, json{{"name", "again"}}).body["node_number"], 1);
}

TEST_F(Api, RolesAndMembership) {
  auto alice = user_token("alice@example.com");
  auto bob = user_token("bob@example.com");
  ASSERT_EQ(call("POST", "/v1/grids", admin_token_, json{{"name", "prod"}}).status, 201);
  // Plain users cannot create grids, nor see grids they do not belong to.
  EXPECT_EQ(call("POST", "/v1/grids", alice, json{{"name", "mine"}}).status, 403);
  EXPECT_EQ(call("GET", "/v1/grids", alice).body["grids"].size(), 0u);
  EXPECT_EQ(call("GET", "/v1/grids/prod", alice).status, 403);
  EXPECT_EQ(call("GET", "/v1/users", alice).status, 403);
  EXPECT_EQ(call("GET", "/v1/audit_logs", alice).status, 403);
  EXPECT_EQ(call("GET", "/v1/config", alice).status, 403);

  ASSERT_EQ(call("POST", "/v1/grids/prod/users", admin_token_, json{{"email", "alice@example.com"}}).status, 200);
  EXPECT_EQ(call("GET", "/v1/grids", alice).body["grids"].size(), 1u);
  EXPECT_EQ(call("POST", "/v1/grids/prod/nodes", alice, json{{"name", "n1"}}).status, 201);
  // Members without grid_admin cannot change or remove the grid or its nodes.
  EXPECT_EQ(call("PUT", "/v1/grids/prod", alice, json{{"default_affinity", json::array()}}).status, 403);
  EXPECT_EQ(call("DELETE", "/v1/nodes/prod/n1", alice).status, 403);

  // grid_admin: may create grids and administer those it belongs to.
  auto granted = call("POST", "/v1/users/alice@example.com/roles", admin_token_, json{{"role", "grid_admin"}});
  ASSERT_EQ(granted.status, 200);
  EXPECT_EQ(granted.body["roles"][0]["name"], "grid_admin");
  EXPECT_EQ(call("DELETE", "/v1/nodes/prod/n1", alice).status, 200);
  EXPECT_EQ(call("POST", "/v1/grids", alice, json{{"name", "alices"}}).status, 201);
  EXPECT_EQ(call("GET", "/v1/grids/alices", bob).status, 403);
  EXPECT_EQ(call("GET", "/v1/grids", admin_token_).body["grids"].size(), 2u);

  // user_admin can invite but cannot grant master_admin; nobody can remove the last master_admin.
  ASSERT_EQ(call("POST", "/v1/users/bob@example.com/roles", admin_token_, json{{"role", "user_admin"}}).status, 200);
  EXPECT_EQ(call("POST", "/oauth2/authorize", bob, json{{"response_type", "invite"}, {"email", "carol@example.com"}}).status, 201);
  EXPECT_EQ(call("POST", "/v1/users/bob@example.com/roles", bob, json{{"role", "master_admin"}}).status, 403);
  EXPECT_EQ(call("POST", "/v1/users/bob@example.com/roles", admin_token_, json{{"role", "root"}}).status, 422);
  EXPECT_EQ(call("DELETE", "/v1/users/admin", admin_token_).status, 422);
  EXPECT_EQ(call("DELETE", "/v1/users/admin/roles/master_admin", admin_token_).status, 422);
  EXPECT_EQ(call("DELETE", "/v1/users/carol@example.com", bob).status, 200);
  EXPECT_EQ(call("DELETE", "/v1/users/carol@example.com", bob).status, 404);
  // Removing a user revokes their tokens.
  EXPECT_EQ(call("DELETE", "/v1/users/alice@example.com", admin_token_).status, 200);
  EXPECT_EQ(call("GET", "/v1/user", alice).status, 401);
}

TEST_F(Api, InviteCodeIsOneUse) {
  auto inv = call("POST", "/oauth2/authorize", admin_token_, json{{"response_type", "invite"}, {"email", "dan@example.com"}});
  ASSERT_EQ(inv.status, 201);
  std::string code = inv.body["invite_code"];
  EXPECT_EQ(login(code).size(), 64u);
  EXPECT_EQ(call("POST", "/oauth2/token", "", json{{"grant_type", "authorization_code"}, {"code", code}}).status, 401);
  EXPECT_EQ(call("POST", "/oauth2/authorize", admin_token_, json{{"response_type", "invite"}, {"email", "nope"}}).status, 422);
}

TEST_F(Api, ConfigRoundTrip) {
  EXPECT_EQ(call("PUT", "/v1/config/server.name", admin_token_, json{{"value", "my-master"}}).status, 200);
  EXPECT_EQ(call("GET", "/v1/config/server.name", admin_token_).body["server.name"], "my-master");
  auto patched = call("PATCH", "/v1/config", admin_token_, json{{"oauth2.client_id", "x"}, {"server.name", nullptr}});
  ASSERT_EQ(patched.status, 200);
  EXPECT_FALSE(patched.body.contains("server.name"));
  EXPECT_EQ(patched.body["oauth2.client_id"], "x");
  EXPECT_EQ(call("PATCH", "/v1/config", admin_token_, json{{"Bad Key", "x"}}).status, 422);
  EXPECT_EQ(call("PATCH", "/v1/config", admin_token_, json{{"ok.key", 5}}).status, 422);
  EXPECT_EQ(call("GET", "/v1/config", admin_token_).body.size(), 1u);
  EXPECT_EQ(call("DELETE", "/v1/config/oauth2.client_id", admin_token_).status, 200);
  EXPECT_EQ(call("GET", "/v1/config/oauth2.client_id", admin_token_).status, 404);
}

TEST_F(Api, AuditLogRecordsMutationsWithoutSecrets) {
  call("POST", "/v1/grids", admin_token_, json{{"name", "audited"}, {"token", "super-secret-grid-token"}});
  call("POST", "/v1/grids", admin_token_, json{{"name", "x"}});  // rejected: too short
  call("POST", "/v1/grids", "", json{{"name", "anon-grid"}});      // unauthenticated
  call("GET", "/v1/grids", admin_token_);                           // reads are not audited
  auto logs = call("GET", "/v1/audit_logs?limit=3", admin_token_);
  ASSERT_EQ(logs.status, 200);
  ASSERT_EQ(logs.body["logs"].size(), 3u);
  const auto& anon = logs.body["logs"][0];
  EXPECT_EQ(anon["event_status"], "error");
  EXPECT_EQ(anon["http_status"], 401);
  EXPECT_TRUE(anon["user_identity"]["id"].is_null());
  const auto& rejected = logs.body["logs"][1];
  EXPECT_EQ(rejected["http_status"], 422);
  EXPECT_EQ(rejected["user_identity"]["email"], "admin");
  const auto& created = logs.body["logs"][2];
  EXPECT_EQ(created["event_status"], "success");
  EXPECT_EQ(created["event_name"], "create");
  EXPECT_EQ(created["resource_type"], "grid");
  EXPECT_EQ(created["resource_name"], "audited");
  EXPECT_EQ(created["grid"], "audited");
  EXPECT_EQ(created["source_ip"], "127.0.0.9");
  EXPECT_EQ(created["user_agent"], "api-test");
  EXPECT_EQ(created["request_body"]["token"], "[redacted]");
  EXPECT_EQ(logs.body["logs"].dump().find("super-secret-grid-token"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1/grids/audited/audit_log", admin_token_).body["logs"].size(), 1u);
  EXPECT_EQ(call("GET", "/v1/audit_logs?limit=0", admin_token_).status, 422);
  EXPECT_EQ(call("GET", "/v1/audit_logs?limit=abc", admin_token_).status, 422);
}

TEST_F(Api, StatePersistsAcrossReopen) {
  ASSERT_EQ(call("POST", "/v1/grids", admin_token_, json{{"name", "kept"}, {"initial_size", 3}}).status, 201);
  ASSERT_EQ(call("POST", "/v1/grids/kept/nodes", admin_token_, json{{"name", "n1"}}).status, 201);
  reopen();
  EXPECT_EQ(call("GET", "/v1/grids/kept", admin_token_).body["initial_size"], 3);
  EXPECT_EQ(call("GET", "/v1/grids/kept/nodes", admin_token_).body["nodes"].size(), 1u);
}

TEST_F(Api, TokenRequestsAreRateLimitedPerSource) {
  // SetUp used one token request; 59 more fit in the minute, the next is refused.
  for (int i = 0; i < 59; ++i)
    ASSERT_EQ(call("POST", "/oauth2/token", "", json{{"grant_type", "authorization_code"}, {"code", "wrong"}}).status, 401);
  auto limited = call("POST", "/oauth2/token", "", json{{"grant_type", "authorization_code"}, {"code", "wrong"}});
  EXPECT_EQ(limited.status, 429);
  EXPECT_NE(limited.body["error"].get<std::string>().find("wait a minute"), std::string::npos);
  clock_.advance(std::chrono::seconds(61));
  EXPECT_EQ(call("POST", "/oauth2/token", "", json{{"grant_type", "authorization_code"}, {"code", "wrong"}}).status, 401);
}
