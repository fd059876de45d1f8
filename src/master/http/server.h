// The master's HTTP(S) server: Boost.Beast on one io_context, one coroutine per connection,
// keep-alive, a body limit (413), bad requests answered with 400 and the connection closed.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "master/http/message.h"

namespace kontena::master {

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  unsigned short port = 9292;  // 0 = pick a free port (see HttpServer::port())
  std::string tls_cert_file;   // both set = HTTPS
  std::string tls_key_file;
  std::size_t body_limit = 1024 * 1024;
  int threads = 2;
  int idle_timeout_seconds = 120;
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
