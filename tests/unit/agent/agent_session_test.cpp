// The agent's session logic against an in-process fake master (a real Beast WebSocket server on
// 127.0.0.1) and a fake DockerClient, with short real intervals.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "agent/agent.h"
#include "common/clock.h"
#include "agent_harness.h"
#include "protocol/agent_protocol.h"

using namespace kontena;
using namespace kontena::agent;
using agent::fakes::FakeDocker;
using agent::fakes::FakeMaster;
using agent::fakes::FakeMasterConnection;
using agent::fakes::AgentHarness;
using std::chrono::milliseconds;
using Json = nlohmann::json;

namespace {

class AgentSession : public AgentHarness {
 protected:
  AgentSession() { options.labels = {"region=eu", "ssd=yes"}; }

  void start() {
    start_agent();
    if (stats_source) agent->set_stats_source(stats_source);
    run_agent();
  }

  // Waits for the n-th (0-based) WebSocket connection and its /nodes/update.
  FakeMasterConnection* wait_registered(std::size_t n) {
    FakeMasterConnection* c = nullptr;
    bool ok = run_until([&] {
      c = master.ws(n);
      return c && !c->calls("/nodes/update").empty();
    });
    return ok ? c : nullptr;
  }

  StatsSource stats_source;
};

}  // namespace

TEST_F(AgentSession, HandshakeHeadersAndNodeUpdateRightAfterConnecting) {
  start();
  FakeMasterConnection* c = wait_registered(0);
  ASSERT_NE(nullptr, c);
  EXPECT_EQ("/", std::string(c->request.target()));
  EXPECT_EQ("grid-token-1", c->header("Kontena-Grid-Token"));
  EXPECT_EQ("<absent>", c->header("Kontena-Node-Token"));
  EXPECT_EQ("QWER:TYUI:OPAS:DFGH:JKLZ:XCVB:NMQW:ERTY:UIOP:ASDF:GHJK:LZXC", c->header("Kontena-Node-Id"))
      << "the node id defaults to the engine ID";
  EXPECT_EQ("fake-node", c->header("Kontena-Node-Name")) << "the node name defaults to the engine Name";
  EXPECT_EQ(KONTENA_VERSION, c->header("Kontena-Version"));
  EXPECT_EQ("region=eu,ssd=yes", c->header("Kontena-Node-Labels"));
  EXPECT_EQ("2026-11-24 14:20:00.123Z", c->header("Kontena-Connected-At"));

  // The first frame the agent sends is the /nodes/update request.
  ASSERT_FALSE(c->received.empty());
  const Json& update = c->received.front();
  ASSERT_EQ(4u, update.size());
  EXPECT_EQ(0, update[0]);
  EXPECT_TRUE(update[1].is_number_integer());
  EXPECT_GE(update[1].get<std::int64_t>(), 1);
  EXPECT_EQ("/nodes/update", update[2]);
  ASSERT_EQ(1u, update[3].size());
  const Json& info = update[3][0];
  EXPECT_EQ("fake-node", info["Name"]);
  EXPECT_EQ("20.10.24", info["ServerVersion"]);
  EXPECT_EQ(2, info["NCPU"]);
  EXPECT_EQ("10.1.2.3", info["PrivateIp"]);
  EXPECT_EQ("10.1.2.3", info["PublicIp"]);
  EXPECT_EQ(KONTENA_VERSION, info["AgentVersion"]);
  EXPECT_EQ((Json{"region=eu", "ssd=yes"}), info["Labels"]);
  EXPECT_TRUE(run_until([&] { return agent->connected(); }));
  EXPECT_EQ(1, agent->sessions_opened());
}

TEST_F(AgentSession, NodeTokenAndExplicitIdentity) {
  options.grid_token.clear();
  options.node_token = "node-token-9";
  options.node_id = "MY:ID";
  options.node_name = "custom-name";
  options.labels.clear();
  start();
  FakeMasterConnection* c = wait_registered(0);
  ASSERT_NE(nullptr, c);
  EXPECT_EQ("node-token-9", c->header("Kontena-Node-Token"));
  EXPECT_EQ("<absent>", c->header("Kontena-Grid-Token"));
  EXPECT_EQ("MY:ID", c->header("Kontena-Node-Id"));
  EXPECT_EQ("custom-name", c->header("Kontena-Node-Name"));
  EXPECT_EQ("", c->header("Kontena-Node-Labels"));
}

TEST_F(AgentSession, AnswersPingAndUnknownMethodsWith501) {
  start();
  FakeMasterConnection* c = wait_registered(0);
  ASSERT_NE(nullptr, c);
  c->send(Json::array({0, 7, "/agent/ping", Json::array()}));
  c->send(Json::array({0, 8, "/no/such_method", Json::array({1, 2})}));
  ASSERT_TRUE(run_until([&] { return !c->response(7).is_null() && !c->response(8).is_null(); }));
  Json ping = c->response(7);
  EXPECT_TRUE(ping[2].is_null());
  EXPECT_EQ("2026-11-24T14:20:00.123Z", ping[3]["time"]);
  Json unknown = c->response(8);
  EXPECT_EQ(501, unknown[2]["code"]);
  EXPECT_NE(std::string::npos, unknown[2]["message"].get<std::string>().find("/no/such_method"));
  EXPECT_TRUE(unknown[3].is_null());
  // garbage does not end the session
  c->send("not rpc");
  c->send(Json::array({0, 9, "/agent/ping", Json::array()}));
  EXPECT_TRUE(run_until([&] { return !c->response(9).is_null(); }));
  EXPECT_EQ(1u, master.ws_count());
}

TEST_F(AgentSession, RequestHandlersPlugInAndErrorsBecomeRpcErrors) {
  options.update_interval = milliseconds(60'000);
  agent = nullptr;
  start();
  agent->on_request("/test/echo", [](Json params) -> asio::awaitable<Json> { co_return Json{{"echo", params}}; });
  agent->on_request("/test/missing", [](Json) -> asio::awaitable<Json> {
    fail(ErrorKind::not_found, "no such container: x");
    co_return nullptr;
  });
  agent->on_request("/test/crash", [](Json) -> asio::awaitable<Json> {
    throw std::runtime_error("boom");
    co_return nullptr;
  });
  FakeMasterConnection* c = wait_registered(0);
  ASSERT_NE(nullptr, c);
  c->send(Json::array({0, 1, "/test/echo", Json::array({"a"})}));
  c->send(Json::array({0, 2, "/test/missing", Json::array()}));
  c->send(Json::array({0, 3, "/test/crash", Json::array()}));
  ASSERT_TRUE(run_until([&] { return !c->response(1).is_null() && !c->response(2).is_null() && !c->response(3).is_null(); }));
  EXPECT_EQ((Json{{"echo", {"a"}}}), c->response(1)[3]);
  EXPECT_EQ(404, c->response(2)[2]["code"]);
  EXPECT_EQ("no such container: x", c->response(2)[2]["message"]);
  EXPECT_EQ(500, c->response(3)[2]["code"]);
}

TEST_F(AgentSession, KeepsMasterAndNodeInfo) {
  start();
  FakeMasterConnection* c = wait_registered(0);
  ASSERT_NE(nullptr, c);
  c->send(Json::array({2, "/agent/master_info", Json::array({{{"version", "0.1.0"}}})}));
  c->send(Json::array({2, "/agent/node_info",
                       Json::array({{{"id", "grid/fake-node"},
                                     {"name", "fake-node-2"},
                                     {"node_number", 2},
                                     {"initial_member", true},
                                     {"overlay_ip", "10.81.0.2"},
                                     {"grid", {{"name", "demo"}, {"initial_size", 3}, {"subnet", "10.81.0.0/16"}}}}})}));
  c->send(Json::array({2, "/agent/unknown_notification", Json::array()}));
  ASSERT_TRUE(run_until([&] { return agent->master_state().node_number == 2; }));
  EXPECT_EQ("0.1.0", agent->master_state().master_info["version"]);
  EXPECT_TRUE(agent->master_state().initial_member);
  EXPECT_EQ("fake-node-2", agent->master_state().node_name);
  EXPECT_EQ("demo", agent->master_state().grid["name"]);
  EXPECT_EQ(3, agent->master_state().grid["initial_size"]);
}

TEST_F(AgentSession, PeriodicNodeUpdateAndStats) {
  options.update_interval = milliseconds(150);
  stats_source = [](const Json& info, std::int64_t now) {
    return Json{{"cpu", {{"num_cores", 2}}}, {"usage", {{"container_count", info.value("ContainersRunning", 0)}}},
                {"created_at", format_time_ms(now)}};
  };
  start();
  FakeMasterConnection* c = wait_registered(0);
  ASSERT_NE(nullptr, c);
  ASSERT_TRUE(run_until([&] { return c->calls("/nodes/stats").size() >= 2 && c->calls("/nodes/update").size() >= 3; }));
  Json stats = c->calls("/nodes/stats").front();
  ASSERT_EQ(3u, stats.size()) << "a notification: " << stats.dump();
  EXPECT_EQ(2, stats[0]);
  EXPECT_EQ(3, stats[2][0]["usage"]["container_count"]);
  EXPECT_EQ("2026-11-24T14:20:00.123Z", stats[2][0]["created_at"]);
}

TEST_F(AgentSession, WaitsForDockerThenConnects) {
  docker->fail_next(3);
  start();
  run_for(milliseconds(30));
  EXPECT_EQ(0u, master.ws_count()) << "no connection before docker info";
  FakeMasterConnection* c = wait_registered(0);
  ASSERT_NE(nullptr, c);
  EXPECT_GE(docker->info_calls(), 4);
  EXPECT_EQ("fake-node", c->header("Kontena-Node-Name"));
}

TEST_F(AgentSession, ReconnectsAfterDropAnd4030AndNormalClose) {
  start();
  FakeMasterConnection* c0 = wait_registered(0);
  ASSERT_NE(nullptr, c0);
  c0->drop();  // 1006
  FakeMasterConnection* c1 = wait_registered(1);
  ASSERT_NE(nullptr, c1) << "no reconnect after the connection dropped";
  c1->close(4030, "ping timeout");
  FakeMasterConnection* c2 = wait_registered(2);
  ASSERT_NE(nullptr, c2) << "no reconnect after close 4030";
  c2->close(1001, "going away");
  FakeMasterConnection* c3 = wait_registered(3);
  ASSERT_NE(nullptr, c3) << "no reconnect after close 1001";
  EXPECT_FALSE(exit_code.has_value());
  EXPECT_EQ(4, agent->sessions_opened());
}

TEST_F(AgentSession, SurvivesAMasterThatIsDownForAWhile) {
  // Nothing listens on the port: the agent retries with backoff (bounded, never a busy loop).
  asio::ip::tcp::acceptor probe(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  unsigned short port = probe.local_endpoint().port();
  probe.close();
  options.master_url = "ws://127.0.0.1:" + std::to_string(port);
  options.backoff_base = milliseconds(50);
  options.backoff_max = milliseconds(100);
  start();
  run_for(milliseconds(500));
  EXPECT_FALSE(exit_code.has_value());
  // With base 50 ms / max 100 ms and jitter (0.5, 1], 500 ms allow at most ~20 attempts; a busy
  // loop would make thousands. Then the master comes up on that port.
  asio::ip::tcp::acceptor late(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  int accepted = 0;
  std::function<void()> accept = [&] {
    late.async_accept([&](const beast::error_code& ec, asio::ip::tcp::socket) {
      if (!ec) {
        ++accepted;
        accept();
      }
    });
  };
  accept();
  EXPECT_TRUE(run_until([&] { return accepted > 0; }, milliseconds(2000))) << "the agent stopped retrying";
  late.close();
}

TEST_F(AgentSession, StopsWithStatus3OnCloseCodesThatMeanStop) {
  for (std::uint16_t code : {4001, 4040}) {
    SCOPED_TRACE(code);
    agent.reset();
    exit_code.reset();
    std::size_t before = master.ws_count();
    start();
    FakeMasterConnection* c = wait_registered(before);
    ASSERT_NE(nullptr, c);
    c->close(code, "bye");
    ASSERT_TRUE(run_until([&] { return exit_code.has_value(); })) << "the agent did not stop";
    EXPECT_EQ(kExitStoppedByMaster, *exit_code);
    run_for(milliseconds(300));  // > backoff_max: a reconnect would have happened by now
    EXPECT_EQ(before + 1, master.ws_count()) << "the agent reconnected after close " << code;
  }
}

TEST_F(AgentSession, StopsOnEveryMustStopCodeButNotOthers) {
  for (std::uint16_t code : {4000, 4001, 4002, 4003, 4004, 4005, 4006, 4010, 4020, 4030, 4031, 4040, 4041}) {
    SCOPED_TRACE(code);
    EXPECT_EQ(protocol::agent_must_stop(code), code != 4000 && code != 4020 && code != 4030 && code != 4031);
    EXPECT_FALSE(describe_close_code(code).empty());
  }
  EXPECT_NE(std::string::npos, describe_close_code(4040).find("removed this node"));
}

TEST_F(AgentSession, DetectsASilentMasterWithinPingTimeoutAndReconnects) {
  options.ping_interval = milliseconds(100);
  options.ping_timeout = milliseconds(200);
  master.on_frame = [](FakeMasterConnection& c, const Json& f) {
    // The first connection answers /nodes/update, then stops reading: no more pongs.
    if (FakeMaster::answer_node_update(c, f) && c.calls("/nodes/update").size() == 1) c.silent = true;
  };
  start();
  FakeMasterConnection* c0 = wait_registered(0);
  ASSERT_NE(nullptr, c0);
  auto silent_since = std::chrono::steady_clock::now();
  FakeMasterConnection* c1 = wait_registered(1);
  ASSERT_NE(nullptr, c1) << "the agent did not notice the silent master";
  auto took = std::chrono::steady_clock::now() - silent_since;
  EXPECT_LT(took, milliseconds(100 + 200 + 100 + 500)) << "interval + timeout + backoff + slack";
  EXPECT_GE(took, milliseconds(200)) << "dropped before the ping timeout";
}

TEST_F(AgentSession, AnsweredPingsKeepTheSessionUp) {
  options.ping_interval = milliseconds(50);
  options.ping_timeout = milliseconds(100);
  start();
  ASSERT_NE(nullptr, wait_registered(0));
  run_for(milliseconds(600));
  EXPECT_EQ(1u, master.ws_count()) << "the agent reconnected although the master answered its pings";
  EXPECT_EQ(1, agent->sessions_opened());
}

TEST_F(AgentSession, StopClosesWith1000AndReturns0) {
  start();
  FakeMasterConnection* c = wait_registered(0);
  ASSERT_NE(nullptr, c);
  agent->stop();
  ASSERT_TRUE(run_until([&] { return exit_code.has_value(); }));
  EXPECT_EQ(kExitOk, *exit_code);
  EXPECT_TRUE(run_until([&] { return c->ended; }));
  EXPECT_EQ(1000, c->close_code_received);
  EXPECT_EQ(1u, master.ws_count());
}

TEST_F(AgentSession, StopWhileWaitingForDockerOrBackingOff) {
  docker->fail_next(1000);
  options.backoff_base = milliseconds(5000);
  options.backoff_max = milliseconds(5000);
  start();
  run_for(milliseconds(50));
  auto t0 = std::chrono::steady_clock::now();
  agent->stop();
  ASSERT_TRUE(run_until([&] { return exit_code.has_value(); }, milliseconds(1000)));
  EXPECT_EQ(kExitOk, *exit_code);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
}

TEST_F(AgentSession, RejectedUpgradeIsRetried) {
  // A plain HTTP server that answers 404 to the upgrade: the agent keeps retrying, never exits.
  asio::ip::tcp::acceptor http_only(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  options.master_url = "http://127.0.0.1:" + std::to_string(http_only.local_endpoint().port());
  auto requests = std::make_shared<int>(0);
  std::function<void()> accept = [&] {
    http_only.async_accept([&, requests](const beast::error_code& ec, asio::ip::tcp::socket s) {
      if (ec) return;
      auto sock = std::make_shared<asio::ip::tcp::socket>(std::move(s));
      auto buf = std::make_shared<beast::flat_buffer>();
      auto req = std::make_shared<http::request<http::string_body>>();
      http::async_read(*sock, *buf, *req, [requests, sock, buf, req](const beast::error_code& ec2, std::size_t) {
        if (ec2) return;
        ++*requests;
        auto res = std::make_shared<http::response<http::string_body>>(http::status::not_found, 11);
        res->body() = "no websocket here";
        res->prepare_payload();
        http::async_write(*sock, *res, [sock, res](const beast::error_code&, std::size_t) {});
      });
      accept();
    });
  };
  accept();
  start();
  EXPECT_TRUE(run_until([&] { return *requests >= 2; }, milliseconds(3000))) << "the agent did not retry";
  EXPECT_FALSE(exit_code.has_value());
  http_only.close();
}

TEST_F(AgentSession, StopDuringAHangingHandshakeIsPrompt) {
  // Listens but never answers: TCP connects, the WebSocket upgrade hangs until connect_timeout.
  asio::ip::tcp::acceptor mute(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  options.master_url = "ws://127.0.0.1:" + std::to_string(mute.local_endpoint().port());
  options.connect_timeout = milliseconds(10'000);
  start();
  run_for(milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  agent->stop();
  ASSERT_TRUE(run_until([&] { return exit_code.has_value(); }, milliseconds(2000)));
  EXPECT_EQ(kExitOk, *exit_code);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
}

TEST_F(AgentSession, AStalledAgentKeepsAHealthyConnection) {
  // The whole process stalls (as under SIGSTOP) longer than ping interval + timeout, several
  // times: a pong that is already waiting when it resumes counts; no reconnect.
  options.ping_interval = milliseconds(60);
  options.ping_timeout = milliseconds(60);
  start();
  ASSERT_NE(nullptr, wait_registered(0));
  for (int i = 0; i < 8; ++i) {
    run_for(milliseconds(40 + 13 * i));
    std::this_thread::sleep_for(milliseconds(200));
  }
  run_for(milliseconds(200));
  EXPECT_EQ(1, agent->sessions_opened());
  EXPECT_EQ(1u, master.ws_count());
}
