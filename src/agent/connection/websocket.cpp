#include "agent/connection/websocket.h"

#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>

#include "common/error.h"
#include "protocol/agent_protocol.h"

namespace kontena::agent {

namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxMessageBytes = 64 * 1024 * 1024;
constexpr std::size_t kKeepBufferBytes = 64 * 1024;

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string dial_error(const MasterUrl& url, const std::string& step, const beast::error_code& ec,
                       const std::string& hint = {}) {
  std::string message = step + " " + url.to_string() + " failed: " + ec.message();
  if (ec == beast::error::timeout) message = step + " " + url.to_string() + " timed out";
  if (!hint.empty()) message += " (" + hint + ")";
  return message;
}

template <class Stream>
class BeastConnection final : public WsConnection {
 public:
  template <class... Args>
  explicit BeastConnection(Args&&... args) : ws_(std::forward<Args>(args)...) {}

  websocket::stream<Stream>& ws() { return ws_; }
  void set_peer_version(std::string v) { peer_version_ = std::move(v); }

  asio::awaitable<std::string> read(beast::error_code& ec) override {
    buffer_.consume(buffer_.size());
    if (buffer_.capacity() > kKeepBufferBytes) buffer_.shrink_to_fit();
    co_await ws_.async_read(buffer_, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::string{};
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    co_return text;
  }

  asio::awaitable<void> write(const std::string& text, beast::error_code& ec) override {
    ws_.text(true);
    co_await ws_.async_write(asio::buffer(text), asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> ping(beast::error_code& ec) override {
    co_await ws_.async_ping({}, asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> close(std::uint16_t code, const std::string& reason, beast::error_code& ec) override {
    websocket::close_reason cr(code);
    cr.reason = reason;
    co_await ws_.async_close(cr, asio::redirect_error(asio::use_awaitable, ec));
  }

  void abort() override { beast::get_lowest_layer(ws_).close(); }

  CloseStatus close_status() const override {
    const auto& r = ws_.reason();
    return CloseStatus{static_cast<std::uint16_t>(r.code), std::string(r.reason.data(), r.reason.size())};
  }

  void set_control_callback(std::function<void()> callback) override {
    if (!callback) {
      ws_.control_callback();
      return;
    }
    ws_.control_callback([cb = std::move(callback)](websocket::frame_type, beast::string_view) { cb(); });
  }

  std::string peer_version() const override { return peer_version_; }

 private:
  websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;
  std::string peer_version_;
};

// "" on success, else what went wrong.
template <class Connection>
asio::awaitable<std::string> upgrade(Connection& conn, const MasterUrl& url, const Headers& headers, Millis timeout) {
  auto& ws = conn.ws();
  websocket::stream_base::timeout opt{};
  opt.handshake_timeout = timeout;
  opt.idle_timeout = websocket::stream_base::none();
  opt.keep_alive_pings = false;
  ws.set_option(opt);
  ws.read_message_max(kMaxMessageBytes);
  ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    req.set(http::field::user_agent, std::string("kontena-agent/") + KONTENA_VERSION);
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  websocket::response_type res;
  beast::error_code ec;
  const std::string host = url.host_header();
  co_await ws.async_handshake(res, host, url.target, asio::redirect_error(asio::use_awaitable, ec));
  if (ec == websocket::error::upgrade_declined) {
    std::string body = res.body().substr(0, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    co_return "the master at " + url.to_string() + " refused the WebSocket upgrade: HTTP " +
        std::to_string(res.result_int()) + " " + std::string(res.reason()) + (body.empty() ? "" : ": " + body);
  }
  if (ec) co_return dial_error(url, "WebSocket handshake with", ec);
  auto it = res.find(std::string(protocol::kHeaderVersion));
  if (it != res.end()) conn.set_peer_version(std::string(it->value()));
  co_return std::string{};
}

class RealDialer final : public Dialer {
 public:
  RealDialer(asio::any_io_executor executor, const TlsOptions& tls)
      : executor_(std::move(executor)), tls_(tls), ssl_(asio::ssl::context::tls_client) {
    ssl_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    beast::error_code ec;
    if (!tls_.ca_file.empty()) {
      ssl_.load_verify_file(tls_.ca_file, ec);
      if (ec)
        invalid("ssl-ca-file", "cannot load the CA file " + tls_.ca_file + ": " + ec.message() +
                                   " (--ssl-ca-file / KONTENA_SSL_CA_FILE must be a PEM bundle)");
    } else {
      ssl_.set_default_verify_paths(ec);  // no system store: verification fails later, with a clear error
    }
    ssl_.set_verify_mode(tls_.verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
  }

  asio::awaitable<DialResult> dial(const MasterUrl& url, const Headers& headers, Millis timeout) override {
    tcp::resolver::results_type endpoints;
    beast::error_code ec;
    cancelled_ = false;
    if (is_ip_literal(url.host)) {
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(asio::ip::make_address(url.host), static_cast<unsigned short>(std::stoi(url.port))), url.host,
          url.port);
    } else {
      tcp::resolver resolver(executor_);
      resolver_ = &resolver;
      endpoints = co_await resolver.async_resolve(url.host, url.port, asio::redirect_error(asio::use_awaitable, ec));
      resolver_ = nullptr;
      if (cancelled_) co_return cancelled();
      if (ec) co_return DialResult{nullptr, dial_error(url, "resolving the master host of", ec)};
    }

    if (!url.tls) {
      auto conn = std::make_unique<BeastConnection<beast::tcp_stream>>(executor_);
      auto& stream = beast::get_lowest_layer(conn->ws());
      InFlight in_flight(*this, stream);
      stream.expires_after(timeout);
      co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
      if (cancelled_) co_return cancelled();
      if (ec) co_return DialResult{nullptr, dial_error(url, "connecting to", ec)};
      stream.expires_never();
      std::string error = co_await upgrade(*conn, url, headers, timeout);
      if (cancelled_) co_return cancelled();
      if (!error.empty()) co_return DialResult{nullptr, error};
      co_return DialResult{std::move(conn), {}};
    }

    auto conn = std::make_unique<BeastConnection<beast::ssl_stream<beast::tcp_stream>>>(executor_, ssl_);
    auto& tls_stream = conn->ws().next_layer();
    auto& stream = beast::get_lowest_layer(conn->ws());
    InFlight in_flight(*this, stream);
    std::string name = tls_.hostname.empty() ? url.host : tls_.hostname;
    if (!is_ip_literal(name) && !SSL_set_tlsext_host_name(tls_stream.native_handle(), name.c_str()))
      co_return DialResult{nullptr, "cannot set the TLS server name " + name};
    if (tls_.verify) tls_stream.set_verify_callback(asio::ssl::host_name_verification(name));
    stream.expires_after(timeout);
    co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (cancelled_) co_return cancelled();
    if (ec) co_return DialResult{nullptr, dial_error(url, "connecting to", ec)};
    stream.expires_after(timeout);
    co_await tls_stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (cancelled_) co_return cancelled();
    if (ec)
      co_return DialResult{nullptr, dial_error(url, "the TLS handshake with", ec,
                  tls_.verify ? "check the master's certificate for " + name +
                                    "; --ssl-ca-file / KONTENA_SSL_CA_FILE trusts a private CA, KONTENA_SSL_HOSTNAME "
                                    "sets the name to verify, KONTENA_SSL_VERIFY=false turns verification off"
                              : std::string{})};
    stream.expires_never();
    std::string error = co_await upgrade(*conn, url, headers, timeout);
    if (cancelled_) co_return cancelled();
    if (!error.empty()) co_return DialResult{nullptr, error};
    co_return DialResult{std::move(conn), {}};
  }

  void cancel() override {
    if (resolver_ == nullptr && stream_ == nullptr) return;
    cancelled_ = true;
    if (resolver_) resolver_->cancel();
    if (stream_) stream_->close();
  }

 private:
  // Marks the stream being dialled (for cancel()) for the scope of one dial.
  struct InFlight {
    InFlight(RealDialer& d, beast::tcp_stream& s) : dialer(d) {
      dialer.stream_ = &s;
      dialer.cancelled_ = false;
    }
    ~InFlight() { dialer.stream_ = nullptr; }
    RealDialer& dialer;
  };
  static DialResult cancelled() { return DialResult{nullptr, "cancelled"}; }

  tcp::resolver* resolver_ = nullptr;
  beast::tcp_stream* stream_ = nullptr;
  bool cancelled_ = false;
  asio::any_io_executor executor_;
  TlsOptions tls_;
  asio::ssl::context ssl_;
};

}  // namespace

std::unique_ptr<Dialer> make_dialer(asio::any_io_executor executor, const TlsOptions& tls) {
  return std::make_unique<RealDialer>(std::move(executor), tls);
}

}  // namespace kontena::agent
