// Liveness: pings every ping_interval, pong within ping_timeout or close 4030 and offline; slow
// pong warnings; newer connections; restarts. Driven by a ManualClock, no sockets.
#include "hub_fixture.h"

#include "master/api/views.h"

namespace kontena::master::testing {
namespace {

namespace proto = kontena::protocol;

class LivenessTest : public HubFixture {
 protected:
  void advance(std::chrono::milliseconds d) {
    clock_.advance(d);
    hub_->tick(clock_.now());
  }
  std::string status(const std::string& name) { return node_status(*node(name)); }
};

TEST_F(LivenessTest, PingsEveryIntervalAndAcceptsTimelyPongs) {
  auto a = connect_grid(id('A'), "alpha");
  ASSERT_TRUE(a.admitted());
  auto connected_ms = node("alpha")->last_seen_at;
  advance(29'999ms);
  EXPECT_TRUE(a.channel->pings.empty());
  advance(1ms);
  ASSERT_EQ(a.channel->pings, std::vector<std::string>{"1"});
  advance(1000ms);
  a.listener->on_pong("1");
  EXPECT_EQ(node("alpha")->last_seen_at, connected_ms + 31'000);
  // No second ping before the interval has passed again, and no timeout either.
  advance(28'999ms);
  EXPECT_EQ(a.channel->pings.size(), 1u);
  EXPECT_FALSE(a.channel->closed);
  advance(1ms);
  EXPECT_EQ(a.channel->pings, (std::vector<std::string>{"1", "2"}));
  a.listener->on_pong("2");
  EXPECT_FALSE(a.channel->closed);
  EXPECT_TRUE(node("alpha")->connected);
}

TEST_F(LivenessTest, PingTimeoutClosesWith4030AndMarksOffline) {
  auto a = connect_grid(id('A'), "alpha");
  a.say(Json::array({0, 1, "/nodes/update", Json::array({{{"ServerVersion", "20.10"}}})}));
  EXPECT_EQ(status("alpha"), "online");
  advance(30'000ms);
  ASSERT_EQ(a.channel->pings.size(), 1u);
  advance(4'999ms);
  EXPECT_FALSE(a.channel->closed);
  advance(1ms);
  EXPECT_EQ(a.close_code(), proto::kClosePingTimeout);
  EXPECT_EQ(status("alpha"), "offline");
  EXPECT_FALSE(hub_->connected(node("alpha")->id));
  // The socket's own close arriving afterwards changes nothing, and a late pong is ignored.
  a.listener->on_pong("1");
  a.listener->on_closed(proto::kClosePingTimeout, "ping timeout");
  EXPECT_EQ(status("alpha"), "offline");
}

TEST_F(LivenessTest, PongLaterThanTheTimeoutCountsAsATimeout) {
  auto a = connect_grid(id('A'), "alpha");
  advance(30'000ms);
  clock_.advance(5'001ms);  // no tick in between: the pong itself is too late
  a.listener->on_pong("1");
  EXPECT_EQ(a.close_code(), proto::kClosePingTimeout);
  EXPECT_FALSE(node("alpha")->connected);
}

TEST_F(LivenessTest, StaleOrUnsolicitedPongsAreIgnored) {
  auto a = connect_grid(id('A'), "alpha");
  auto seen = node("alpha")->last_seen_at;
  clock_.advance(1000ms);
  a.listener->on_pong("1");  // no ping sent yet
  EXPECT_EQ(node("alpha")->last_seen_at, seen);
  advance(29'000ms);
  a.listener->on_pong("0");  // not the current ping
  EXPECT_EQ(node("alpha")->last_seen_at, seen);
  advance(5'000ms);
  EXPECT_EQ(a.close_code(), proto::kClosePingTimeout);
}

TEST_F(LivenessTest, SlowPongLogsAWarningWithNodeAndRtt) {
  auto a = connect_grid(id('A'), "alpha");
  advance(30'000ms);
  {
    LogCapture log;
    clock_.advance(2'000ms);  // under the default threshold (half of 5 s)
    a.listener->on_pong("1");
    EXPECT_EQ(log.text().find("slow pong"), std::string::npos) << log.text();
  }
  advance(30'000ms);
  LogCapture log;
  clock_.advance(3'000ms);
  a.listener->on_pong("2");
  auto text = log.text();
  EXPECT_NE(text.find("warning slow pong"), std::string::npos) << text;
  EXPECT_NE(text.find("node=alpha"), std::string::npos) << text;
  EXPECT_NE(text.find("rtt_ms=3000"), std::string::npos) << text;
  EXPECT_FALSE(a.channel->closed);
}

class SlowThresholdTest : public LivenessTest {
 protected:
  AgentHubOptions options() override {
    AgentHubOptions o;
    o.ping_interval = 1000ms;
    o.ping_timeout = 2000ms;
    o.slow_pong = 100ms;
    return o;
  }
};

TEST_F(SlowThresholdTest, ShortIntervalsAndAConfiguredThreshold) {
  auto a = connect_grid(id('A'), "alpha");
  advance(1000ms);
  ASSERT_EQ(a.channel->pings.size(), 1u);
  LogCapture log;
  clock_.advance(150ms);
  a.listener->on_pong("1");
  EXPECT_NE(log.text().find("rtt_ms=150"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("threshold_ms=100"), std::string::npos) << log.text();
  advance(1000ms);
  advance(2000ms);
  EXPECT_EQ(a.close_code(), proto::kClosePingTimeout);
  EXPECT_LE(hub_->tick_period(), 100ms);
}

TEST_F(LivenessTest, StatusGoesConnectingOnlineOffline) {
  auto a = connect_grid(id('A'), "alpha");
  EXPECT_EQ(status("alpha"), "connecting");
  a.say(Json::array({0, 5, "/nodes/update", Json::array({Json::object()})}));
  EXPECT_EQ(status("alpha"), "online");
  auto n = *node("alpha");
  n.availability = "drain";
  store_->update_node(n);
  EXPECT_EQ(status("alpha"), "drain");
  a.listener->on_closed(1006, "");
  EXPECT_EQ(status("alpha"), "offline");
  // Reconnecting: connecting again until the next /nodes/update (the old info is kept).
  auto b = connect_grid(id('A'), "alpha");
  EXPECT_EQ(status("alpha"), "connecting");
  EXPECT_EQ(node("alpha")->connected_at, clock_.now_unix_ms());
}

TEST_F(LivenessTest, NewerConnectionClosesTheOldOneWith4041) {
  auto old_agent = connect_grid(id('A'), "alpha");
  clock_.advance(1000ms);
  auto new_agent = connect_grid(id('A'), "alpha");
  ASSERT_TRUE(new_agent.admitted());
  EXPECT_EQ(old_agent.close_code(), proto::kCloseNewerConnection);
  EXPECT_FALSE(new_agent.channel->closed);
  EXPECT_EQ(hub_->connection_count(), 1u);
  // The old socket finishing its close does not take the node offline, nor does what it says count.
  old_agent.listener->on_closed(proto::kCloseNewerConnection, "newer");
  old_agent.say(Json::array({0, 9, "/nodes/update", Json::array({Json::object()})}));
  EXPECT_TRUE(node("alpha")->connected);
  EXPECT_EQ(status("alpha"), "connecting");
  new_agent.say(Json::array({0, 9, "/nodes/update", Json::array({Json::object()})}));
  EXPECT_EQ(status("alpha"), "online");
}

TEST_F(LivenessTest, RemovedNodeGets4040) {
  auto a = connect_grid(id('A'), "alpha");
  auto n = *node("alpha");
  store_->delete_node(n.id);
  hub_->node_removed(n);
  EXPECT_EQ(a.close_code(), proto::kCloseNodeRemoved);
  EXPECT_FALSE(hub_->connected(n.id));
  a.listener->on_closed(proto::kCloseNodeRemoved, "node removed");  // no store write for a gone node
  EXPECT_TRUE(store_->nodes_of_grid(grid_.id).empty());
}

TEST_F(LivenessTest, ResetConnectionGets4031AndOffline) {
  precreate("pre", "node-token-1");
  auto a = connect(node_token_headers(id('A'), "node-token-1"));
  ASSERT_TRUE(a.admitted());
  hub_->reset_connection(*node("pre"));
  EXPECT_EQ(a.close_code(), proto::kCloseDisconnected);
  EXPECT_EQ(status("pre"), "offline");
}

TEST_F(LivenessTest, RestartMarksEveryNodeDisconnected) {
  auto a = connect_grid(id('A'), "alpha");
  auto b = connect_grid(id('B'), "beta");
  auto other = make_grid("other", "grid-token-other");
  auto c = connect(grid_headers(id('C'), "gamma", "grid-token-other"));
  ASSERT_TRUE(c.admitted());
  EXPECT_TRUE(node("alpha")->connected);
  // A new master process: a fresh hub on the same store.
  hub_ = std::make_unique<AgentHub>(*store_, clock_);
  hub_->mark_all_disconnected();
  EXPECT_EQ(status("alpha"), "offline");
  EXPECT_EQ(status("beta"), "offline");
  EXPECT_FALSE(store_->node_by_name(other.id, "gamma")->connected);
}

TEST_F(LivenessTest, ManyNodesOnlyTheSilentOneTimesOut) {
  std::vector<Agent> agents;
  for (char c : std::string("ABCDEFGH")) agents.push_back(connect_grid(id(c), std::string("n") + c));
  advance(30'000ms);
  clock_.advance(1000ms);
  for (std::size_t i = 1; i < agents.size(); ++i) agents[i].listener->on_pong("1");
  advance(4000ms);
  EXPECT_EQ(agents[0].close_code(), proto::kClosePingTimeout);
  for (std::size_t i = 1; i < agents.size(); ++i) EXPECT_FALSE(agents[i].channel->closed) << i;
  EXPECT_EQ(hub_->connection_count(), agents.size() - 1);
  EXPECT_EQ(status("nA"), "offline");
  EXPECT_EQ(status("nB"), "connecting");
}

}  // namespace
}  // namespace kontena::master::testing
