// What goes with a deleted grid, stack, service or node; multi-table writes in one transaction;
// the v1 -> v2 migration of an existing database.
#include <stdexcept>

#include "master/store/sqlite_schema.h"
#include "store_fixture.h"

namespace kontena::master::testing {
namespace {

// A grid with a stack (2 revisions, services web and db with instances and deploys, a stack
// deploy), a stack-less service with an instance and a deploy, and log lines.
struct Populated {
  Grid grid;
  Node node;
  Stack stack;
  Service web, db, loose;
  StackDeploy stack_deploy;
  ServiceDeploy web_deploy, loose_deploy;
};

Populated populate(Store& s, const std::string& grid_name) {
  Populated p;
  p.grid = s.insert_grid(make_grid(grid_name));
  p.node = s.insert_node(make_node(p.grid.id, "node-1"));
  p.stack = s.insert_stack(make_stack(p.grid.id, "shop"), make_definition("shop", "a"));
  s.add_stack_revision(p.stack.id, make_definition("shop", "b"));
  p.web = s.insert_service(make_service(p.grid.id, p.stack.id, "web"));
  p.db = s.insert_service(make_service(p.grid.id, p.stack.id, "db"));
  p.loose = s.insert_service(make_service(p.grid.id, 0, "lb"));
  for (const auto* service : {&p.web, &p.db, &p.loose}) {
    s.upsert_instance(make_instance(service->id, 1, p.node.id));
    s.upsert_instance(make_instance(service->id, 2, p.node.id));
  }
  p.stack_deploy = s.insert_stack_deploy(make_stack_deploy(p.stack.id));
  p.web_deploy = s.insert_service_deploy(make_service_deploy(p.web.id, p.stack_deploy.id));
  s.insert_service_deploy(make_service_deploy(p.db.id, p.stack_deploy.id));
  p.loose_deploy = s.insert_service_deploy(make_service_deploy(p.loose.id));
  EventLog event;
  event.grid_id = p.grid.id;
  event.stack = "shop";
  event.service = "web";
  event.type = "service:deploy";
  event.message = "deploying";
  s.append_events({event, event});
  ContainerLog line;
  line.grid_id = p.grid.id;
  line.stack = "shop";
  line.service = "web";
  line.instance_number = 1;
  line.data = "hello";
  s.append_container_logs({line, line, line});
  return p;
}

std::string count(RawDatabase& raw, const std::string& table) { return raw.value("SELECT count(*) FROM " + table); }

TEST_F(StoreTest, DeletingAGridRemovesEverythingOfItsStacksServicesAndLogs) {
  Store& s = open();
  auto demo = populate(s, "demo");
  auto prod = populate(s, "prod");
  s.delete_grid(demo.grid.id);

  EXPECT_TRUE(s.stacks_of_grid(demo.grid.id).empty());
  EXPECT_TRUE(s.services_of_grid(demo.grid.id).empty());
  EXPECT_TRUE(s.instances_of_grid(demo.grid.id).empty());
  EXPECT_FALSE(s.stack_deploy(demo.stack_deploy.id));
  EXPECT_FALSE(s.service_deploy(demo.loose_deploy.id));
  Store::LogFilter filter;
  filter.grid_id = demo.grid.id;
  EXPECT_TRUE(s.events(filter).empty());
  EXPECT_TRUE(s.container_logs(filter).empty());

  // The other grid keeps all of its rows.
  RawDatabase raw(path_);
  EXPECT_EQ(count(raw, "stacks"), "1");
  EXPECT_EQ(count(raw, "stack_revisions"), "2");
  EXPECT_EQ(count(raw, "services"), "3");
  EXPECT_EQ(count(raw, "service_instances"), "6");
  EXPECT_EQ(count(raw, "stack_deploys"), "1");
  EXPECT_EQ(count(raw, "service_deploys"), "3");
  EXPECT_EQ(count(raw, "event_logs"), "2");
  EXPECT_EQ(count(raw, "container_logs"), "3");
  filter.grid_id = prod.grid.id;
  EXPECT_EQ(s.events(filter).size(), 2u);
  EXPECT_EQ(s.container_logs(filter).size(), 3u);
  EXPECT_EQ(s.instances_of_grid(prod.grid.id).size(), 6u);

  EXPECT_TRUE(fails_with(ErrorKind::not_found, "not found", [&] { s.delete_grid(demo.grid.id); }));
}

TEST_F(StoreTest, DeletingAStackRemovesRevisionsServicesInstancesAndDeploys) {
  Store& s = open();
  auto p = populate(s, "demo");
  s.delete_stack(p.stack.id);

  EXPECT_FALSE(s.stack_by_id(p.stack.id));
  EXPECT_TRUE(s.stack_revisions(p.stack.id).empty());
  EXPECT_FALSE(s.service_by_id(p.web.id));
  EXPECT_FALSE(s.service_by_id(p.db.id));
  EXPECT_TRUE(s.instances_of_service(p.web.id).empty());
  EXPECT_FALSE(s.stack_deploy(p.stack_deploy.id));
  EXPECT_FALSE(s.service_deploy(p.web_deploy.id));
  EXPECT_TRUE(s.deploys_of_stack_deploy(p.stack_deploy.id).empty());

  // The stack-less service, its instances and deploy, and the logs stay.
  auto services = s.services_of_grid(p.grid.id);
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].name, "lb");
  EXPECT_EQ(s.instances_of_grid(p.grid.id).size(), 2u);
  EXPECT_TRUE(s.service_deploy(p.loose_deploy.id));
  RawDatabase raw(path_);
  EXPECT_EQ(count(raw, "stack_revisions"), "0");
  EXPECT_EQ(count(raw, "service_deploys"), "1");
  EXPECT_EQ(count(raw, "event_logs"), "2");

  EXPECT_TRUE(fails_with(ErrorKind::not_found, "not found", [&] { s.delete_stack(p.stack.id); }));
}

TEST_F(StoreTest, DeletingAServiceRemovesItsInstancesAndDeploysOnly) {
  Store& s = open();
  auto p = populate(s, "demo");
  s.delete_service(p.web.id);
  EXPECT_FALSE(s.service_by_id(p.web.id));
  EXPECT_TRUE(s.instances_of_service(p.web.id).empty());
  EXPECT_FALSE(s.service_deploy(p.web_deploy.id));
  EXPECT_TRUE(s.deploys_of_service(p.web.id, 10).empty());

  EXPECT_TRUE(s.stack_by_id(p.stack.id));
  EXPECT_TRUE(s.stack_deploy(p.stack_deploy.id));
  EXPECT_EQ(s.deploys_of_stack_deploy(p.stack_deploy.id).size(), 1u);  // db's
  EXPECT_EQ(s.instances_of_service(p.db.id).size(), 2u);
  EXPECT_EQ(s.instances_of_service(p.loose.id).size(), 2u);
}

TEST_F(StoreTest, DeletingANodeUnplacesItsInstances) {
  Store& s = open();
  auto p = populate(s, "demo");
  auto other = s.insert_node(make_node(p.grid.id, "node-2"));
  s.upsert_instance(make_instance(p.web.id, 3, other.id));
  ASSERT_EQ(s.instances_on_node(p.node.id).size(), 6u);

  s.delete_node(p.node.id);
  EXPECT_TRUE(s.instances_on_node(p.node.id).empty());
  auto instances = s.instances_of_grid(p.grid.id);
  ASSERT_EQ(instances.size(), 7u);  // none deleted
  int unplaced = 0;
  for (const auto& instance : instances) {
    if (instance.node_id == 0) ++unplaced; else EXPECT_EQ(instance.node_id, other.id);
  }
  EXPECT_EQ(unplaced, 6);
  EXPECT_EQ(s.instance(p.web.id, 3)->node_id, other.id);
}

TEST_F(StoreTest, AFailedMultiTableWriteInATransactionLeavesNothing) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  auto node = s.insert_node(make_node(grid.id, "node-1"));
  s.insert_stack(make_stack(grid.id, "taken"), Json::object());

  // Stack, revision, service, instance, deploys and logs, then a conflict: all rolled back.
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "stack \"taken\" already exists", [&] {
    s.transaction([&] {
      auto stack = s.insert_stack(make_stack(grid.id, "shop"), Json::object());
      s.add_stack_revision(stack.id, make_definition("shop", "b"));
      auto service = s.insert_service(make_service(grid.id, stack.id, "web"));
      s.upsert_instance(make_instance(service.id, 1, node.id));
      auto stack_deploy = s.insert_stack_deploy(make_stack_deploy(stack.id));
      s.insert_service_deploy(make_service_deploy(service.id, stack_deploy.id));
      EventLog event;
      event.grid_id = grid.id;
      event.message = "x";
      s.append_events({event});
      ContainerLog line;
      line.grid_id = grid.id;
      s.append_container_logs({line});
      s.insert_stack(make_stack(grid.id, "taken"), Json::object());
    });
  }));
  EXPECT_FALSE(s.stack_by_name(grid.id, "shop"));
  RawDatabase raw(path_);
  EXPECT_EQ(count(raw, "stacks"), "1");
  EXPECT_EQ(count(raw, "stack_revisions"), "1");
  for (const char* table :
       {"services", "service_instances", "stack_deploys", "service_deploys", "event_logs", "container_logs"}) {
    EXPECT_EQ(count(raw, table), "0") << table;
  }

  // The same writes without the failure all land.
  s.transaction([&] {
    auto stack = s.insert_stack(make_stack(grid.id, "shop"), Json::object());
    auto service = s.insert_service(make_service(grid.id, stack.id, "web"));
    s.upsert_instance(make_instance(service.id, 1, node.id));
  });
  EXPECT_EQ(s.instances_of_grid(grid.id).size(), 1u);
}

TEST_F(StoreTest, AVersion1DatabaseUpgradesInPlaceKeepingItsData) {
  // A database as a version-1 kontena-server left it: the v1 schema, one grid and one node.
  std::filesystem::create_directories(path_.parent_path());
  {
    RawDatabase raw(path_);
    raw.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)");
    raw.exec("BEGIN");
    raw.exec(std::string(sqlite::migrations().at(0).sql));
    raw.exec("INSERT INTO schema_migrations VALUES (1, 42)");
    raw.exec("COMMIT");
    ASSERT_EQ(sqlite::migrations().at(0).version, 1);
  }
  {
    // The rows as version 1 wrote them.
    RawDatabase raw(path_);
    raw.exec(
        "INSERT INTO grids (id, name, token, initial_size, subnet, supernet, default_affinity, trusted_subnets, "
        "stats, logs, created_at, updated_at) VALUES (7, 'demo', 'tok', 3, '10.81.0.0/16', '10.80.0.0/12', '[]', "
        "'[\"10.0.0.0/8\"]', '{}', '{}', 1, 2)");
    raw.exec(
        "INSERT INTO nodes (id, grid_id, name, node_id, node_number, token, labels, availability, connected, "
        "connected_at, last_seen_at, info, created_at, updated_at) VALUES (3, 7, 'node-1', 'ABCD', 1, NULL, "
        "'[\"az=a\"]', 'active', 0, 0, 0, '{}', 1, 2)");
    EXPECT_EQ(raw.value("SELECT count(*) FROM sqlite_master WHERE name = 'stacks'"), "0");
  }

  Store& s = open();
  EXPECT_EQ(s.schema_version(), sqlite::latest_schema_version());
  EXPECT_GE(s.schema_version(), 2);
  auto grid = s.grid_by_id(7);
  ASSERT_TRUE(grid);
  EXPECT_EQ(grid->name, "demo");
  EXPECT_EQ(grid->initial_size, 3);
  EXPECT_EQ(grid->trusted_subnets, (std::vector<std::string>{"10.0.0.0/8"}));
  auto node = s.node_by_name(7, "node-1");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->id, 3);
  EXPECT_EQ(node->node_id, "ABCD");
  EXPECT_EQ(node->labels, (std::vector<std::string>{"az=a"}));

  // The new tables work against the old rows.
  auto stack = s.insert_stack(make_stack(7, "shop"), make_definition("shop", "a"));
  auto service = s.insert_service(make_service(7, stack.id, "web"));
  s.upsert_instance(make_instance(service.id, 1, 3));
  EXPECT_EQ(s.instances_on_node(3).size(), 1u);
  s.insert_service_deploy(make_service_deploy(service.id));
  EXPECT_EQ(s.pending_service_deploys().size(), 1u);
  EventLog event;
  event.grid_id = 7;
  event.message = "upgraded";
  s.append_events({event});
  Store::LogFilter filter;
  filter.grid_id = 7;
  EXPECT_EQ(s.events(filter).size(), 1u);

  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT applied_at FROM schema_migrations WHERE version = 1"), "42");  // kept
  EXPECT_EQ(raw.value("SELECT count(*) FROM schema_migrations WHERE version = 2 AND applied_at != 42"), "1");

  // Reopening runs nothing again and keeps everything.
  Store& again = reopen();
  EXPECT_EQ(again.schema_version(), sqlite::latest_schema_version());
  EXPECT_EQ(again.services_of_grid(7).size(), 1u);
  EXPECT_EQ(raw.value("SELECT count(*) FROM schema_migrations"), std::to_string(sqlite::migrations().size()));
}

}  // namespace
}  // namespace kontena::master::testing
