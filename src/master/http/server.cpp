#include "master/http/server.h"

#include <optional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.h"
#include "common/error.h"
#include "common/log.h"

namespace kontena::master {

using tcp = asio::ip::tcp;

namespace {

HttpResponse error_response(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = nlohmann::json{{"error", message}}.dump();
  return r;
}

HttpRequest to_request(const http::request<http::string_body>& req, const std::string& source_ip, bool& target_ok) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  target_ok = parse_target(std::string(req.target()), out.path, out.query);
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = req.body();
  out.source_ip = source_ip;
  return out;
}

http::response<http::string_body> to_beast(const HttpResponse& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "kontena-server/" KONTENA_VERSION);
  res.set(http::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  return res;
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context io{options.threads};
  tcp::acceptor acceptor{io};
  std::optional<asio::ssl::context> tls;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

  Impl(HttpServerOptions o, HttpHandler h) : options(std::move(o)), handler(std::move(h)) {}

  // Serves one connection; Stream is beast::tcp_stream or an ssl_stream over it.
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, std::string source_ip) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.body_limit);
      parser.header_limit(16 * 1024);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(options.idle_timeout_seconds));
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
        co_return;
      std::optional<HttpResponse> rejected;
      if (ec == http::error::body_limit) {
        rejected = error_response(413, "request body is larger than the limit of " +
                                           std::to_string(options.body_limit) + " bytes");
      } else if (ec) {
        rejected = error_response(400, "malformed HTTP request: " + ec.message());
      }
      if (rejected) {
        // The rest of the stream cannot be trusted: answer and close.
        auto res = to_beast(*rejected, 11, false);
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      auto& req = parser.get();
      bool target_ok = true;
      HttpRequest request = to_request(req, source_ip, target_ok);
      HttpResponse response;
      if (!target_ok) {
        response = error_response(400, "malformed URL: bad %-escape in " + std::string(req.target()));
      } else {
        try {
          response = handler(request);
        } catch (const std::exception& e) {
          spdlog::error("unhandled error method={} path={} error={}", request.method, request.path, e.what());
          response = error_response(500, "internal error: see the master's log");
        }
      }
      bool keep_alive = req.keep_alive();
      auto res = to_beast(response, req.version(), keep_alive);
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) break;
    }
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  asio::awaitable<void> connection(tcp::socket socket) {
    beast::error_code ec;
    std::string source_ip;
    auto remote = socket.remote_endpoint(ec);
    if (!ec) source_ip = remote.address().to_string();
    try {
      if (tls) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
        co_await stream.async_handshake(asio::ssl::stream_base::server,
                                        asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          spdlog::debug("tls handshake failed source_ip={} error={}", source_ip, ec.message());
          co_return;
        }
        co_await serve(stream, source_ip);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
        co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
      } else {
        beast::tcp_stream stream(std::move(socket));
        co_await serve(stream, source_ip);
      }
    } catch (const std::exception& e) {
      spdlog::debug("connection ended source_ip={} error={}", source_ip, e.what());
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(asio::make_strand(io));
      co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // Out of descriptors and the like: back off briefly instead of spinning.
        spdlog::warn("accept failed error={}", ec.message());
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto executor = socket.get_executor();
      asio::co_spawn(executor, connection(std::move(socket)), asio::detached);
    }
  }
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  auto& o = impl_->options;
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    if (o.tls_cert_file.empty() || o.tls_key_file.empty())
      fail(ErrorKind::invalid, "TLS needs both a certificate (--tls-cert) and a key (--tls-key)");
    impl_->tls.emplace(asio::ssl::context::tls_server);
    beast::error_code ec;
    impl_->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1);
    impl_->tls->use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec) fail(ErrorKind::invalid, "cannot load TLS certificate " + o.tls_cert_file + ": " + ec.message());
    impl_->tls->use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) fail(ErrorKind::invalid, "cannot load TLS key " + o.tls_key_file + ": " + ec.message());
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(o.host, ec);
  if (ec) fail(ErrorKind::invalid, "bad listen address \"" + o.host + "\": " + ec.message());
  tcp::endpoint endpoint(address, o.port);
  auto& acc = impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    fail(ErrorKind::unavailable,
         "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + ec.message() +
             " (is another kontena-server running? choose another address with --listen)");
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
}

unsigned short HttpServer::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void HttpServer::run() {
  int n = std::max(1, impl_->options.threads);
  std::vector<std::thread> extra;
  for (int i = 1; i < n; ++i) extra.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (auto& t : extra) t.join();
}

void HttpServer::stop() {
  if (!impl_) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  impl_->io.stop();
}

}  // namespace kontena::master
