// The agent WebSocket over TLS (wss://): a self-signed certificate made in the test, a Beast client.
#include "hub_fixture.h"

#include <fstream>
#include <thread>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/asio.h"
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "master/http/server.h"

namespace kontena::master::testing {
namespace {

namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// Writes a self-signed certificate for 127.0.0.1 and its key as PEM files.
void make_certificate(const std::string& cert_path, const std::string& key_path) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* f = std::fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

TEST(TlsSocketTest, AgentHandshakeAndRpcOverWss) {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / ("kontena-hub-tls-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  make_certificate((dir / "cert.pem").string(), (dir / "key.pem").string());
  auto store = open_sqlite_store({(dir / "master.db").string()});
  Grid g;
  g.name = "demo";
  g.token = "grid-token-demo";
  g = store->insert_grid(g);
  SystemClock clock;
  AgentHub hub(*store, clock);
  HttpServerOptions http;
  http.host = "127.0.0.1";
  http.port = 0;
  http.threads = 1;
  http.tls_cert_file = (dir / "cert.pem").string();
  http.tls_key_file = (dir / "key.pem").string();
  http.websocket_handler = [&hub](const HttpRequest& r, std::shared_ptr<NodeChannel> c) {
    return hub.open(r, std::move(c));
  };
  auto server = std::make_unique<HttpServer>(http, [](const HttpRequest&) { return HttpResponse{}; });
  server->start();
  std::thread thread([&] { server->run(); });

  {
    asio::io_context io;
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.set_verify_mode(asio::ssl::verify_none);
    websocket::stream<beast::ssl_stream<tcp::socket>> ws(io, tls);
    beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
    ws.next_layer().handshake(asio::ssl::stream_base::client);
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set("Kontena-Grid-Token", "grid-token-demo");
      req.set("Kontena-Node-Id", "TLS1:TLS1:TLS1:TLS1:TLS1:TLS1:TLS1:TLS1:TLS1:TLS1:TLS1:TLS1");
      req.set("Kontena-Node-Name", "secure");
      req.set("Kontena-Version", KONTENA_VERSION);
      req.set("Kontena-Connected-At", agents::format_connected_at(std::chrono::system_clock::now()));
    }));
    websocket::response_type res;
    ws.handshake(res, "127.0.0.1", "/");
    EXPECT_EQ(res[std::string(protocol::kHeaderVersion)], KONTENA_VERSION);
    beast::flat_buffer buffer;
    ws.read(buffer);
    EXPECT_EQ(Json::parse(beast::buffers_to_string(buffer.data()))[1], "/agent/master_info");
    buffer.consume(buffer.size());
    ws.read(buffer);
    EXPECT_EQ(Json::parse(beast::buffers_to_string(buffer.data()))[2][0]["name"], "secure");
    buffer.consume(buffer.size());
    ws.text(true);
    ws.write(asio::buffer(std::string(R"([0, 3, "/nodes/update", [{"ServerVersion": "20.10.24"}]])")));
    ws.read(buffer);
    EXPECT_EQ(Json::parse(beast::buffers_to_string(buffer.data())), Json::parse(R"([1, 3, null, {}])"));
    EXPECT_EQ(store->node_by_name(g.id, "secure")->info["docker_version"], "20.10.24");
    // Removal over TLS: the client reads close 4040.
    auto node = *store->node_by_name(g.id, "secure");
    store->delete_node(node.id);
    hub.node_removed(node);
    buffer.consume(buffer.size());
    beast::error_code ec;
    ws.read(buffer, ec);
    EXPECT_EQ(ec, websocket::error::closed);
    EXPECT_EQ(ws.reason().code, protocol::kCloseNodeRemoved);
  }

  server->stop();
  thread.join();
  server.reset();
  store.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kontena::master::testing
