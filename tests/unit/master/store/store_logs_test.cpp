// Event and container logs: round trips, filters, tail/head, and the bound on their size.
#include "store_fixture.h"

namespace kontena::master::testing {
namespace {

EventLog make_event(std::int64_t grid_id, const std::string& stack, const std::string& service, int instance,
                    const std::string& message, std::int64_t created_at) {
  EventLog event;
  event.grid_id = grid_id;
  event.stack = stack;
  event.service = service;
  event.instance_number = instance;
  event.node = instance % 2 ? "node-1" : "node-2";
  event.type = "service:create_instance";
  event.severity = 2;
  event.message = message;
  event.created_at = created_at;
  return event;
}

ContainerLog make_line(std::int64_t grid_id, const std::string& stack, const std::string& service, int instance,
                       const std::string& data, std::int64_t created_at) {
  ContainerLog line;
  line.grid_id = grid_id;
  line.stack = stack;
  line.service = service;
  line.instance_number = instance;
  line.node = instance % 2 ? "node-1" : "node-2";
  line.container = stack + "." + service + "-" + std::to_string(instance);
  line.stream = instance % 2 ? "stdout" : "stderr";
  line.data = data;
  line.created_at = created_at;
  return line;
}

Store::LogFilter grid_filter(std::int64_t grid_id) {
  Store::LogFilter filter;
  filter.grid_id = grid_id;
  return filter;
}

template <class Record>
std::vector<std::string> texts(const std::vector<Record>& records) {
  std::vector<std::string> result;
  for (const auto& record : records) {
    if constexpr (std::is_same_v<Record, EventLog>) result.push_back(record.message); else result.push_back(record.data);
  }
  return result;
}

using Texts = std::vector<std::string>;

class LogsTest : public StoreTest {
 protected:
  // grid "demo": 10 lines m0..m9 at t = 1000 + i, alternating shop/web (even i) and null/lb (odd
  // i), instance 1 + i % 3; grid "prod": one line.
  void fill() {
    Store& s = open();
    demo_ = s.insert_grid(make_grid("demo")).id;
    prod_ = s.insert_grid(make_grid("prod")).id;
    std::vector<EventLog> events;
    std::vector<ContainerLog> lines;
    for (int i = 0; i < 10; ++i) {
      bool web = i % 2 == 0;
      events.push_back(make_event(demo_, web ? "shop" : "null", web ? "web" : "lb", 1 + i % 3,
                                  "m" + std::to_string(i), 1000 + i));
      lines.push_back(make_line(demo_, web ? "shop" : "null", web ? "web" : "lb", 1 + i % 3, "m" + std::to_string(i),
                                1000 + i));
    }
    s.append_events(events);
    s.append_events({make_event(prod_, "shop", "web", 1, "prod", 5000)});
    s.append_container_logs(lines);
    s.append_container_logs({make_line(prod_, "shop", "web", 1, "prod", 5000)});
  }
  Store::LogFilter filter() {
    Store::LogFilter f;
    f.grid_id = demo_;
    return f;
  }
  // Runs the same filter on both logs and checks both give these texts.
  void expect(const Store::LogFilter& f, const Texts& expected) {
    EXPECT_EQ(texts(store().events(f)), expected);
    EXPECT_EQ(texts(store().container_logs(f)), expected);
  }

  std::int64_t demo_ = 0, prod_ = 0;
};

TEST_F(LogsTest, EventAndLineRoundTripEveryField) {
  Store& s = open();
  auto grid = s.insert_grid(make_grid("demo"));
  EventLog event = make_event(grid.id, "shop", "web", 3, "image pulled: ü", 1'700'000'000'123);
  event.id = 999;  // ignored: the store numbers them
  s.append_events({event});
  auto events = s.events(grid_filter(grid.id));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_GT(events[0].id, 0);
  event.id = events[0].id;
  EXPECT_EQ(fields(events[0]), fields(event));

  ContainerLog line = make_line(grid.id, "shop", "web", 3, "GET / 200\twith tab", 1'700'000'000'456);
  s.append_container_logs({line});
  auto lines = s.container_logs(grid_filter(grid.id));
  ASSERT_EQ(lines.size(), 1u);
  line.id = lines[0].id;
  EXPECT_EQ(fields(lines[0]), fields(line));

  s.append_events({});  // nothing to do
  s.append_container_logs({});
  EXPECT_EQ(s.events(grid_filter(grid.id)).size(), 1u);
}

TEST_F(LogsTest, FiltersNarrowByGridStackServiceInstanceNodeIdAndTime) {
  fill();
  expect(filter(), Texts{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"});

  auto f = filter();
  f.stack = "shop";
  expect(f, Texts{"m0", "m2", "m4", "m6", "m8"});
  f.service = "web";
  expect(f, Texts{"m0", "m2", "m4", "m6", "m8"});
  f.stack = "null";  // web is not in the null stack
  expect(f, Texts{});

  f = filter();
  f.service = "lb";
  expect(f, Texts{"m1", "m3", "m5", "m7", "m9"});
  f.instance_number = 2;  // 1 + i % 3 == 2: i = 1, 4, 7
  expect(f, Texts{"m1", "m7"});

  f = filter();
  f.node = "node-2";  // instance even: i % 3 == 1
  expect(f, Texts{"m1", "m4", "m7"});

  f = filter();
  f.since = 1007;
  expect(f, Texts{"m7", "m8", "m9"});

  // after_id: only newer entries, as a client polling with `from` sees them.
  auto all = store().events(filter());
  f = filter();
  f.after_id = all[6].id;
  EXPECT_EQ(texts(store().events(f)), (Texts{"m7", "m8", "m9"}));
  auto all_lines = store().container_logs(filter());
  f.after_id = all_lines[8].id;
  EXPECT_EQ(texts(store().container_logs(f)), (Texts{"m9"}));
  f.after_id = all_lines[9].id;
  EXPECT_TRUE(store().container_logs(f).empty());

  // Grids do not mix; grid 0 is every grid.
  f = filter();
  f.grid_id = prod_;
  expect(f, Texts{"prod"});
  f.grid_id = 0;
  EXPECT_EQ(store().events(f).size(), 11u);
  f.grid_id = prod_ + demo_ + 100;
  expect(f, Texts{});
}

TEST_F(LogsTest, TailGivesTheNewestOldestFirstHeadTheOldest) {
  fill();
  auto f = filter();
  f.limit = 3;
  f.tail = true;
  expect(f, Texts{"m7", "m8", "m9"});
  f.tail = false;
  expect(f, Texts{"m0", "m1", "m2"});

  f.service = "web";
  f.tail = true;
  expect(f, Texts{"m4", "m6", "m8"});
  f.tail = false;
  f.after_id = store().events(filter())[2].id;  // after m2
  EXPECT_EQ(texts(store().events(f)), (Texts{"m4", "m6", "m8"}));

  f = filter();
  f.limit = 0;  // no limit
  expect(f, Texts{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"});
}

TEST_F(LogsTest, LogsKeepOnlyTheNewestPastTheirBound) {
  SqliteOptions options;
  options.max_event_logs = 5;
  options.max_container_logs = 7;
  Store& s = open(options);
  auto grid = s.insert_grid(make_grid("demo"));
  for (int batch = 0; batch < 4; ++batch) {
    std::vector<EventLog> events;
    std::vector<ContainerLog> lines;
    for (int i = 0; i < 3; ++i) {
      std::string text = "m" + std::to_string(batch * 3 + i);
      events.push_back(make_event(grid.id, "shop", "web", 1, text, 1000));
      lines.push_back(make_line(grid.id, "shop", "web", 1, text, 1000));
    }
    s.append_events(events);
    s.append_container_logs(lines);
  }
  Store::LogFilter f;
  f.grid_id = grid.id;
  f.limit = 100;
  EXPECT_EQ(texts(s.events(f)), (Texts{"m7", "m8", "m9", "m10", "m11"}));
  EXPECT_EQ(texts(s.container_logs(f)), (Texts{"m5", "m6", "m7", "m8", "m9", "m10", "m11"}));
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM event_logs"), "5");
  EXPECT_EQ(raw.value("SELECT count(*) FROM container_logs"), "7");

  // A batch larger than the bound keeps its own newest.
  std::vector<EventLog> big;
  for (int i = 0; i < 8; ++i) big.push_back(make_event(grid.id, "shop", "web", 1, "b" + std::to_string(i), 2000));
  s.append_events(big);
  EXPECT_EQ(texts(s.events(f)), (Texts{"b3", "b4", "b5", "b6", "b7"}));

  // Ids keep growing across trims, so a poller's after_id stays meaningful.
  auto newest = s.events(f).back().id;
  s.append_events({make_event(grid.id, "shop", "web", 1, "later", 3000)});
  f.after_id = newest;
  EXPECT_EQ(texts(s.events(f)), (Texts{"later"}));
}

TEST_F(LogsTest, ZeroBoundKeepsEverything) {
  SqliteOptions options;
  options.max_event_logs = 0;
  options.max_container_logs = 0;
  Store& s = open(options);
  auto grid = s.insert_grid(make_grid("demo"));
  std::vector<EventLog> events(50, make_event(grid.id, "shop", "web", 1, "x", 1));
  s.append_events(events);
  s.append_events(events);
  Store::LogFilter f;
  f.grid_id = grid.id;
  f.limit = 0;
  EXPECT_EQ(s.events(f).size(), 100u);
}

TEST_F(LogsTest, LogQueriesUseTheirIndexes) {
  fill();
  // The plan's "detail" column (the 4th) of every row, through a connection of our own.
  auto detail = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    std::string all;
    if (sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        all += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
        all += "; ";
      }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return all;
  };
  EXPECT_NE(detail("SELECT id FROM event_logs WHERE grid_id = 1 AND service = 'web' ORDER BY id DESC LIMIT 10")
                .find("event_logs_by_service"),
            std::string::npos);
  EXPECT_NE(detail("SELECT id FROM container_logs WHERE grid_id = 1 ORDER BY id DESC LIMIT 10").find("container_logs_by_grid"),
            std::string::npos);
  EXPECT_NE(detail("SELECT id FROM service_instances WHERE node_id = 3").find("service_instances_by_node"),
            std::string::npos);
  EXPECT_NE(detail("SELECT id FROM service_deploys d WHERE d.state IN ('created', 'ongoing') ORDER BY d.id")
                .find("service_deploys_pending"),
            std::string::npos);
}

}  // namespace
}  // namespace kontena::master::testing
