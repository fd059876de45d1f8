// The agent's WebSocket to the master: a small interface (so the session logic does not care
// about TLS) and the Dialer that opens it over TCP or TLS (OpenSSL, verification on by default).
#pragma once
#include "common/asio.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "agent/connection/handshake.h"
#include "agent/connection/master_url.h"
#include "agent/options.h"

namespace kontena::agent {

struct CloseStatus {
  std::uint16_t code = 0;  // 0 = no close frame (connection lost: 1006)
  std::string reason;
};

// One open WebSocket. Not thread-safe: used from one event loop. At most one read() and one
// write()/ping()/close() in flight at a time (the session serializes its writes).
class WsConnection {
 public:
  virtual ~WsConnection() = default;
  // The next text (or binary) message. On a close frame from the master ec is
  // boost::beast::websocket::error::closed and close_status() says why.
  virtual asio::awaitable<std::string> read(beast::error_code& ec) = 0;
  virtual asio::awaitable<void> write(const std::string& text, beast::error_code& ec) = 0;
  virtual asio::awaitable<void> ping(beast::error_code& ec) = 0;
  // Close handshake (bounded by the connect timeout).
  virtual asio::awaitable<void> close(std::uint16_t code, const std::string& reason, beast::error_code& ec) = 0;
  // Closes the TCP socket now: every pending operation completes with an error.
  virtual void abort() = 0;
  virtual CloseStatus close_status() const = 0;
  // Called on every control frame received (ping, pong, close) while a read() is in flight.
  virtual void set_control_callback(std::function<void()> callback) = 0;
  // The master's Kontena-Version response header ("" when absent).
  virtual std::string peer_version() const = 0;
};

struct DialResult {
  std::unique_ptr<WsConnection> connection;  // null on failure
  std::string error;                         // which step failed and why
};

class Dialer {
 public:
  virtual ~Dialer() = default;
  // Resolves, connects, (TLS handshake,) WebSocket upgrade with the headers, each step within
  // timeout. Never throws (see blocking.h on exceptions and co_await).
  virtual asio::awaitable<DialResult> dial(const MasterUrl& url, const Headers& headers, Millis timeout) = 0;
  // Ends a dial in progress now (it returns an error): for a prompt stop.
  virtual void cancel() = 0;
};

// The real dialer. The TLS context (CA store, verification) is built once; throws
// kontena::Error(invalid) when the CA file cannot be loaded.
std::unique_ptr<Dialer> make_dialer(asio::any_io_executor executor, const TlsOptions& tls);

}  // namespace kontena::agent
