// Uniqueness, missing rows, cascades and node number allocation.
#include "store_fixture.h"

namespace kontena::master::testing {
namespace {

TEST_F(StoreTest, DuplicateUserEmailIsAConflictNamingIt) {
  Store& s = open();
  s.insert_user(make_user("a@b"));
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "user \"a@b\" already exists", [&] { s.insert_user(make_user("a@b")); }));
  EXPECT_EQ(s.users().size(), 1u);
}

TEST_F(StoreTest, DuplicateGridNameOrTokenIsAConflict) {
  Store& s = open();
  auto demo = s.insert_grid(make_grid("demo"));
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "grid \"demo\" already exists", [&] { s.insert_grid(make_grid("demo")); }));

  Grid same_token = make_grid("other");
  same_token.token = demo.token;
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "grid \"other\": its token is already used", [&] {
    s.insert_grid(same_token);
  }));

  // Grids without a token do not collide with each other.
  Grid no_token_1 = make_grid("bare-1");
  no_token_1.token = "";
  Grid no_token_2 = make_grid("bare-2");
  no_token_2.token = "";
  s.insert_grid(no_token_1);
  s.insert_grid(no_token_2);

  // Updates hit the same constraints.
  auto prod = s.insert_grid(make_grid("prod"));
  prod.name = "demo";
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "grid \"demo\" already exists", [&] { s.update_grid(prod); }));
  EXPECT_EQ(s.grids().size(), 4u);
}

TEST_F(StoreTest, DuplicateNodeNameNumberTokenOrNodeIdIsAConflict) {
  Store& s = open();
  auto demo = s.insert_grid(make_grid("demo"));
  auto prod = s.insert_grid(make_grid("prod"));
  Node n1 = make_node(demo.id, "n1");
  n1.node_id = "ENGINE-1";
  n1.token = "node-token-1";
  n1 = s.insert_node(n1);

  EXPECT_TRUE(fails_with(ErrorKind::conflict, "node \"n1\" already exists in grid \"demo\"",
                         [&] { s.insert_node(make_node(demo.id, "n1")); }));
  // The same name in another grid is fine.
  EXPECT_EQ(s.insert_node(make_node(prod.id, "n1")).grid_id, prod.id);

  Node same_number = make_node(demo.id, "n2");
  same_number.node_number = n1.node_number;
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "node number 1 is already taken in grid \"demo\"",
                         [&] { s.insert_node(same_number); }));

  Node same_token = make_node(prod.id, "n3");
  same_token.token = "node-token-1";
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "node \"n3\": its token is already used",
                         [&] { s.insert_node(same_token); }));

  Node same_engine = make_node(demo.id, "n4");
  same_engine.node_id = "ENGINE-1";
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "node id \"ENGINE-1\" is already bound to another node in grid \"demo\"",
                         [&] { s.insert_node(same_engine); }));
  same_engine.grid_id = prod.id;  // node ids are unique within a grid
  s.insert_node(same_engine);

  // Unbound, token-less nodes do not collide.
  s.insert_node(make_node(demo.id, "n5"));
  auto n6 = s.insert_node(make_node(demo.id, "n6"));

  // Updates hit the same constraints, and name the node's own grid.
  n6.name = "n1";
  n6.grid_id = prod.id;  // ignored: a node keeps its grid
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "node \"n1\" already exists in grid \"demo\"", [&] { s.update_node(n6); }));
  EXPECT_EQ(s.nodes_of_grid(demo.id).size(), 3u);
  EXPECT_EQ(s.nodes_of_grid(prod.id).size(), 2u);
}

TEST_F(StoreTest, DuplicateTokenHashesAreConflicts) {
  Store& s = open();
  auto user = s.insert_user(make_user("a@example.com"));
  AccessToken first = make_token(user.id, "hash-0001");
  first.refresh_token_hash = "refresh-0001";
  s.insert_token(first);

  EXPECT_TRUE(fails_with(ErrorKind::conflict, "access token with this value already exists",
                         [&] { s.insert_token(make_token(user.id, "hash-0001")); }));
  AccessToken same_refresh = make_token(user.id, "hash-0002");
  same_refresh.refresh_token_hash = "refresh-0001";
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "refresh token already exists", [&] { s.insert_token(same_refresh); }));

  // Tokens without a refresh token do not collide.
  s.insert_token(make_token(user.id, "hash-0003"));
  auto fourth = s.insert_token(make_token(user.id, "hash-0004"));
  fourth.token_hash = "hash-0001";
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "already exists", [&] { s.update_token(fourth); }));
  EXPECT_EQ(s.tokens_of_user(user.id).size(), 3u);

  s.insert_code(make_code(user.id, "code-1"));
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "code already exists", [&] { s.insert_code(make_code(user.id, "code-1")); }));
}

TEST_F(StoreTest, RecordsOfAMissingOwnerAreNotFound) {
  Store& s = open();
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "user 77 not found", [&] { s.insert_token(make_token(77, "hash-1234")); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "user 77 not found", [&] { s.insert_code(make_code(77, "code")); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "grid 77 not found", [&] { s.insert_node(make_node(77, "n1")); }));
}

TEST_F(StoreTest, UpdatingOrDeletingAMissingRowIsNotFound) {
  Store& s = open();
  User user = make_user("ghost@example.com");
  user.id = 404;
  AccessToken token = make_token(1, "hash-0000");
  token.id = 404;
  Grid grid = make_grid("ghost");
  grid.id = 404;
  Node node = make_node(1, "ghost");
  node.id = 404;
  node.node_number = 1;

  EXPECT_TRUE(fails_with(ErrorKind::not_found, "user 404", [&] { s.update_user(user); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "user 404", [&] { s.delete_user(404); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "access token 404", [&] { s.update_token(token); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "access token 404", [&] { s.delete_token(404); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "grid 404", [&] { s.update_grid(grid); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "grid 404", [&] { s.delete_grid(404); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "node 404", [&] { s.update_node(node); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "node 404", [&] { s.delete_node(404); }));
}

TEST_F(StoreTest, DeletingAGridRemovesItsNodesAndMemberships) {
  Store& s = open();
  auto user = s.insert_user(make_user("a@example.com"));
  auto demo = s.insert_grid(make_grid("demo"));
  auto prod = s.insert_grid(make_grid("prod"));
  auto demo_node = s.insert_node(make_node(demo.id, "n1"));
  auto prod_node = s.insert_node(make_node(prod.id, "n1"));
  s.add_grid_user(demo.id, user.id);
  s.add_grid_user(prod.id, user.id);

  s.delete_grid(demo.id);
  EXPECT_FALSE(s.node_by_id(demo_node.id));
  EXPECT_TRUE(s.nodes_of_grid(demo.id).empty());
  EXPECT_FALSE(s.is_grid_member(demo.id, user.id));
  ASSERT_TRUE(s.node_by_id(prod_node.id));
  auto grids = s.grids_of_user(user.id);
  ASSERT_EQ(grids.size(), 1u);
  EXPECT_EQ(grids[0].name, "prod");

  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM nodes"), "1");
  EXPECT_EQ(raw.value("SELECT count(*) FROM grid_users"), "1");
}

TEST_F(StoreTest, DeletingAUserRemovesItsTokensCodesAndMemberships) {
  Store& s = open();
  auto alice = s.insert_user(make_user("alice@example.com"));
  auto bob = s.insert_user(make_user("bob@example.com"));
  auto grid = s.insert_grid(make_grid("demo"));
  s.insert_token(make_token(alice.id, "alice-token-1"));
  s.insert_token(make_token(alice.id, "alice-token-2"));
  auto bob_token = s.insert_token(make_token(bob.id, "bob-token-1"));
  s.insert_code(make_code(alice.id, "alice-code"));
  s.insert_code(make_code(bob.id, "bob-code"));
  s.add_grid_user(grid.id, alice.id);
  s.add_grid_user(grid.id, bob.id);

  s.delete_user(alice.id);
  EXPECT_TRUE(s.tokens_of_user(alice.id).empty());
  EXPECT_FALSE(s.token_by_hash("alice-token-1"));
  EXPECT_TRUE(s.codes_of_user(alice.id).empty());
  EXPECT_FALSE(s.take_code("alice-code"));
  EXPECT_FALSE(s.is_grid_member(grid.id, alice.id));
  // Bob's are untouched, and so is the grid.
  EXPECT_TRUE(s.token_by_id(bob_token.id));
  EXPECT_EQ(s.codes_of_user(bob.id).size(), 1u);
  ASSERT_EQ(s.grid_users(grid.id).size(), 1u);
  EXPECT_TRUE(s.grid_by_name("demo"));

  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM access_tokens"), "1");
  EXPECT_EQ(raw.value("SELECT count(*) FROM auth_codes"), "1");
  EXPECT_EQ(raw.value("SELECT count(*) FROM grid_users"), "1");
}

TEST_F(StoreTest, NodeNumbersTakeTheLowestFreeAndAreReused) {
  Store& s = open();
  auto demo = s.insert_grid(make_grid("demo"));
  auto prod = s.insert_grid(make_grid("prod"));
  std::vector<Node> nodes;
  for (int i = 1; i <= 4; ++i) nodes.push_back(s.insert_node(make_node(demo.id, "n" + std::to_string(i))));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(nodes[i].node_number, i + 1);
  EXPECT_EQ(s.insert_node(make_node(prod.id, "p1")).node_number, 1);  // numbering is per grid

  s.delete_node(nodes[1].id);  // frees 2
  s.delete_node(nodes[2].id);  // frees 3
  EXPECT_EQ(s.insert_node(make_node(demo.id, "n5")).node_number, 2);
  EXPECT_EQ(s.insert_node(make_node(demo.id, "n6")).node_number, 3);
  EXPECT_EQ(s.insert_node(make_node(demo.id, "n7")).node_number, 5);

  Node explicit_number = make_node(demo.id, "n8");
  explicit_number.node_number = 100;
  EXPECT_EQ(s.insert_node(explicit_number).node_number, 100);
  EXPECT_EQ(s.insert_node(make_node(demo.id, "n9")).node_number, 6);

  Node out_of_range = make_node(demo.id, "n10");
  out_of_range.node_number = 255;
  EXPECT_TRUE(fails_with(ErrorKind::invalid, "1..254", [&] { s.insert_node(out_of_range); }));
  out_of_range.node_number = -1;
  EXPECT_TRUE(fails_with(ErrorKind::invalid, "1..254", [&] { s.insert_node(out_of_range); }));
}

TEST_F(StoreTest, AGridHoldsAtMost254Nodes) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("full"));
  s.transaction([&] {
    for (int i = 1; i <= 254; ++i) {
      EXPECT_EQ(s.insert_node(make_node(grid.id, "node-" + std::to_string(i))).node_number, i);
    }
  });
  EXPECT_TRUE(fails_with(ErrorKind::invalid,
                         "grid \"full\" has no free node number: a grid holds at most 254 nodes",
                         [&] { s.insert_node(make_node(grid.id, "one-too-many")); }));
  EXPECT_EQ(s.nodes_of_grid(grid.id).size(), 254u);

  s.delete_node(s.node_by_name(grid.id, "node-77")->id);
  EXPECT_EQ(s.insert_node(make_node(grid.id, "replacement")).node_number, 77);
}

}  // namespace
}  // namespace kontena::master::testing
