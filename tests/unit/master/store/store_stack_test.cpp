// Stacks, stack revisions, services, instances and deploys: round trips, ordering, conflicts and
// not_found.
#include "store_fixture.h"

namespace kontena::master::testing {
namespace {

TEST_F(StoreTest, GridByIdFindsTheGridOrNothing) {
  Store& s = open();
  auto demo = s.insert_grid(make_grid("demo"));
  s.insert_grid(make_grid("prod"));
  auto found = s.grid_by_id(demo.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(demo));
  EXPECT_FALSE(s.grid_by_id(demo.id + 100));
  EXPECT_FALSE(s.grid_by_id(0));
}

TEST_F(StoreTest, StackRoundTripsEveryFieldWithItsFirstRevision) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  Stack stack = make_stack(grid.id, "shop");
  stack.parent_name = "mall";
  stack.labels = {"env=prod", "team=a"};
  stack.expose = "web";
  stack.revision = 7;  // ignored: a new stack is at revision 1
  stack.deployed_revision = 0;
  Json definition = make_definition("shop", "nginx:1");
  auto inserted = s.insert_stack(stack, definition);
  EXPECT_GT(inserted.id, 0);
  EXPECT_EQ(inserted.revision, 1);

  auto by_id = s.stack_by_id(inserted.id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(fields(*by_id), fields(inserted));
  EXPECT_EQ(by_id->labels, (std::vector<std::string>{"env=prod", "team=a"}));
  EXPECT_EQ(by_id->parent_name, "mall");
  auto by_name = s.stack_by_name(grid.id, "shop");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(fields(*by_name), fields(inserted));
  EXPECT_FALSE(s.stack_by_name(grid.id, "other"));
  EXPECT_FALSE(s.stack_by_id(inserted.id + 1));

  auto revisions = s.stack_revisions(inserted.id);
  ASSERT_EQ(revisions.size(), 1u);
  EXPECT_EQ(revisions[0].revision, 1);
  EXPECT_EQ(revisions[0].stack_id, inserted.id);
  EXPECT_EQ(revisions[0].definition, definition);
  EXPECT_EQ(revisions[0].created_at, stack.created_at);
  auto first = s.stack_revision(inserted.id, 1);
  ASSERT_TRUE(first);
  EXPECT_EQ(fields(*first), fields(revisions[0]));
  EXPECT_FALSE(s.stack_revision(inserted.id, 2));
}

TEST_F(StoreTest, StacksOfAGridAreOrderedByNameAndStayInTheirGrid) {
  Store& s = open();
  auto demo = s.insert_grid(make_grid("demo"));
  auto prod = s.insert_grid(make_grid("prod"));
  s.insert_stack(make_stack(demo.id, "web"), Json::object());
  s.insert_stack(make_stack(demo.id, "db"), Json::object());
  s.insert_stack(make_stack(demo.id, "mq"), Json::object());
  s.insert_stack(make_stack(prod.id, "web"), Json::object());  // same name, other grid: fine
  std::vector<std::string> names;
  for (const auto& stack : s.stacks_of_grid(demo.id)) names.push_back(stack.name);
  EXPECT_EQ(names, (std::vector<std::string>{"db", "mq", "web"}));
  EXPECT_EQ(s.stacks_of_grid(prod.id).size(), 1u);
  EXPECT_TRUE(s.stacks_of_grid(prod.id + 10).empty());
}

TEST_F(StoreTest, DuplicateStackNameIsAConflictAndWritesNothing) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto first = s.insert_stack(make_stack(grid.id, "shop"), make_definition("shop", "a"));
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "stack \"shop\" already exists in grid \"demo\"",
                         [&] { s.insert_stack(make_stack(grid.id, "shop"), make_definition("shop", "b")); }));
  EXPECT_EQ(s.stacks_of_grid(grid.id).size(), 1u);
  auto revisions = s.stack_revisions(first.id);
  ASSERT_EQ(revisions.size(), 1u);
  EXPECT_EQ(revisions[0].definition, make_definition("shop", "a"));
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM stack_revisions"), "1");
}

TEST_F(StoreTest, StackOfAMissingGridIsNotFound) {
  Store& s = open();
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "grid 42 not found",
                         [&] { s.insert_stack(make_stack(42, "shop"), Json::object()); }));
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM stacks"), "0");
  EXPECT_EQ(raw.value("SELECT count(*) FROM stack_revisions"), "0");
}

TEST_F(StoreTest, StackNamedNullOrNothingIsInvalid) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  EXPECT_TRUE(fails_with(ErrorKind::invalid, "\"null\" is not a stack name",
                         [&] { s.insert_stack(make_stack(grid.id, "null"), Json::object()); }));
  EXPECT_TRUE(fails_with(ErrorKind::invalid, "needs a name", [&] { s.insert_stack(make_stack(grid.id, ""), Json::object()); }));
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM stacks"), "0");
}

TEST_F(StoreTest, UpdateStackWritesItsFieldsButNotItsNameOrGrid) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto other = s.insert_grid(make_grid("other"));
  auto stack = s.insert_stack(make_stack(grid.id, "shop"), Json::object());
  Stack changed = stack;
  changed.name = "renamed";
  changed.grid_id = other.id;
  changed.stack = "user/shop2";
  changed.version = "2.0.0";
  changed.parent_name = "mall";
  changed.labels = {"a=b"};
  changed.expose = "api";
  changed.revision = 3;
  changed.deployed_revision = 2;
  changed.created_at = 5;
  changed.updated_at = 1'800'000'000'000;
  s.update_stack(changed);

  auto read = s.stack_by_id(stack.id);
  ASSERT_TRUE(read);
  Stack expected = changed;
  expected.name = "shop";
  expected.grid_id = grid.id;
  expected.created_at = stack.created_at;
  EXPECT_EQ(fields(*read), fields(expected));

  Stack missing = stack;
  missing.id = stack.id + 50;
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "not found", [&] { s.update_stack(missing); }));
}

TEST_F(StoreTest, AddStackRevisionBumpsTheRevisionAndKeepsHistoryOldestFirst) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto stack = s.insert_stack(make_stack(grid.id, "shop"), make_definition("shop", "v1"));
  auto second = s.add_stack_revision(stack.id, make_definition("shop", "v2"));
  EXPECT_EQ(second.revision, 2);
  EXPECT_EQ(second.stack_id, stack.id);
  EXPECT_GT(second.id, 0);
  EXPECT_GT(second.created_at, 0);
  auto third = s.add_stack_revision(stack.id, make_definition("shop", "v3"));
  EXPECT_EQ(third.revision, 3);
  EXPECT_EQ(s.stack_by_id(stack.id)->revision, 3);

  auto revisions = s.stack_revisions(stack.id);
  ASSERT_EQ(revisions.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(revisions[i].revision, i + 1);
    EXPECT_EQ(revisions[i].definition, make_definition("shop", "v" + std::to_string(i + 1)));
  }
  auto read = s.stack_revision(stack.id, 2);
  ASSERT_TRUE(read);
  EXPECT_EQ(fields(*read), fields(second));

  EXPECT_TRUE(fails_with(ErrorKind::not_found, "stack 999 not found",
                         [&] { s.add_stack_revision(999, Json::object()); }));
  EXPECT_EQ(s.stack_revisions(stack.id).size(), 3u);
}

TEST_F(StoreTest, ServiceRoundTripsEveryFieldWithItsStackName) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto stack = s.insert_stack(make_stack(grid.id, "shop"), Json::object());
  Service service = make_service(grid.id, stack.id, "web");
  service.spec = Json{{"image", "nginx:1"}, {"instances", 3}, {"env", Json::array({"A=1", "B=ü"})}};
  service.revision = 4;
  service.stack_revision = 1;
  service.state = "running";
  service.deployed_at = 1'700'000'000'500;
  service.stack_name = "ignored on write";
  auto inserted = s.insert_service(service);
  EXPECT_GT(inserted.id, 0);
  EXPECT_EQ(inserted.stack_name, "shop");

  auto by_id = s.service_by_id(inserted.id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(fields(*by_id), fields(inserted));
  EXPECT_EQ(by_id->spec, service.spec);
  auto by_name = s.service_by_name(grid.id, stack.id, "web");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(fields(*by_name), fields(inserted));
  EXPECT_FALSE(s.service_by_name(grid.id, 0, "web"));       // not in the null stack
  EXPECT_FALSE(s.service_by_name(grid.id, stack.id, "db"));
  EXPECT_FALSE(s.service_by_id(inserted.id + 1));

  // The null stack: stack_id 0 and the name "null".
  auto loose = s.insert_service(make_service(grid.id, 0, "web"));
  EXPECT_EQ(loose.stack_name, "null");
  auto loose_read = s.service_by_name(grid.id, 0, "web");
  ASSERT_TRUE(loose_read);
  EXPECT_EQ(loose_read->stack_id, 0);
  EXPECT_EQ(loose_read->stack_name, "null");
  EXPECT_EQ(fields(*loose_read), fields(loose));
}

TEST_F(StoreTest, ServicesOfAGridOrderByStackThenNameAndFilterByStack) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto other = s.insert_grid(make_grid("other"));
  auto shop = s.insert_stack(make_stack(grid.id, "shop"), Json::object());
  auto app = s.insert_stack(make_stack(grid.id, "app"), Json::object());
  s.insert_service(make_service(grid.id, shop.id, "web"));
  s.insert_service(make_service(grid.id, 0, "lb"));
  s.insert_service(make_service(grid.id, shop.id, "db"));
  s.insert_service(make_service(grid.id, app.id, "web"));
  s.insert_service(make_service(grid.id, 0, "cache"));
  s.insert_service(make_service(other.id, 0, "zzz"));

  std::vector<std::string> names;
  for (const auto& service : s.services_of_grid(grid.id)) names.push_back(service.stack_name + "/" + service.name);
  EXPECT_EQ(names, (std::vector<std::string>{"app/web", "null/cache", "null/lb", "shop/db", "shop/web"}));

  names.clear();
  for (const auto& service : s.services_of_grid(grid.id, shop.id)) names.push_back(service.name);
  EXPECT_EQ(names, (std::vector<std::string>{"db", "web"}));
  names.clear();
  for (const auto& service : s.services_of_grid(grid.id, 0)) names.push_back(service.stack_name + "/" + service.name);
  EXPECT_EQ(names, (std::vector<std::string>{"null/cache", "null/lb"}));
  EXPECT_TRUE(s.services_of_grid(grid.id, shop.id + app.id + 100).empty());
  EXPECT_EQ(s.services_of_grid(other.id).size(), 1u);
}

TEST_F(StoreTest, DuplicateServiceNameIsAConflictWithinItsStackOnly) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto shop = s.insert_stack(make_stack(grid.id, "shop"), Json::object());
  s.insert_service(make_service(grid.id, shop.id, "web"));
  s.insert_service(make_service(grid.id, 0, "web"));
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "service \"web\" already exists in stack \"shop\" of grid \"demo\"",
                         [&] { s.insert_service(make_service(grid.id, shop.id, "web")); }));
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "service \"web\" already exists in stack \"null\" of grid \"demo\"",
                         [&] { s.insert_service(make_service(grid.id, 0, "web")); }));
  EXPECT_EQ(s.services_of_grid(grid.id).size(), 2u);
}

TEST_F(StoreTest, ServiceOfAMissingGridOrStackIsRefused) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto other = s.insert_grid(make_grid("other"));
  auto foreign = s.insert_stack(make_stack(other.id, "shop"), Json::object());
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "grid 77 not found", [&] { s.insert_service(make_service(77, 0, "web")); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "stack 555 not found",
                         [&] { s.insert_service(make_service(grid.id, 555, "web")); }));
  EXPECT_TRUE(fails_with(ErrorKind::invalid, "stack \"shop\" is not in grid \"demo\"",
                         [&] { s.insert_service(make_service(grid.id, foreign.id, "web")); }));
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM services"), "0");
}

TEST_F(StoreTest, UpdateServiceWritesSpecRevisionAndStateOnly) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto shop = s.insert_stack(make_stack(grid.id, "shop"), Json::object());
  auto service = s.insert_service(make_service(grid.id, shop.id, "web"));
  Service changed = service;
  changed.name = "renamed";
  changed.stack_id = 0;
  changed.grid_id = grid.id + 1;
  changed.spec = Json{{"image", "nginx:2"}, {"instances", 5}};
  changed.revision = 2;
  changed.stack_revision = 2;
  changed.state = "stopped";
  changed.deployed_at = 9;
  changed.created_at = 1;
  changed.updated_at = 1'800'000'000'000;
  s.update_service(changed);

  Service expected = changed;
  expected.name = "web";
  expected.stack_id = shop.id;
  expected.grid_id = grid.id;
  expected.created_at = service.created_at;
  auto read = s.service_by_id(service.id);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->stack_name, "shop");
  expected.stack_name = "shop";
  EXPECT_EQ(fields(*read), fields(expected));

  changed.id = service.id + 40;
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "not found", [&] { s.update_service(changed); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "not found", [&] { s.delete_service(service.id + 40); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "not found", [&] { s.delete_stack(shop.id + 40); }));
}

TEST_F(StoreTest, InstanceUpsertInsertsThenReplacesKeepingItsId) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto node = s.insert_node(make_node(grid.id, "node-1"));
  auto service = s.insert_service(make_service(grid.id, 0, "web"));

  auto first = s.upsert_instance(make_instance(service.id, 1, node.id));
  EXPECT_GT(first.id, 0);
  auto read = s.instance(service.id, 1);
  ASSERT_TRUE(read);
  EXPECT_EQ(fields(*read), fields(first));

  ServiceInstance reported = first;
  reported.id = 0;  // the caller need not know it
  reported.state = "running";
  reported.error = "";
  reported.rev = first.deploy_rev;
  reported.health = "healthy";
  reported.desired_state = "stopped";
  reported.reported_at = 1'700'000'000'900;
  reported.updated_at = 1'700'000'000'900;
  auto second = s.upsert_instance(reported);
  EXPECT_EQ(second.id, first.id);
  read = s.instance(service.id, 1);
  ASSERT_TRUE(read);
  EXPECT_EQ(fields(*read), fields(second));
  EXPECT_EQ(read->health, "healthy");

  // Unplaced (node 0) round-trips as 0.
  auto unplaced = s.upsert_instance(make_instance(service.id, 2, 0));
  EXPECT_EQ(s.instance(service.id, 2)->node_id, 0);
  EXPECT_NE(unplaced.id, first.id);
  EXPECT_FALSE(s.instance(service.id, 3));
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM service_instances"), "2");
}

TEST_F(StoreTest, InstanceQueriesOrderAndFilter) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto other = s.insert_grid(make_grid("other"));
  auto n1 = s.insert_node(make_node(grid.id, "node-1"));
  auto n2 = s.insert_node(make_node(grid.id, "node-2"));
  auto on = s.insert_node(make_node(other.id, "node-1"));
  auto web = s.insert_service(make_service(grid.id, 0, "web"));
  auto db = s.insert_service(make_service(grid.id, 0, "db"));
  auto far = s.insert_service(make_service(other.id, 0, "web"));
  s.upsert_instance(make_instance(web.id, 3, n1.id));
  s.upsert_instance(make_instance(web.id, 1, n2.id));
  s.upsert_instance(make_instance(web.id, 2, n1.id));
  s.upsert_instance(make_instance(db.id, 1, n1.id));
  s.upsert_instance(make_instance(far.id, 1, on.id));

  auto numbers = [](const std::vector<ServiceInstance>& instances) {
    std::vector<std::pair<std::int64_t, int>> result;
    for (const auto& instance : instances) result.emplace_back(instance.service_id, instance.instance_number);
    return result;
  };
  using Pairs = std::vector<std::pair<std::int64_t, int>>;
  EXPECT_EQ(numbers(s.instances_of_service(web.id)), (Pairs{{web.id, 1}, {web.id, 2}, {web.id, 3}}));
  EXPECT_EQ(numbers(s.instances_on_node(n1.id)), (Pairs{{web.id, 2}, {web.id, 3}, {db.id, 1}}));
  EXPECT_EQ(numbers(s.instances_on_node(n2.id)), (Pairs{{web.id, 1}}));
  EXPECT_EQ(numbers(s.instances_of_grid(grid.id)), (Pairs{{web.id, 1}, {web.id, 2}, {web.id, 3}, {db.id, 1}}));
  EXPECT_EQ(numbers(s.instances_of_grid(other.id)), (Pairs{{far.id, 1}}));
  EXPECT_TRUE(s.instances_on_node(0).empty());

  s.delete_instance(web.id, 2);
  s.delete_instance(web.id, 2);  // idempotent
  s.delete_instance(web.id + 1000, 1);
  EXPECT_EQ(numbers(s.instances_of_service(web.id)), (Pairs{{web.id, 1}, {web.id, 3}}));
}

TEST_F(StoreTest, InstanceOfAMissingServiceOrNodeOrBadNumberIsRefused) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto service = s.insert_service(make_service(grid.id, 0, "web"));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "service 999 not found",
                         [&] { s.upsert_instance(make_instance(999, 1, 0)); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "node 888 not found",
                         [&] { s.upsert_instance(make_instance(service.id, 1, 888)); }));
  EXPECT_TRUE(fails_with(ErrorKind::invalid, "instance number 0",
                         [&] { s.upsert_instance(make_instance(service.id, 0, 0)); }));
  EXPECT_TRUE(s.instances_of_service(service.id).empty());
}

TEST_F(StoreTest, ServiceDeployRoundTripsAndUpdates) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto service = s.insert_service(make_service(grid.id, 0, "web"));
  ServiceDeploy deploy = make_service_deploy(service.id);
  deploy.force = true;
  deploy.reason = "force";
  auto inserted = s.insert_service_deploy(deploy);
  EXPECT_GT(inserted.id, 0);
  auto read = s.service_deploy(inserted.id);
  ASSERT_TRUE(read);
  EXPECT_EQ(fields(*read), fields(inserted));
  EXPECT_EQ(read->stack_deploy_id, 0);
  EXPECT_EQ(read->instances, Json::array());

  ServiceDeploy changed = inserted;
  changed.state = "error";
  changed.error = "instance 2 on node-1: image \"x\" not found";
  changed.instances = Json::array({Json{{"instance_number", 1}, {"node", "node-1"}, {"state", "running"}},
                                   Json{{"instance_number", 2}, {"node", "node-1"}, {"state", "error"}}});
  changed.started_at = 1'700'000'000'100;
  changed.finished_at = 1'700'000'000'200;
  changed.reason = "deploy";
  changed.force = false;
  s.update_service_deploy(changed);
  read = s.service_deploy(inserted.id);
  ASSERT_TRUE(read);
  EXPECT_EQ(fields(*read), fields(changed));

  changed.id = inserted.id + 10;
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "not found", [&] { s.update_service_deploy(changed); }));
  EXPECT_FALSE(s.service_deploy(inserted.id + 10));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "service 321 not found",
                         [&] { s.insert_service_deploy(make_service_deploy(321)); }));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "stack deploy 654 not found",
                         [&] { s.insert_service_deploy(make_service_deploy(service.id, 654)); }));
}

TEST_F(StoreTest, DeployQueriesOrderAndPendingOnesAcrossGrids) {
  Store& s = open();
  auto demo = s.insert_grid(make_grid("demo"));
  auto prod = s.insert_grid(make_grid("prod"));
  auto shop = s.insert_stack(make_stack(demo.id, "shop"), Json::object());
  auto web = s.insert_service(make_service(demo.id, shop.id, "web"));
  auto db = s.insert_service(make_service(demo.id, shop.id, "db"));
  auto lb = s.insert_service(make_service(prod.id, 0, "lb"));

  auto stack_deploy = s.insert_stack_deploy(make_stack_deploy(shop.id, 1));
  auto d1 = s.insert_service_deploy(make_service_deploy(db.id, stack_deploy.id));
  auto d2 = s.insert_service_deploy(make_service_deploy(web.id, stack_deploy.id));
  auto d3 = s.insert_service_deploy(make_service_deploy(lb.id));
  auto d4 = s.insert_service_deploy(make_service_deploy(web.id));

  auto ids = [](const std::vector<ServiceDeploy>& deploys) {
    std::vector<std::int64_t> result;
    for (const auto& deploy : deploys) result.push_back(deploy.id);
    return result;
  };
  using Ids = std::vector<std::int64_t>;
  EXPECT_EQ(ids(s.pending_service_deploys()), (Ids{d1.id, d2.id, d3.id, d4.id}));
  EXPECT_EQ(ids(s.deploys_of_stack_deploy(stack_deploy.id)), (Ids{d1.id, d2.id}));
  EXPECT_EQ(ids(s.deploys_of_service(web.id, 10)), (Ids{d4.id, d2.id}));
  EXPECT_EQ(ids(s.deploys_of_service(web.id, 1)), (Ids{d4.id}));
  EXPECT_EQ(ids(s.deploys_of_service(web.id, 0)), (Ids{d4.id, d2.id}));  // 0: no limit
  EXPECT_EQ(s.service_deploy(d1.id)->stack_deploy_id, stack_deploy.id);

  ServiceDeploy ongoing = d1;
  ongoing.state = "ongoing";
  s.update_service_deploy(ongoing);
  ServiceDeploy done = d2;
  done.state = "success";
  s.update_service_deploy(done);
  ServiceDeploy aborted = d3;
  aborted.state = "aborted";
  s.update_service_deploy(aborted);
  EXPECT_EQ(ids(s.pending_service_deploys()), (Ids{d1.id, d4.id}));

  // Stack deploys.
  auto sd2 = s.insert_stack_deploy(make_stack_deploy(shop.id, 2));
  auto read = s.stack_deploy(stack_deploy.id);
  ASSERT_TRUE(read);
  EXPECT_EQ(fields(*read), fields(stack_deploy));
  std::vector<std::int64_t> pending;
  for (const auto& deploy : s.pending_stack_deploys()) pending.push_back(deploy.id);
  EXPECT_EQ(pending, (Ids{stack_deploy.id, sd2.id}));

  StackDeploy finished = stack_deploy;
  finished.state = "error";
  finished.error = "service web: instance 2 on node-3: boom";
  finished.finished_at = 1'700'000'001'000;
  s.update_stack_deploy(finished);
  read = s.stack_deploy(stack_deploy.id);
  ASSERT_TRUE(read);
  EXPECT_EQ(fields(*read), fields(finished));
  pending.clear();
  for (const auto& deploy : s.pending_stack_deploys()) pending.push_back(deploy.id);
  EXPECT_EQ(pending, (Ids{sd2.id}));

  finished.id = sd2.id + 10;
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "not found", [&] { s.update_stack_deploy(finished); }));
  EXPECT_FALSE(s.stack_deploy(sd2.id + 10));
  EXPECT_TRUE(fails_with(ErrorKind::not_found, "stack 4242 not found",
                         [&] { s.insert_stack_deploy(make_stack_deploy(4242)); }));
}

}  // namespace
}  // namespace kontena::master::testing
