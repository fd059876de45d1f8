// The master's HTTP(S) server: Boost.Beast on one io_context, one coroutine per connection,
// keep-alive, a body limit (413), bad requests answered with 400 and the connection closed.
// A WebSocket upgrade on protocol::kAgentPath ("/") goes to the WebSocket handler (the agent hub)
// when one is set; the socket is then a NodeChannel (plain TCP or TLS alike).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "master/agents/node_channel.h"
#include "master/http/message.h"

namespace kontena::master {

// Called once per accepted agent WebSocket, after the upgrade, with the upgrade request (headers,
// source_ip) and the socket as a NodeChannel. Returns the listener of the channel's events, or
// nullptr after closing the channel (a rejected handshake still reads until the close is done).
using WebSocketHandler =
    std::function<std::shared_ptr<ChannelListener>(const HttpRequest&, std::shared_ptr<NodeChannel>)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  unsigned short port = 9292;  // 0 = pick a free port (see HttpServer::port())
  std::string tls_cert_file;   // both set = HTTPS
  std::string tls_key_file;
  std::size_t body_limit = 1024 * 1024;
  int threads = 2;
  int idle_timeout_seconds = 120;
  // WebSocket upgrades on "/": nullptr = none (the request is served as plain HTTP, as before).
  WebSocketHandler websocket_handler;
  std::size_t websocket_message_limit = 4 * 1024 * 1024;  // larger messages close the socket (1009)
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; throws kontena::Error (unavailable) when the address cannot be used.
  void start();
  unsigned short port() const;
  // Serves until stop() (e.g. from a signal handler); runs the io_context on options.threads threads.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kontena::master
