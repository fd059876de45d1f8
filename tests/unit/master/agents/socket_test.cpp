// The real thing, in process: HttpServer on port 0 with the agent hub, and a Beast WebSocket client
// over plain TCP.
#include "hub_fixture.h"

#include <thread>

#include "common/asio.h"
#include <boost/beast/websocket.hpp>

#include "master/api/views.h"
#include "master/http/server.h"

namespace kontena::master::testing {
namespace {

namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

class SocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("kontena-hub-socket-" + std::to_string(rd()) + std::to_string(rd()));
    store_ = open_sqlite_store({(dir_ / "master.db").string()});
    Grid g;
    g.name = "demo";
    g.token = "grid-token-demo";
    grid_ = store_->insert_grid(g);
    AgentHubOptions o;
    o.ping_interval = std::chrono::milliseconds(100);
    o.ping_timeout = std::chrono::milliseconds(2000);
    hub_ = std::make_unique<AgentHub>(*store_, clock_, o);
    HttpServerOptions http;
    http.host = "127.0.0.1";
    http.port = 0;
    http.threads = 1;
    http.websocket_handler = [this](const HttpRequest& r, std::shared_ptr<NodeChannel> c) {
      return hub_->open(r, std::move(c));
    };
    server_ = std::make_unique<HttpServer>(http, [](const HttpRequest&) {
      HttpResponse r;
      r.body = R"({"plain":"http"})";
      return r;
    });
    server_->start();
    thread_ = std::thread([this] { server_->run(); });
    hub_->start();
  }
  void TearDown() override {
    hub_->stop();
    server_->stop();
    thread_.join();
    server_.reset();
    hub_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  struct Client {
    asio::io_context io;
    websocket::stream<tcp::socket> ws{io};
    websocket::response_type handshake_response;
  };

  // Connects and does the WebSocket handshake with the agent headers.
  std::unique_ptr<Client> connect(const std::string& grid_token, const std::string& node_id) {
    auto c = std::make_unique<Client>();
    c->ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    c->ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& req) {
      req.set("Kontena-Grid-Token", grid_token);
      req.set("Kontena-Node-Id", node_id);
      req.set("Kontena-Node-Name", "sock-node");
      req.set("Kontena-Version", KONTENA_VERSION);
      req.set("Kontena-Node-Labels", "a=1,b=2");
      req.set("Kontena-Connected-At", agents::format_connected_at(std::chrono::system_clock::now()));
    }));
    c->ws.handshake(c->handshake_response, "127.0.0.1", "/");
    return c;
  }
  static Json read_json(Client& c) {
    beast::flat_buffer buffer;
    c.ws.read(buffer);
    EXPECT_TRUE(c.ws.got_text());
    return Json::parse(beast::buffers_to_string(buffer.data()));
  }

  std::filesystem::path dir_;
  SystemClock clock_;
  std::unique_ptr<Store> store_;
  Grid grid_;
  std::unique_ptr<AgentHub> hub_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

const std::string kNodeId = "ABCD:EFGH:IJKL:MNOP:QRST:UVWX:YZ01:2345:6789:ABCD:EFGH:IJKL";

TEST_F(SocketTest, HandshakeInfoAndNodesUpdateOverARealSocket) {
  auto c = connect("grid-token-demo", kNodeId);
  EXPECT_EQ(c->handshake_response[std::string(protocol::kHeaderVersion)], KONTENA_VERSION);
  EXPECT_TRUE(agents::parse_connected_at(std::string(c->handshake_response[std::string(protocol::kHeaderConnectedAt)])));

  auto master_info = read_json(*c);
  EXPECT_EQ(master_info, Json::parse(R"([2, "/agent/master_info", [{"version": ")" KONTENA_VERSION R"("}]])"));
  auto node_info = read_json(*c);
  ASSERT_EQ(node_info[1], "/agent/node_info");
  EXPECT_EQ(node_info[2][0]["name"], "sock-node");
  EXPECT_EQ(node_info[2][0]["overlay_ip"], "10.81.0.1");
  EXPECT_EQ(node_info[2][0]["labels"], Json::array({"a=1", "b=2"}));

  auto n = store_->node_by_node_id(grid_.id, kNodeId);
  ASSERT_TRUE(n);
  EXPECT_EQ(node_status(*n), "connecting");

  c->ws.text(true);
  c->ws.write(asio::buffer(Json::array({0, 77, "/nodes/update",
                                        Json::array({{{"ServerVersion", "20.10.24"},
                                                      {"NCPU", 4},
                                                      {"MemTotal", 8000000000LL},
                                                      {"PrivateIp", "10.0.0.5"},
                                                      {"AgentVersion", KONTENA_VERSION}}})})
                                   .dump()));
  // Pings from the hub (every 100 ms) are answered by the client's read; skip nothing else.
  auto response = read_json(*c);
  EXPECT_EQ(response, Json::parse(R"([1, 77, null, {}])"));
  n = store_->node_by_node_id(grid_.id, kNodeId);
  EXPECT_EQ(node_status(*n), "online");
  EXPECT_EQ(n->info["docker_version"], "20.10.24");
  EXPECT_EQ(n->info["cpus"], 4);

  // Unknown method: 501.
  c->ws.write(asio::buffer(std::string(R"([0, 78, "/no/such", []])")));
  response = read_json(*c);
  EXPECT_EQ(response[1], 78);
  EXPECT_EQ(response[2]["code"], 501);

  // Liveness over the wire: the client answers the hub's pings while it reads; last_seen_at moves.
  auto seen = n->last_seen_at;
  std::atomic<bool> got_ping{false};
  c->ws.control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) got_ping = true;
  });
  // The client handles the hub's pings (and answers them) only while it reads: keep a request in
  // flight until a ping came and its pong moved last_seen_at (bounded: a loaded machine is slow).
  for (int i = 0; i < 100; ++i) {
    c->ws.write(asio::buffer(std::string(R"([0, 79, "/no/such", []])")));
    read_json(*c);
    if (got_ping && store_->node_by_node_id(grid_.id, kNodeId)->last_seen_at > seen) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(got_ping);
  EXPECT_GT(store_->node_by_node_id(grid_.id, kNodeId)->last_seen_at, seen);

  // The client goes away: the node goes offline.
  c->ws.close(websocket::close_code::normal);
  for (int i = 0; i < 100 && hub_->connection_count() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(hub_->connection_count(), 0u);
  EXPECT_EQ(node_status(*store_->node_by_node_id(grid_.id, kNodeId)), "offline");
}

TEST_F(SocketTest, WrongGridTokenGetsClose4001) {
  auto c = connect("wrong-token", kNodeId);
  beast::flat_buffer buffer;
  beast::error_code ec;
  c->ws.read(buffer, ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(c->ws.reason().code, protocol::kCloseInvalidGridToken);
  EXPECT_EQ(std::string(c->ws.reason().reason.c_str()), "invalid grid token");
  EXPECT_TRUE(store_->nodes_of_grid(grid_.id).empty());
}

TEST_F(SocketTest, MessagesOverTheSizeLimitCloseTheSocket) {
  auto c = connect("grid-token-demo", kNodeId);
  read_json(*c);
  read_json(*c);
  c->ws.text(true);
  std::string big(5 * 1024 * 1024, 'x');
  beast::error_code ec;
  c->ws.write(asio::buffer(big), ec);
  beast::flat_buffer buffer;
  for (int i = 0; i < 10 && !ec; ++i) c->ws.read(buffer, ec);
  EXPECT_TRUE(ec);
  for (int i = 0; i < 100 && hub_->connection_count() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(hub_->connection_count(), 0u);
  EXPECT_FALSE(store_->node_by_node_id(grid_.id, kNodeId)->connected);
}

TEST_F(SocketTest, PlainHttpStillServedOnTheSamePort) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  http::request<http::string_body> req{http::verb::get, "/", 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), R"({"plain":"http"})");
}

}  // namespace
}  // namespace kontena::master::testing
