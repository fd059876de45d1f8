// Handshake rules and close codes of the agent hub (reference §4), and the pure helpers.
#include "hub_fixture.h"

#include "master/api/views.h"

namespace kontena::master::testing {
namespace {

namespace proto = kontena::protocol;

class HandshakeTest : public HubFixture {
 protected:
  // Connects with `headers`, expects a rejection with `code`, and that the store did not change.
  void expect_rejected(const std::map<std::string, std::string>& headers, std::uint16_t code) {
    auto before = snapshot();
    auto agent = connect(headers);
    EXPECT_FALSE(agent.admitted());
    EXPECT_EQ(agent.close_code(), code) << agent.channel->close_reason;
    EXPECT_FALSE(agent.channel->close_reason.empty());
    EXPECT_TRUE(agent.channel->texts.empty());
    EXPECT_EQ(snapshot(), before) << "a rejected handshake must not change the store";
  }
};

TEST_F(HandshakeTest, GridTokenCreatesTheNodeAndSendsMasterAndNodeInfo) {
  auto headers = grid_headers(id('A'), "alpha");
  headers["kontena-node-labels"] = "region=eu, disk=ssd,,bad label";
  auto agent = connect(headers);
  ASSERT_TRUE(agent.admitted()) << agent.channel->close_reason;
  EXPECT_FALSE(agent.channel->closed);

  auto n = node("alpha");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->node_id, id('A'));
  EXPECT_EQ(n->node_number, 1);
  EXPECT_EQ(n->labels, (std::vector<std::string>{"region=eu", "disk=ssd"}));
  EXPECT_TRUE(n->connected);
  EXPECT_EQ(n->connected_at, clock_.now_unix_ms());
  EXPECT_EQ(node_status(*n), "connecting");
  EXPECT_TRUE(hub_->connected(n->id));

  auto msgs = agent.channel->messages();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0], Json::parse(R"([2, "/agent/master_info", [{"version": ")" KONTENA_VERSION R"("}]])"));
  EXPECT_EQ(msgs[1][1], "/agent/node_info");
  const Json& info = msgs[1][2][0];
  EXPECT_EQ(info["id"], "demo/alpha");
  EXPECT_EQ(info["name"], "alpha");
  EXPECT_EQ(info["node_number"], 1);
  EXPECT_EQ(info["initial_member"], true);
  EXPECT_EQ(info["overlay_ip"], "10.81.0.1");
  EXPECT_EQ(info["peer_ips"], Json::array());
  EXPECT_EQ(info["availability"], "active");
  EXPECT_EQ(info["labels"], Json::array({"region=eu", "disk=ssd"}));
  EXPECT_EQ(info["grid"]["name"], "demo");
  EXPECT_EQ(info["grid"]["subnet"], "10.81.0.0/16");
  EXPECT_EQ(info["grid"]["supernet"], "10.80.0.0/12");
  EXPECT_EQ(info["grid"]["initial_size"], 3);
  EXPECT_TRUE(info["grid"].contains("trusted_subnets"));
  EXPECT_TRUE(info["grid"].contains("stats"));
  EXPECT_TRUE(info["grid"].contains("logs"));
}

TEST_F(HandshakeTest, GridTokenFindsTheExistingNodeByNodeId) {
  auto first = connect_grid(id('A'), "alpha");
  ASSERT_TRUE(first.admitted());
  first.listener->on_closed(1000, "bye");
  EXPECT_FALSE(node("alpha")->connected);
  auto again = connect_grid(id('A'), "renamed-host");
  ASSERT_TRUE(again.admitted());
  EXPECT_EQ(store_->nodes_of_grid(grid_.id).size(), 1u);
  EXPECT_TRUE(node("alpha")->connected);
  EXPECT_FALSE(node("renamed-host"));
}

TEST_F(HandshakeTest, NodeNumbersAreTheLowestFreeAndNamesGetSuffixed) {
  ASSERT_TRUE(connect_grid(id('A'), "web").admitted());
  ASSERT_TRUE(connect_grid(id('B'), "web").admitted());
  ASSERT_TRUE(connect_grid(id('C'), "db").admitted());
  EXPECT_EQ(node("web")->node_number, 1);
  ASSERT_TRUE(node("web-2"));
  EXPECT_EQ(node("web-2")->node_id, id('B'));
  EXPECT_EQ(node("db")->node_number, 3);
  store_->delete_node(node("web-2")->id);
  auto d = connect_grid(id('D'), "web");
  ASSERT_TRUE(d.admitted());
  ASSERT_TRUE(node("web-2"));
  EXPECT_EQ(node("web-2")->node_id, id('D'));
  EXPECT_EQ(node("web-2")->node_number, 2);
  // A pre-created node (number 4) is named "web-5": the next suffixed name is made unique again.
  precreate("web-5", "t-web5");
  ASSERT_TRUE(connect_grid(id('E'), "web").admitted());
  auto e = store_->node_by_node_id(grid_.id, id('E'));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->node_number, 5);
  EXPECT_EQ(e->name, "web-5-2");
  ASSERT_TRUE(connect_grid(id('F'), "web").admitted());
  auto f = store_->node_by_node_id(grid_.id, id('F'));
  EXPECT_EQ(f->node_number, 6);
  EXPECT_EQ(f->name, "web-6");
  ASSERT_TRUE(connect_grid(id('G'), "web-6").admitted());
  EXPECT_EQ(store_->node_by_node_id(grid_.id, id('G'))->name, "web-6-7");
}

TEST_F(HandshakeTest, MissingTokenIs4004) {
  auto h = grid_headers(id('A'), "alpha");
  h.erase("kontena-grid-token");
  expect_rejected(h, proto::kCloseMissingToken);
  h["kontena-grid-token"] = "";
  expect_rejected(h, proto::kCloseMissingToken);
}

TEST_F(HandshakeTest, MissingOrMalformedHeadersAre4000) {
  for (const char* name : {"kontena-node-id", "kontena-version", "kontena-connected-at"}) {
    auto h = grid_headers(id('A'), "alpha");
    h.erase(name);
    SCOPED_TRACE(name);
    expect_rejected(h, proto::kCloseMissingHeader);
  }
  auto h = grid_headers("bad id with spaces", "alpha");
  expect_rejected(h, proto::kCloseMissingHeader);
  h = grid_headers(id('A'), "alpha");
  h["kontena-connected-at"] = "yesterday";
  expect_rejected(h, proto::kCloseMissingHeader);
  h = grid_headers(id('A'), "-bad name-");
  expect_rejected(h, proto::kCloseMissingHeader);
}

TEST_F(HandshakeTest, InvalidGridTokenIs4001) {
  expect_rejected(grid_headers(id('A'), "alpha", "no-such-token"), proto::kCloseInvalidGridToken);
  EXPECT_TRUE(store_->nodes_of_grid(grid_.id).empty());
}

TEST_F(HandshakeTest, NodeTokenBindsThePrecreatedNode) {
  precreate("pre", "node-token-1", {"az=a"});
  auto agent = connect(node_token_headers(id('A'), "node-token-1"));
  ASSERT_TRUE(agent.admitted()) << agent.channel->close_reason;
  auto n = node("pre");
  EXPECT_EQ(n->node_id, id('A'));
  EXPECT_TRUE(n->connected);
  EXPECT_EQ(n->labels, std::vector<std::string>{"az=a"});
  EXPECT_EQ(agent.channel->notifications(proto::kMethodNodeInfo).at(0)[0]["name"], "pre");
  // The same agent again: fine (and the older socket is replaced).
  auto again = connect(node_token_headers(id('A'), "node-token-1"));
  EXPECT_TRUE(again.admitted());
  EXPECT_EQ(agent.close_code(), proto::kCloseNewerConnection);
}

TEST_F(HandshakeTest, InvalidNodeTokenIs4002) {
  precreate("pre", "node-token-1");
  expect_rejected(node_token_headers(id('A'), "node-token-X"), proto::kCloseInvalidNodeToken);
  EXPECT_TRUE(node("pre")->node_id.empty());
}

TEST_F(HandshakeTest, NodeTokenOfAnotherNodeIdIs4003) {
  precreate("pre", "node-token-1");
  ASSERT_TRUE(connect(node_token_headers(id('A'), "node-token-1")).admitted());
  expect_rejected(node_token_headers(id('B'), "node-token-1"), proto::kCloseNodeTokenUsed);
  EXPECT_EQ(node("pre")->node_id, id('A'));
}

TEST_F(HandshakeTest, GridTokenForANodeTokenNodeIs4005) {
  precreate("pre", "node-token-1");
  auto a = connect(node_token_headers(id('A'), "node-token-1"));
  ASSERT_TRUE(a.admitted());
  expect_rejected(grid_headers(id('A'), "pre"), proto::kCloseGridTokenForTokenNode);
  EXPECT_FALSE(a.channel->closed) << "the rejected agent must not disturb the connected one";
}

TEST_F(HandshakeTest, NodeIdOfAnotherNodeIs4006) {
  ASSERT_TRUE(connect_grid(id('A'), "alpha").admitted());
  precreate("pre", "node-token-1");
  expect_rejected(node_token_headers(id('A'), "node-token-1"), proto::kCloseNodeIdUsed);
  EXPECT_TRUE(node("pre")->node_id.empty());
}

TEST_F(HandshakeTest, IncompatibleVersionIs4010) {
  auto h = grid_headers(id('A'), "alpha");
  h["kontena-version"] = "99.0.0";
  expect_rejected(h, proto::kCloseBadVersion);
  h["kontena-version"] = "not-a-version";
  expect_rejected(h, proto::kCloseBadVersion);
  EXPECT_TRUE(store_->nodes_of_grid(grid_.id).empty());
}

TEST_F(HandshakeTest, ClockSkewIs4020) {
  // Window: [now - (ping_timeout 5 s + skew 1 s), now + skew 1 s].
  auto h = grid_headers(id('A'), "alpha");
  h["kontena-connected-at"] = now_header(-6100ms);
  expect_rejected(h, proto::kCloseClockSkew);
  h["kontena-connected-at"] = now_header(1100ms);
  expect_rejected(h, proto::kCloseClockSkew);
  h["kontena-connected-at"] = now_header(-5900ms);
  EXPECT_TRUE(connect(h).admitted());
  h = grid_headers(id('B'), "beta");
  h["kontena-connected-at"] = now_header(900ms);
  EXPECT_TRUE(connect(h).admitted());
}

TEST(HandshakeHelpers, ParseConnectedAt) {
  using namespace std::chrono;
  auto t = agents::parse_connected_at("2026-11-25 21:03:42.123Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(duration_cast<milliseconds>(t->time_since_epoch()).count(), 1795640622123);
  EXPECT_EQ(agents::parse_connected_at("2026-11-25T21:03:42.123456789Z"),
            system_clock::time_point(duration_cast<system_clock::duration>(nanoseconds(1795640622123456789))));
  EXPECT_TRUE(agents::parse_connected_at("2026-11-25 21:03:42Z"));
  EXPECT_TRUE(agents::parse_connected_at("2026-11-25 21:03:42 UTC"));
  for (const char* bad : {"", "2026-11-25", "2026-13-25 21:03:42Z", "2026-11-25 21:03:42.Z", "x2026-11-25 21:03:42Z",
                          "2026-11-25 21:03:42Zjunk", "2026-02-30 10:00:00Z"})
    EXPECT_FALSE(agents::parse_connected_at(bad)) << bad;
  EXPECT_EQ(agents::format_connected_at(*t), "2026-11-25 21:03:42.123Z");
}

TEST(HandshakeHelpers, VersionsNodeIdsLabelsOverlayIp) {
  EXPECT_TRUE(agents::version_compatible("1.4.0", "1.4.3"));
  EXPECT_TRUE(agents::version_compatible("1.4.9-rc1", "1.4.0"));
  EXPECT_TRUE(agents::version_compatible("v1.4", "1.4.0"));
  EXPECT_FALSE(agents::version_compatible("1.5.0", "1.4.0"));
  EXPECT_FALSE(agents::version_compatible("2.4.0", "1.4.0"));
  EXPECT_FALSE(agents::version_compatible("1", "1.4.0"));
  EXPECT_FALSE(agents::version_compatible("", "1.4.0"));
  EXPECT_TRUE(agents::valid_node_id("ABCD:EFGH:IJKL:MNOP:QRST:UVWX:YZ01:2345:6789:ABCD:EFGH:IJKL"));
  EXPECT_TRUE(agents::valid_node_id("0e9d6e3b-8f25-4a8e-9a4e-5b1c2d3e4f50"));
  EXPECT_FALSE(agents::valid_node_id(""));
  EXPECT_FALSE(agents::valid_node_id("a b"));
  EXPECT_FALSE(agents::valid_node_id(std::string(129, 'A')));
  std::vector<std::string> rejected;
  EXPECT_EQ(agents::parse_labels(" a=1 ,b=2,a=1,, bad label ,c", &rejected),
            (std::vector<std::string>{"a=1", "b=2", "c"}));
  EXPECT_EQ(rejected, std::vector<std::string>{"bad label"});
  EXPECT_EQ(agents::overlay_ip("10.81.0.0/16", 3), "10.81.0.3");
  EXPECT_EQ(agents::overlay_ip("10.81.0.0/16", 254), "10.81.0.254");
  EXPECT_EQ(agents::overlay_ip("192.168.7.0/24", 12), "192.168.7.12");
  EXPECT_EQ(agents::overlay_ip("garbage", 3), "");
  EXPECT_EQ(agents::overlay_ip("10.81.0.0/16", 0), "");
}

}  // namespace
}  // namespace kontena::master::testing
