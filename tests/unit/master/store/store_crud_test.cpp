// Every store method round-trips every field.
#include "store_fixture.h"

namespace kontena::master::testing {
namespace {

TEST_F(StoreTest, UserRoundTripsWithRolesSorted) {
  Store& s = open();
  User user = make_user("b@example.com");
  user.name = "Bea";
  user.roles = {kRoleUserAdmin, kRoleMasterAdmin, kRoleGridAdmin, kRoleMasterAdmin};
  user.created_at = 1'700'000'123'456;
  User inserted = s.insert_user(user);
  EXPECT_GT(inserted.id, 0);
  EXPECT_EQ(inserted.roles, (std::vector<std::string>{"grid_admin", "master_admin", "user_admin"}));

  auto by_id = s.user_by_id(inserted.id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(fields(*by_id), fields(inserted));
  auto by_email = s.user_by_email("b@example.com");
  ASSERT_TRUE(by_email);
  EXPECT_EQ(fields(*by_email), fields(inserted));
  EXPECT_FALSE(s.user_by_email("nobody@example.com"));
  EXPECT_FALSE(s.user_by_id(inserted.id + 100));

  User updated = inserted;
  updated.name = "Beatrice";
  updated.roles = {kRoleUserAdmin, kRoleGridAdmin};
  updated.email = "ignored@example.com";  // update changes name and roles only
  s.update_user(updated);
  auto reread = s.user_by_id(inserted.id);
  ASSERT_TRUE(reread);
  EXPECT_EQ(reread->name, "Beatrice");
  EXPECT_EQ(reread->roles, (std::vector<std::string>{"grid_admin", "user_admin"}));
  EXPECT_EQ(reread->email, "b@example.com");
  EXPECT_EQ(reread->created_at, 1'700'000'123'456);

  s.insert_user(make_user("a@example.com"));
  auto all = s.users();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].email, "a@example.com");
  EXPECT_EQ(all[1].email, "b@example.com");

  s.delete_user(inserted.id);
  EXPECT_FALSE(s.user_by_id(inserted.id));
  EXPECT_EQ(s.users().size(), 1u);
}

TEST_F(StoreTest, AccessTokenRoundTripsEveryField) {
  Store& s = open();
  auto user = s.insert_user(make_user("a@example.com"));
  AccessToken token = make_token(user.id, std::string(64, 'a'));
  token.refresh_token_hash = std::string(64, 'r');
  token.description = "ci deploys";
  token.scopes = "user master";
  token.expires_at = 1'700'000'600'000;
  token.created_at = 1'700'000'000'001;
  token.last_used_at = 1'700'000'000'002;
  token.internal = true;
  AccessToken inserted = s.insert_token(token);
  EXPECT_GT(inserted.id, 0);

  auto by_id = s.token_by_id(inserted.id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(fields(*by_id), fields(inserted));
  auto by_hash = s.token_by_hash(std::string(64, 'a'));
  ASSERT_TRUE(by_hash);
  EXPECT_EQ(fields(*by_hash), fields(inserted));
  auto by_refresh = s.token_by_refresh_hash(std::string(64, 'r'));
  ASSERT_TRUE(by_refresh);
  EXPECT_EQ(fields(*by_refresh), fields(inserted));
  EXPECT_FALSE(s.token_by_hash(std::string(64, 'b')));

  // No expiry and no refresh token: NULLs that read back as nullopt and "".
  AccessToken forever = make_token(user.id, std::string(64, 'c'));
  forever.expires_at.reset();
  AccessToken forever_inserted = s.insert_token(forever);
  auto forever_read = s.token_by_id(forever_inserted.id);
  ASSERT_TRUE(forever_read);
  EXPECT_EQ(fields(*forever_read), fields(forever_inserted));
  EXPECT_FALSE(forever_read->expires_at.has_value());
  EXPECT_EQ(forever_read->refresh_token_hash, "");
  EXPECT_FALSE(s.token_by_refresh_hash(""));

  auto of_user = s.tokens_of_user(user.id);
  ASSERT_EQ(of_user.size(), 2u);
  EXPECT_EQ(of_user[0].id, inserted.id);
  EXPECT_EQ(of_user[1].id, forever_inserted.id);
  EXPECT_TRUE(s.tokens_of_user(user.id + 1).empty());

  // A refresh swaps the hashes and expiry; description, scopes and kind stay.
  AccessToken refreshed = inserted;
  refreshed.token_hash = std::string(64, 'd');
  refreshed.token_last4 = "dddd";
  refreshed.refresh_token_hash = "";
  refreshed.expires_at.reset();
  refreshed.last_used_at = 1'700'000'900'000;
  refreshed.description = "not updated";
  s.update_token(refreshed);
  auto after = s.token_by_id(inserted.id);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->token_hash, std::string(64, 'd'));
  EXPECT_EQ(after->token_last4, "dddd");
  EXPECT_EQ(after->refresh_token_hash, "");
  EXPECT_FALSE(after->expires_at.has_value());
  EXPECT_EQ(after->last_used_at, 1'700'000'900'000);
  EXPECT_EQ(after->description, "ci deploys");
  EXPECT_EQ(after->scopes, "user master");
  EXPECT_TRUE(after->internal);
  EXPECT_FALSE(s.token_by_hash(std::string(64, 'a')));
  EXPECT_FALSE(s.token_by_refresh_hash(std::string(64, 'r')));

  s.delete_token(inserted.id);
  EXPECT_FALSE(s.token_by_id(inserted.id));
  EXPECT_EQ(s.tokens_of_user(user.id).size(), 1u);
}

TEST_F(StoreTest, CodeRoundTripsAndIsTakenOnce) {
  Store& s = open();
  auto user = s.insert_user(make_user("a@example.com"));
  AuthCode code = make_code(user.id, "code-hash-1");
  code.kind = "invite";
  code.expires_at = 1'700'000'300'000;
  code.created_at = 1'700'000'000'500;
  s.insert_code(code);
  AuthCode no_expiry = make_code(user.id, "code-hash-2");
  no_expiry.created_at = 1'700'000'000'600;
  s.insert_code(no_expiry);

  auto of_user = s.codes_of_user(user.id);
  ASSERT_EQ(of_user.size(), 2u);
  EXPECT_EQ(fields(of_user[0]), fields(code));
  EXPECT_EQ(fields(of_user[1]), fields(no_expiry));

  auto taken = s.take_code("code-hash-1");
  ASSERT_TRUE(taken);
  EXPECT_EQ(fields(*taken), fields(code));
  EXPECT_FALSE(s.take_code("code-hash-1"));  // one use
  EXPECT_FALSE(s.take_code("never-issued"));

  auto second = s.take_code("code-hash-2");
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->expires_at.has_value());
  EXPECT_TRUE(s.codes_of_user(user.id).empty());
}

TEST_F(StoreTest, GridRoundTripsJsonAndLists) {
  Store& s = open();
  Grid grid = make_grid("demo");
  grid.initial_size = 3;
  grid.subnet = "10.90.0.0/16";
  grid.supernet = "10.96.0.0/12";
  grid.default_affinity = {"label==az=a", "label!=disk=hdd"};
  grid.trusted_subnets = {"192.168.0.0/24", "10.1.0.0/16"};
  grid.stats = Json{{"statsd", {{"server", "stats.example.com"}, {"port", 8125}}}};
  grid.logs = Json{{"forwarder", "fluentd"}, {"opts", {{"fluentd-address", "logs:24224"}, {"unicode", "é✓"}}}};
  grid.created_at = 1'700'000'000'001;
  grid.updated_at = 1'700'000'000'002;
  Grid inserted = s.insert_grid(grid);
  EXPECT_GT(inserted.id, 0);

  auto by_name = s.grid_by_name("demo");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(fields(*by_name), fields(inserted));
  auto by_token = s.grid_by_token("grid-token-demo");
  ASSERT_TRUE(by_token);
  EXPECT_EQ(fields(*by_token), fields(inserted));
  EXPECT_FALSE(s.grid_by_name("other"));
  EXPECT_FALSE(s.grid_by_token("wrong"));

  Grid defaults = make_grid("plain");
  defaults.token = "";
  Grid plain = s.insert_grid(defaults);
  auto plain_read = s.grid_by_name("plain");
  ASSERT_TRUE(plain_read);
  EXPECT_EQ(fields(*plain_read), fields(plain));
  EXPECT_EQ(plain_read->stats, Json::object());
  EXPECT_TRUE(plain_read->default_affinity.empty());
  EXPECT_FALSE(s.grid_by_token(""));  // an empty token never matches

  Grid changed = inserted;
  changed.token = "rotated";
  changed.initial_size = 5;
  changed.trusted_subnets = {};
  changed.stats = Json::object();
  changed.logs = Json{{"forwarder", "none"}};
  changed.updated_at = 1'700'000'999'999;
  s.update_grid(changed);
  auto after = s.grid_by_name("demo");
  ASSERT_TRUE(after);
  EXPECT_EQ(fields(*after), fields(changed));
  EXPECT_FALSE(s.grid_by_token("grid-token-demo"));

  auto all = s.grids();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "demo");
  EXPECT_EQ(all[1].name, "plain");

  s.delete_grid(inserted.id);
  EXPECT_FALSE(s.grid_by_name("demo"));
  EXPECT_EQ(s.grids().size(), 1u);
}

TEST_F(StoreTest, MembershipIsIdempotentBothWays) {
  Store& s = open();
  auto alice = s.insert_user(make_user("alice@example.com"));
  auto bob = s.insert_user(make_user("bob@example.com"));
  auto demo = s.insert_grid(make_grid("demo"));
  auto prod = s.insert_grid(make_grid("prod"));

  s.add_grid_user(prod.id, alice.id);
  s.add_grid_user(demo.id, alice.id);
  s.add_grid_user(demo.id, alice.id);  // again: no error, no duplicate
  s.add_grid_user(demo.id, bob.id);

  auto alice_grids = s.grids_of_user(alice.id);
  ASSERT_EQ(alice_grids.size(), 2u);
  EXPECT_EQ(alice_grids[0].name, "demo");
  EXPECT_EQ(alice_grids[1].name, "prod");
  EXPECT_EQ(fields(alice_grids[0]), fields(demo));
  auto demo_users = s.grid_users(demo.id);
  ASSERT_EQ(demo_users.size(), 2u);
  EXPECT_EQ(fields(demo_users[0]), fields(alice));
  EXPECT_EQ(demo_users[1].email, "bob@example.com");
  EXPECT_TRUE(s.is_grid_member(demo.id, bob.id));
  EXPECT_FALSE(s.is_grid_member(prod.id, bob.id));

  s.remove_grid_user(demo.id, bob.id);
  s.remove_grid_user(demo.id, bob.id);  // again: no error
  EXPECT_FALSE(s.is_grid_member(demo.id, bob.id));
  EXPECT_TRUE(s.grids_of_user(bob.id).empty());
  EXPECT_EQ(s.grid_users(demo.id).size(), 1u);

  EXPECT_TRUE(fails_with(ErrorKind::not_found, "grid", [&] { s.add_grid_user(demo.id + 100, alice.id); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "user", [&] { s.add_grid_user(demo.id, bob.id + 100); }));
}

TEST_F(StoreTest, NodeRoundTripsEveryField) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  Node node = make_node(grid.id, "node-1");
  node.node_id = "AAAA:BBBB:CCCC";
  node.node_number = 7;
  node.token = "node-token-1";
  node.labels = {"region=eu", "az=a"};
  node.availability = "drain";
  node.connected = true;
  node.connected_at = 1'700'000'000'010;
  node.last_seen_at = 1'700'000'000'020;
  node.info = Json{{"cpus", 4}, {"memory", 8'000'000'000LL}, {"public_ip", "203.0.113.5"}, {"labels", {"x"}}};
  node.created_at = 1'700'000'000'030;
  node.updated_at = 1'700'000'000'040;
  Node inserted = s.insert_node(node);
  EXPECT_GT(inserted.id, 0);
  EXPECT_EQ(inserted.node_number, 7);

  for (const auto& found : {s.node_by_id(inserted.id), s.node_by_name(grid.id, "node-1"),
                            s.node_by_node_id(grid.id, "AAAA:BBBB:CCCC"), s.node_by_token("node-token-1")}) {
    ASSERT_TRUE(found);
    EXPECT_EQ(fields(*found), fields(inserted));
  }
  EXPECT_FALSE(s.node_by_name(grid.id + 1, "node-1"));
  EXPECT_FALSE(s.node_by_node_id(grid.id + 1, "AAAA:BBBB:CCCC"));

  // An unbound node without token: empty strings stay empty and never match a lookup.
  Node bare = s.insert_node(make_node(grid.id, "node-2"));
  EXPECT_EQ(bare.node_number, 1);  // the lowest free one
  auto bare_read = s.node_by_id(bare.id);
  ASSERT_TRUE(bare_read);
  EXPECT_EQ(fields(*bare_read), fields(bare));
  EXPECT_EQ(bare_read->node_id, "");
  EXPECT_EQ(bare_read->token, "");
  EXPECT_EQ(bare_read->availability, "active");
  EXPECT_FALSE(s.node_by_node_id(grid.id, ""));
  EXPECT_FALSE(s.node_by_token(""));

  Node changed = bare;
  changed.name = "node-2b";
  changed.node_id = "DDDD:EEEE";
  changed.node_number = 9;
  changed.token = "node-token-2";
  changed.labels = {"ssd"};
  changed.connected = true;
  changed.connected_at = 5;
  changed.last_seen_at = 6;
  changed.info = Json{{"agent_version", "1.5.0"}};
  changed.updated_at = 7;
  s.update_node(changed);
  auto after = s.node_by_node_id(grid.id, "DDDD:EEEE");
  ASSERT_TRUE(after);
  EXPECT_EQ(fields(*after), fields(changed));

  auto nodes = s.nodes_of_grid(grid.id);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].name, "node-1");  // 7 sorts before node-2b's 9
  EXPECT_EQ(nodes[0].node_number, 7);
  EXPECT_EQ(nodes[1].name, "node-2b");

  s.delete_node(inserted.id);
  EXPECT_FALSE(s.node_by_id(inserted.id));
  EXPECT_EQ(s.nodes_of_grid(grid.id).size(), 1u);
}

TEST_F(StoreTest, ConfigSetsOverwritesAndUnsets) {
  Store& s = open();
  EXPECT_TRUE(s.config().empty());
  s.set_config("oauth2.client_id", "abc");
  s.set_config("server.root_url", "https://one");
  s.set_config("server.root_url", "https://two");
  EXPECT_EQ(s.config(), (std::map<std::string, std::string>{{"oauth2.client_id", "abc"},
                                                            {"server.root_url", "https://two"}}));
  s.unset_config("oauth2.client_id");
  s.unset_config("oauth2.client_id");  // idempotent
  s.unset_config("never.set");
  EXPECT_EQ(s.config(), (std::map<std::string, std::string>{{"server.root_url", "https://two"}}));
}

AuditEntry make_audit(int n, const std::string& grid) {
  AuditEntry entry;
  entry.created_at = 1'700'000'000'000 + n;
  entry.user_id = n;
  entry.user_email = "user" + std::to_string(n) + "@example.com";
  entry.grid = grid;
  entry.resource_type = "grid";
  entry.resource_id = grid;
  entry.resource_name = grid;
  entry.event_name = "update";
  entry.event_status = "success";
  entry.http_status = 200;
  entry.source_ip = "192.0.2.1";
  entry.user_agent = "kontena-cli/1.5";
  entry.request_method = "PUT";
  entry.request_path = "/v1/grids/" + grid;
  entry.request_body = Json{{"n", n}};
  return entry;
}

TEST_F(StoreTest, AuditEntryRoundTripsEveryField) {
  Store& s = open();
  AuditEntry failed = make_audit(1, "demo");
  failed.user_id.reset();
  failed.user_email = "";
  failed.event_status = "error";
  failed.http_status = 401;
  failed.error = "invalid token";
  failed.request_body = nullptr;
  s.append_audit(failed);
  AuditEntry ok = make_audit(2, "");
  ok.request_body = Json{{"token", "[redacted]"}, {"nested", {1, 2, 3}}};
  s.append_audit(ok);

  auto entries = s.audit_entries("", 10);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_GT(entries[0].id, entries[1].id);
  ok.id = entries[0].id;
  failed.id = entries[1].id;
  EXPECT_EQ(fields(entries[0]), fields(ok));
  EXPECT_EQ(fields(entries[1]), fields(failed));
  EXPECT_FALSE(entries[1].user_id.has_value());
  EXPECT_TRUE(entries[1].request_body.is_null());
}

TEST_F(StoreTest, AuditLogKeepsTheNewestEntriesNewestFirst) {
  Store& s = open(5);
  for (int n = 1; n <= 12; ++n) s.append_audit(make_audit(n, n % 2 ? "odd" : "even"));

  auto all = s.audit_entries("", 100);
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(all[i].created_at, 1'700'000'000'000 + 12 - i) << i;

  auto limited = s.audit_entries("", 2);
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0].request_body, Json({{"n", 12}}));
  EXPECT_EQ(limited[1].request_body, Json({{"n", 11}}));

  auto odd = s.audit_entries("odd", 100);  // of 8..12 kept: 9 and 11
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_EQ(odd[0].request_body, Json({{"n", 11}}));
  EXPECT_EQ(odd[1].request_body, Json({{"n", 9}}));
  EXPECT_TRUE(s.audit_entries("none", 100).empty());
  EXPECT_EQ(s.audit_entries("", 0).size(), 5u);  // no limit

  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM audit_logs"), "5");
}

}  // namespace
}  // namespace kontena::master::testing
