// Container log shipping (src/agent/logs): which containers are followed and from when, the
// /containers/log_batch line format, batching (100 lines or 0.5 s), the bounded queue while the
// master cannot take lines, resuming a log stream without duplicates, and the wiring into the
// agent session (LogSync) against the fake master.
#include <gtest/gtest.h>

#include <thread>

#include "agent/logs/log_shipper.h"
#include "agent/logs/log_sync.h"
#include "agent_harness.h"
#include "common/clock.h"
#include "protocol/service_pod.h"

using namespace kontena;
using namespace kontena::agent;
using namespace kontena::agent::logs;
using agent::fakes::AgentHarness;
using agent::fakes::FakeDocker;
using agent::fakes::FakeMaster;
using agent::fakes::FakeMasterConnection;
using std::chrono::milliseconds;

namespace {

docker::ContainerSummary container(const std::string& id, const std::string& name, const std::string& service_id,
                                   int instance, const std::string& state = "running",
                                   std::map<std::string, std::string> extra = {}) {
  docker::ContainerSummary c;
  c.id = id;
  c.name = name;
  c.state = state;
  if (!service_id.empty()) {
    c.labels[protocol::kLabelServiceId] = service_id;
    c.labels[protocol::kLabelInstanceNumber] = std::to_string(instance);
    c.labels[protocol::kLabelContainerType] = protocol::kContainerTypeContainer;
  }
  for (auto& [k, v] : extra) c.labels[k] = v;
  return c;
}

// "2026-11-26T01:02:03.000000NNNZ": distinct, ordered times within one second.
std::string t(int n, int second = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "2026-11-26T01:02:%02d.%09dZ", second, n);
  return buf;
}

class LogShipperTest : public ::testing::Test {
 protected:
  void make(LogShipperOptions o = {}) {
    o.watch_events = false;
    shipper = std::make_unique<LogShipper>(docker, clock, o, [this](const Json& lines) {
      std::lock_guard lock(mu);
      if (!connected) return false;
      batches.push_back(lines);
      return true;
    });
  }
  std::vector<std::string> shipped_data() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (auto& b : batches)
      for (auto& l : b) out.push_back(l["data"].get<std::string>());
    return out;
  }
  std::size_t batch_count() {
    std::lock_guard lock(mu);
    return batches.size();
  }

  FakeDocker docker;
  ManualClock clock{std::chrono::system_clock::time_point{milliseconds(1795530000123)}};
  std::unique_ptr<LogShipper> shipper;
  std::mutex mu;
  bool connected = true;
  std::vector<Json> batches;
};

}  // namespace

TEST(LogTimes, DockerTimesToNanosecondsAndBackToMilliseconds) {
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:01Z"), 1'000'000'000);
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:01.000000007Z"), 1'000'000'007);
  // Trailing zeros trimmed by Docker: .1 and .12 still compare as times, not as text.
  EXPECT_LT(*parse_time_ns("2026-11-26T01:02:03.1Z"), *parse_time_ns("2026-11-26T01:02:03.12Z"));
  EXPECT_EQ(parse_time_ns("2026-11-26T02:02:03+01:00"), parse_time_ns("2026-11-26T01:02:03Z"));
  EXPECT_EQ(parse_time_ns("2026-11-26T01:02:03.1234567891Z"), parse_time_ns("2026-11-26T01:02:03.123456789Z"));
  EXPECT_FALSE(parse_time_ns(""));
  EXPECT_FALSE(parse_time_ns("2026-13-26T01:02:03Z"));
  EXPECT_FALSE(parse_time_ns("2026-11-26T01:02:03.Z"));
  EXPECT_FALSE(parse_time_ns("2026-11-26T01:02:03Zjunk"));
  EXPECT_EQ(format_iso_ms(*parse_time_ns("2026-11-26T01:02:03.123987Z")), "2026-11-26T01:02:03.123Z");
}

TEST_F(LogShipperTest, FollowsServiceContainersOnlyAndSendsTheContractFormat) {
  docker.set_containers({container("a1", "shop.web-2", "svc-1", 2),
                         container("b1", "plain", "", 0),
                         container("c1", "shop.quiet-1", "svc-2", 1, "running", {{kLabelSkipLogs, "1"}}),
                         container("d1", "shop.web-2-pre-start-1", "svc-1", 2, "running",
                                   {{protocol::kLabelContainerType, protocol::kContainerTypeHook}})});
  make();
  shipper->scan();
  auto streams = docker.log_streams();
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0]->id, "a1");
  EXPECT_TRUE(streams[0]->options.follow);
  EXPECT_TRUE(streams[0]->options.timestamps);
  // There before the agent looked: from the first scan on (no old history after an agent restart).
  ASSERT_TRUE(streams[0]->options.since_unix.has_value());
  EXPECT_EQ(*streams[0]->options.since_unix, clock.now_unix_ms() / 1000);
  EXPECT_EQ(shipper->followed(), std::vector<std::string>{"a1"});

  ASSERT_TRUE(docker.emit_log("a1", "stdout", "hello", "2026-11-26T01:02:03.123456789Z"));
  ASSERT_TRUE(docker.emit_log("a1", "stderr", std::string("bad \xFF"), "2026-11-26T01:02:04Z"));
  EXPECT_EQ(shipper->flush_once(false), 0u);  // neither 100 lines nor 0.5 s old yet
  EXPECT_EQ(shipper->flush_once(true), 2u);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0], Json::parse(R"([
    {"service_id":"svc-1","instance_number":2,"container":"shop.web-2","stream":"stdout","data":"hello",
     "time":"2026-11-26T01:02:03.123Z"},
    {"service_id":"svc-1","instance_number":2,"container":"shop.web-2","stream":"stderr","data":"bad \uFFFD",
     "time":"2026-11-26T01:02:04.000Z"}])"));
  // A second scan does not open the stream again.
  shipper->scan();
  EXPECT_EQ(docker.log_streams().size(), 1u);
}

TEST_F(LogShipperTest, BatchesOfAtMost100LinesOrAfterTheFlushInterval) {
  docker.set_containers({container("a1", "web-1", "svc-1", 1)});
  LogShipperOptions o;
  o.flush_interval = milliseconds(300);
  make(o);
  shipper->scan();
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(docker.emit_log("a1", "stdout", "line " + std::to_string(i), t(i)));
  EXPECT_EQ(shipper->flush_once(false), 100u);
  EXPECT_EQ(shipper->flush_once(false), 100u);
  EXPECT_EQ(shipper->flush_once(false), 0u);  // 50 waiting, younger than 0.3 s
  std::this_thread::sleep_for(milliseconds(350));
  EXPECT_EQ(shipper->flush_once(false), 50u);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 100u);
  EXPECT_EQ(batches[2].size(), 50u);
  auto data = shipped_data();
  ASSERT_EQ(data.size(), 250u);
  for (int i = 0; i < 250; ++i) EXPECT_EQ(data[i], "line " + std::to_string(i));
  EXPECT_EQ(shipper->queued(), 0u);
  EXPECT_EQ(shipper->shipped(), 250u);
}

TEST_F(LogShipperTest, WhileDisconnectedAtMost2000LinesWaitTheOldestDropped) {
  docker.set_containers({container("a1", "web-1", "svc-1", 1)});
  make();
  shipper->scan();
  connected = false;
  for (int i = 0; i < 2500; ++i) docker.emit_log("a1", "stdout", "l" + std::to_string(i), t(i));
  EXPECT_EQ(shipper->queued(), 2000u);
  EXPECT_EQ(shipper->dropped(), 500u);
  EXPECT_EQ(shipper->flush_once(true), 0u);  // not sent: kept
  EXPECT_EQ(shipper->queued(), 2000u);
  connected = true;
  while (shipper->flush_once(true) > 0) {
  }
  auto data = shipped_data();
  ASSERT_EQ(data.size(), 2000u);
  EXPECT_EQ(data.front(), "l500");
  EXPECT_EQ(data.back(), "l2499");
  EXPECT_EQ(batch_count(), 20u);
}

TEST_F(LogShipperTest, AResumedStreamSendsNoLineTwice) {
  docker.set_containers({container("a1", "web-1", "svc-1", 1)});
  make();
  shipper->scan();
  docker.emit_log("a1", "stdout", "one", t(1, 3));
  docker.emit_log("a1", "stdout", "two", t(5, 4));
  docker.emit_log("a1", "stderr", "two-bis", t(5, 4));  // the very same time
  // The stream ends (the container restarted, or the engine dropped it); the next scan follows
  // again from that second and Docker sends the lines of that second again.
  docker.end_logs("a1");
  EXPECT_TRUE(shipper->followed().empty());
  shipper->scan();
  auto streams = docker.log_streams();
  ASSERT_EQ(streams.size(), 2u);
  ASSERT_TRUE(streams[1]->options.since_unix.has_value());
  EXPECT_EQ(*streams[1]->options.since_unix, *parse_time_ns(t(5, 4)) / 1'000'000'000);
  docker.emit_log("a1", "stdout", "two", t(5, 4));
  docker.emit_log("a1", "stderr", "two-bis", t(5, 4));
  docker.emit_log("a1", "stdout", "two-ter", t(5, 4));  // a third line at that time: new
  docker.emit_log("a1", "stdout", "three", t(6, 4));
  docker.emit_log("a1", "stdout", "four", t(0, 5));
  while (shipper->flush_once(true) > 0) {
  }
  EXPECT_EQ(shipped_data(), (std::vector<std::string>{"one", "two", "two-bis", "two-ter", "three", "four"}));
}

TEST_F(LogShipperTest, NewContainersFromTheirStartStoppedOnesReadOnceGoneOnesForgotten) {
  docker.set_containers({container("old", "web-1", "svc-1", 1), container("old-stopped", "web-2", "svc-1", 2, "exited")});
  make();
  shipper->scan();
  EXPECT_EQ(docker.log_streams_of("old-stopped"), 0u);  // there before: not read
  // Later: a new running container, and one that started and ended between two scans.
  docker.set_containers({container("old", "web-1", "svc-1", 1), container("old-stopped", "web-2", "svc-1", 2, "exited"),
                         container("new", "web-3", "svc-1", 3), container("brief", "web-4", "svc-1", 4, "exited")});
  shipper->scan();
  auto streams = docker.log_streams();
  ASSERT_EQ(streams.size(), 3u);
  EXPECT_EQ(streams[1]->id, "new");
  EXPECT_FALSE(streams[1]->options.since_unix.has_value());  // from its first line
  EXPECT_EQ(streams[2]->id, "brief");
  EXPECT_FALSE(streams[2]->options.since_unix.has_value());
  docker.emit_log("brief", "stdout", "it ran", t(1));
  docker.end_logs("brief");
  shipper->scan();
  EXPECT_EQ(docker.log_streams_of("brief"), 1u);  // read once, not again
  // A container that failed to open is retried on the next scan.
  docker.set_logs_missing("late");
  docker.set_containers({container("old", "web-1", "svc-1", 1), container("late", "web-5", "svc-1", 5)});
  shipper->scan();
  EXPECT_EQ(shipper->followed(), std::vector<std::string>{"old"});  // new/brief gone: forgotten
  EXPECT_TRUE(streams[1]->cancelled.load());
  shipper->flush_once(true);
  EXPECT_EQ(shipped_data(), std::vector<std::string>{"it ran"});
}

TEST_F(LogShipperTest, BackgroundThreadBatchesWithinTheInterval) {
  docker.set_containers({container("a1", "web-1", "svc-1", 1)});
  LogShipperOptions o;
  o.flush_interval = milliseconds(100);
  o.rescan_interval = milliseconds(50);
  make(o);
  shipper->start();
  auto until = [](auto pred, milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(milliseconds(5));
    return pred();
  };
  ASSERT_TRUE(until([&] { return !shipper->followed().empty(); }, milliseconds(3000)));
  for (int i = 0; i < 5; ++i) docker.emit_log("a1", "stdout", "bg" + std::to_string(i), t(i));
  ASSERT_TRUE(until([&] { return shipped_data().size() == 5; }, milliseconds(3000)));
  EXPECT_EQ(batch_count(), 1u);  // the five lines went together
  // 100 lines at once go out without waiting for the interval.
  for (int i = 0; i < 100; ++i) docker.emit_log("a1", "stdout", "x", t(100 + i));
  ASSERT_TRUE(until([&] { return shipped_data().size() == 105; }, milliseconds(3000)));
  shipper->stop();
  EXPECT_TRUE(shipper->followed().empty());
}

// ------------------------------------------------------------------------------------------
// In the agent session: /containers/log_batch notifications to the master.

namespace {

class LogSyncTest : public AgentHarness {
 protected:
  ~LogSyncTest() override {
    stop_agent();
    if (sync) sync->stop();
    stop_master();
    sync.reset();
  }
  void start() {
    start_agent();
    LogShipperOptions o;
    o.flush_interval = milliseconds(100);
    o.rescan_interval = milliseconds(100);
    o.watch_events = false;
    sync = std::make_unique<LogSync>(*agent, io.get_executor(), *docker, system_clock, o);
    run_agent();
  }
  std::vector<Json> batches() {
    auto* c = master.ws(0);
    return c ? c->calls("/containers/log_batch") : std::vector<Json>{};
  }
  SystemClock system_clock;
  std::unique_ptr<LogSync> sync;
};

}  // namespace

TEST_F(LogSyncTest, LinesGoToTheMasterAsLogBatchNotifications) {
  docker->set_containers({container("a1", "shop.web-1", "svc-1", 1)});
  start();
  ASSERT_TRUE(run_until([&] { return docker->log_streams_of("a1") == 1; }));
  docker->emit_log("a1", "stdout", "GET / 200", "2026-11-26T01:02:03.5Z");
  docker->emit_log("a1", "stderr", "warning", "2026-11-26T01:02:04.5Z");
  ASSERT_TRUE(run_until([&] { return !batches().empty(); }));
  Json n = batches().front();
  ASSERT_EQ(n.size(), 3u) << n.dump();  // a notification
  EXPECT_EQ(n[2][0], "QWER:TYUI:OPAS:DFGH:JKLZ:XCVB:NMQW:ERTY:UIOP:ASDF:GHJK:LZXC");
  ASSERT_EQ(n[2][1].size(), 2u);
  EXPECT_EQ(n[2][1][0]["data"], "GET / 200");
  EXPECT_EQ(n[2][1][0]["time"], "2026-11-26T01:02:03.500Z");
  EXPECT_EQ(n[2][1][1]["stream"], "stderr");
  EXPECT_EQ(n[2][1][1]["container"], "shop.web-1");
}

TEST_F(LogSyncTest, LinesWaitWhileDisconnectedAndFollowAfterTheReconnect) {
  docker->set_containers({container("a1", "shop.web-1", "svc-1", 1)});
  options.backoff_base = milliseconds(1000);  // reconnects after 0.5..1 s: time to look at the queue
  options.backoff_max = milliseconds(1000);
  start();
  ASSERT_TRUE(run_until([&] { return docker->log_streams_of("a1") == 1 && master.ws_count() == 1; }));
  master.ws(0)->drop();
  ASSERT_TRUE(run_until([&] { return !agent->connected(); }));
  docker->emit_log("a1", "stdout", "while away", "2026-11-26T01:02:03Z");
  run_for(milliseconds(250));  // the shipper tries and is told no
  EXPECT_EQ(sync->shipper().queued(), 1u);
  EXPECT_EQ(master.ws_count(), 1u);
  ASSERT_TRUE(run_until([&] { return master.ws_count() == 2 && !master.ws(1)->calls("/containers/log_batch").empty(); }));
  auto n = master.ws(1)->calls("/containers/log_batch").front();
  ASSERT_EQ(n[2][1].size(), 1u);
  EXPECT_EQ(n[2][1][0]["data"], "while away");
  EXPECT_TRUE(master.ws(0)->calls("/containers/log_batch").empty());
}
