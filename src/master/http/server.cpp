#include "master/http/server.h"

#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.h"
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "protocol/agent_protocol.h"

namespace kontena::master {

using tcp = asio::ip::tcp;
namespace websocket = beast::websocket;

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


// "%F %T.%3NZ" (the agent handshake's time format).
std::string handshake_time_now() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  std::string t = format_time_ms(ms.count());
  if (auto pos = t.find('T'); pos != std::string::npos) t[pos] = ' ';
  return t;
}

// One accepted WebSocket. The stream lives here; the read loop (run) and the write loop each hold
// a strong reference, so the stream dies with the last of them. Outside holders (the hub) get a
// WsHandle with a weak reference only: a socket never outlives its io_context because of them.
template <class Stream>
class WsConnection final : public std::enable_shared_from_this<WsConnection<Stream>> {
 public:
  WsConnection(Stream&& stream, std::string remote) : ws_(std::move(stream)), remote_(std::move(remote)) {}

  enum class Kind { text, ping, close };
  struct Frame {
    Kind kind = Kind::text;
    std::string data;
    std::uint16_t code = 0;
  };

  // Frames waiting for a peer that does not read: past this the socket is closed (1013, the agent
  // reconnects) rather than letting the queue grow without bound.
  static constexpr std::size_t kMaxQueued = 4096;

  void enqueue(Frame frame) {
    {
      std::lock_guard lock(mu_);
      if (closing_ || done_) return;
      if (queue_.size() >= kMaxQueued && frame.kind != Kind::close) {
        spdlog::warn("websocket peer does not read: closing remote={} queued={}", remote_, queue_.size());
        queue_.clear();
        frame = Frame{Kind::close, "too many queued messages", static_cast<std::uint16_t>(websocket::close_code::try_again_later)};
      }
      if (frame.kind == Kind::close) closing_ = true;
      queue_.push_back(std::move(frame));
      if (writing_) return;
      writing_ = true;
    }
    asio::co_spawn(ws_.get_executor(), write_loop(this->shared_from_this()), asio::detached);
  }
  const std::string& remote() const { return remote_; }

  asio::awaitable<void> run(const http::request<http::string_body>& upgrade, const HttpRequest& request,
                            const WebSocketHandler& handler, std::size_t message_limit) {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).expires_never();
    // Liveness is the hub's business (pings with its own timeout); Beast only bounds handshakes.
    websocket::stream_base::timeout timeouts{std::chrono::seconds(10), websocket::stream_base::none(), false};
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "kontena-server/" KONTENA_VERSION);
      res.set(std::string(protocol::kHeaderVersion), KONTENA_VERSION);
      res.set(std::string(protocol::kHeaderConnectedAt), handshake_time_now());
    }));
    ws_.read_message_max(message_limit);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      if (kind != websocket::frame_type::pong || !listener_) return;
      try {
        listener_->on_pong(std::string_view(payload.data(), payload.size()));
      } catch (const std::exception& e) {
        spdlog::error("websocket pong handler failed remote={} error={}", remote_, e.what());
      }
    });
    co_await ws_.async_accept(upgrade, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      spdlog::debug("websocket upgrade failed remote={} error={}", remote_, ec.message());
      finish();
      co_return;
    }
    try {
      listener_ = handler(request, std::make_shared<Handle>(this->weak_from_this()));
    } catch (const std::exception& e) {
      spdlog::error("websocket handler failed remote={} error={}", remote_, e.what());
      enqueue({Kind::close, "internal error", static_cast<std::uint16_t>(websocket::close_code::internal_error)});
    }
    beast::flat_buffer buffer;
    std::uint16_t code = 0;
    for (;;) {
      co_await ws_.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == websocket::error::message_too_big) {
          spdlog::warn("websocket message over the size limit: closing remote={} limit={}", remote_, message_limit);
          code = static_cast<std::uint16_t>(websocket::close_code::too_big);
        } else if (ec != websocket::error::closed) {
          spdlog::debug("websocket read ended remote={} error={}", remote_, ec.message());
        }
        break;
      }
      if (listener_) {
        if (ws_.got_text()) {
          std::string text = beast::buffers_to_string(buffer.data());
          try {
            listener_->on_text(text);
          } catch (const std::exception& e) {
            spdlog::error("websocket message handler failed remote={} error={}", remote_, e.what());
          }
        } else {
          spdlog::warn("websocket binary frame ignored (the protocol uses JSON text frames) remote={} bytes={}", remote_,
                       buffer.size());
        }
      }
      buffer.consume(buffer.size());
    }
    if (ws_.reason().code != websocket::close_code::none) code = static_cast<std::uint16_t>(ws_.reason().code);
    if (code == 0) code = closed_code_;
    std::string reason(ws_.reason().reason.data(), ws_.reason().reason.size());
    if (reason.empty()) reason = closed_reason_;
    finish();
    // A broken socket: make sure nothing of it stays open.
    beast::get_lowest_layer(ws_).close();
    if (listener_) {
      try {
        listener_->on_closed(code, reason);
      } catch (const std::exception& e) {
        spdlog::error("websocket close handler failed remote={} error={}", remote_, e.what());
      }
      listener_.reset();
    }
  }

 private:
  // What the hub holds.
  class Handle final : public NodeChannel {
   public:
    explicit Handle(std::weak_ptr<WsConnection> c) : c_(std::move(c)) {
      if (auto conn = c_.lock()) remote_ = conn->remote();
    }
    void send_text(std::string text) override {
      if (auto conn = c_.lock()) conn->enqueue({Kind::text, std::move(text), 0});
    }
    void ping(std::string payload) override {
      if (payload.size() > 125) payload.resize(125);
      if (auto conn = c_.lock()) conn->enqueue({Kind::ping, std::move(payload), 0});
    }
    void close(std::uint16_t code, std::string reason) override {
      if (reason.size() > 123) reason.resize(123);
      if (auto conn = c_.lock()) conn->enqueue({Kind::close, std::move(reason), code});
    }
    std::string remote_address() const override { return remote_; }

   private:
    std::weak_ptr<WsConnection> c_;
    std::string remote_;
  };

  void finish() {
    std::lock_guard lock(mu_);
    done_ = true;
    queue_.clear();
  }

  static asio::awaitable<void> write_loop(std::shared_ptr<WsConnection> self) {
    for (;;) {
      Frame frame;
      {
        std::lock_guard lock(self->mu_);
        if (self->queue_.empty() || self->done_) {
          self->writing_ = false;
          co_return;
        }
        frame = std::move(self->queue_.front());
        self->queue_.pop_front();
      }
      beast::error_code ec;
      auto& ws = self->ws_;
      switch (frame.kind) {
        case Kind::text:
          ws.text(true);
          co_await ws.async_write(asio::buffer(frame.data), asio::redirect_error(asio::use_awaitable, ec));
          break;
        case Kind::ping:
          co_await ws.async_ping(websocket::ping_data(frame.data.c_str()),
                                 asio::redirect_error(asio::use_awaitable, ec));
          break;
        case Kind::close:
          self->closed_code_ = frame.code;
          self->closed_reason_ = frame.data;
          co_await ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(frame.code), frame.data),
                                  asio::redirect_error(asio::use_awaitable, ec));
          break;
      }
      if (ec) {
        spdlog::debug("websocket write failed remote={} error={}", self->remote_, ec.message());
        {
          std::lock_guard lock(self->mu_);
          self->queue_.clear();
          self->writing_ = false;
          self->done_ = true;
        }
        beast::get_lowest_layer(ws).close();  // ends the read loop too
        co_return;
      }
    }
  }

  websocket::stream<Stream> ws_;
  std::string remote_;
  std::shared_ptr<ChannelListener> listener_;  // strand only
  std::uint16_t closed_code_ = 0;              // strand only: the code we closed with
  std::string closed_reason_;
  std::mutex mu_;
  std::deque<Frame> queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool done_ = false;
};

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
  struct Upgrade {
    http::request<http::string_body> raw;
    HttpRequest request;
  };

  // Serves HTTP requests on one connection until it ends, or until a WebSocket upgrade for the
  // handler (then returns it: the caller turns the stream into a WebSocket).
  template <class Stream>
  asio::awaitable<std::optional<Upgrade>> serve(Stream& stream, std::string source_ip) {
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
        co_return std::nullopt;
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
        co_return std::nullopt;
      }
      auto& req = parser.get();
      bool target_ok = true;
      HttpRequest request = to_request(req, source_ip, target_ok);
      if (target_ok && options.websocket_handler && websocket::is_upgrade(req) &&
          request.path == protocol::kAgentPath) {
        co_return Upgrade{parser.release(), std::move(request)};
      }
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
    co_return std::nullopt;
  }

  template <class Stream>
  asio::awaitable<void> serve_websocket(Stream&& stream, Upgrade upgrade, const std::string& remote) {
    auto conn = std::make_shared<WsConnection<std::decay_t<Stream>>>(std::move(stream), remote);
    co_await conn->run(upgrade.raw, upgrade.request, options.websocket_handler, options.websocket_message_limit);
  }

  asio::awaitable<void> connection(tcp::socket socket) {
    beast::error_code ec;
    std::string source_ip, remote_address;
    auto remote = socket.remote_endpoint(ec);
    if (!ec) {
      source_ip = remote.address().to_string();
      remote_address = source_ip + ":" + std::to_string(remote.port());
    }
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
        auto upgrade = co_await serve(stream, source_ip);
        if (upgrade) {
          co_await serve_websocket(std::move(stream), std::move(*upgrade), remote_address);
          co_return;
        }
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
        co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
      } else {
        beast::tcp_stream stream(std::move(socket));
        auto upgrade = co_await serve(stream, source_ip);
        if (upgrade) co_await serve_websocket(std::move(stream), std::move(*upgrade), remote_address);
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
