// An in-process fake master for the agent's session tests: a Beast WebSocket server on
// 127.0.0.1:0, on the test's io_context. It records each connection's handshake request and every
// frame it receives, answers /nodes/update, and lets a test send frames, close with a code, drop
// the TCP connection (1006) or go silent (stop reading, so it answers no more pings).
#pragma once
#include "common/asio.h"

#include <boost/beast/websocket.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kontena::agent::fakes {

namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;

class FakeMasterConnection : public std::enable_shared_from_this<FakeMasterConnection> {
 public:
  explicit FakeMasterConnection(tcp::socket socket)
      : ws(std::move(socket)), signal_(ws.get_executor()) {}

  websocket::stream<tcp::socket> ws;
  http::request<http::string_body> request;  // the handshake
  std::vector<Json> received;                 // every text frame, parsed
  bool upgraded = false;                      // the WebSocket handshake completed (stays true)
  bool open = false;                          // upgraded and not closed
  bool ended = false;                         // the reader ended (close frame, error, silence)
  std::uint16_t close_code_received = 0;      // the agent's close code, when it sent one
  bool silent = false;                        // set: stop reading after the current frame

  std::string header(const std::string& name) const {
    auto it = request.find(name);
    return it == request.end() ? "<absent>" : std::string(it->value());
  }

  void send(const Json& frame) {
    outbox_.push_back(Item{Item::text, frame.dump(), 0});
    signal_.cancel();
  }
  void close(std::uint16_t code, std::string reason = {}) {
    outbox_.push_back(Item{Item::close, std::move(reason), code});
    signal_.cancel();
  }
  // An abnormal end: no close frame (the agent sees 1006).
  void drop() {
    beast::error_code ec;
    ws.next_layer().close(ec);
    open = false;
    signal_.cancel();
  }

  // The frames received that are requests/notifications of this method.
  std::vector<Json> calls(const std::string& method) const {
    std::vector<Json> out;
    for (const auto& f : received)
      if (f.is_array() && ((f.size() == 4 && f[0] == 0 && f[2] == method) || (f.size() == 3 && f[0] == 2 && f[1] == method)))
        out.push_back(f);
    return out;
  }
  // The response with this id, or null.
  Json response(std::int64_t id) const {
    for (const auto& f : received)
      if (f.is_array() && f.size() == 4 && f[0] == 1 && f[1] == id) return f;
    return nullptr;
  }

  asio::awaitable<void> serve(std::function<void(FakeMasterConnection&, const Json&)> on_frame) {
    auto self = shared_from_this();
    beast::flat_buffer buffer;
    beast::error_code ec;
    co_await http::async_read(ws.next_layer(), buffer, request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !websocket::is_upgrade(request)) co_return;
    co_await ws.async_accept(request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    upgraded = true;
    open = true;
    asio::co_spawn(ws.get_executor(), writer(), asio::detached);
    while (!silent) {
      beast::flat_buffer in;
      co_await ws.async_read(in, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == websocket::error::closed) close_code_received = static_cast<std::uint16_t>(ws.reason().code);
        break;
      }
      Json frame = Json::parse(beast::buffers_to_string(in.data()), nullptr, false);
      received.push_back(frame);
      if (on_frame) on_frame(*this, frame);
    }
    ended = true;
    if (!silent) open = false;
    signal_.cancel();
  }

 private:
  struct Item {
    enum Kind { text, close } kind;
    std::string data;
    std::uint16_t code;
  };

  asio::awaitable<void> writer() {
    auto self = shared_from_this();
    while (true) {
      while (outbox_.empty() && open) {
        signal_.expires_at(std::chrono::steady_clock::time_point::max());
        beast::error_code ignored;
        co_await signal_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      if (!open) co_return;
      Item item = std::move(outbox_.front());
      outbox_.pop_front();
      beast::error_code ec;
      if (item.kind == Item::text) {
        ws.text(true);
        co_await ws.async_write(asio::buffer(item.data), asio::redirect_error(asio::use_awaitable, ec));
      } else {
        websocket::close_reason reason(item.code);
        reason.reason = item.data;
        co_await ws.async_close(reason, asio::redirect_error(asio::use_awaitable, ec));
        open = false;
        co_return;
      }
      if (ec) co_return;
    }
  }

  asio::steady_timer signal_;
  std::deque<Item> outbox_;
};

class FakeMaster {
 public:
  explicit FakeMaster(asio::io_context& io) : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port()); }

  // Called for every frame a connection receives; the default answers /nodes/update with {}.
  std::function<void(FakeMasterConnection&, const Json&)> on_frame = [](FakeMasterConnection& c, const Json& f) {
    answer_node_update(c, f);
  };
  static bool answer_node_update(FakeMasterConnection& c, const Json& f) {
    if (f.is_array() && f.size() == 4 && f[0] == 0 && f[2] == "/nodes/update") {
      c.send(Json::array({1, f[1], nullptr, Json::object()}));
      return true;
    }
    return false;
  }

  std::vector<std::shared_ptr<FakeMasterConnection>> connections;
  int accepted_tcp = 0;

  // The index-th WebSocket connection (0-based), or null.
  FakeMasterConnection* ws(std::size_t index) const {
    std::size_t n = 0;
    for (const auto& c : connections)
      if (c->upgraded) {
        if (n == index) return c.get();
        ++n;
      }
    return nullptr;
  }
  std::size_t ws_count() const {
    std::size_t n = 0;
    for (const auto& c : connections)
      if (c->upgraded) ++n;
    return n;
  }

  void stop() {
    beast::error_code ec;
    acceptor_.close(ec);
    for (auto& c : connections) c->drop();
  }

 private:
  asio::awaitable<void> accept_loop() {
    while (acceptor_.is_open()) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++accepted_tcp;
      auto conn = std::make_shared<FakeMasterConnection>(std::move(socket));
      connections.push_back(conn);
      std::function<void(FakeMasterConnection&, const Json&)> dispatch = [this](FakeMasterConnection& c, const Json& f) {
        if (on_frame) on_frame(c, f);
      };
      asio::co_spawn(acceptor_.get_executor(), conn->serve(std::move(dispatch)), asio::detached);
    }
  }

  tcp::acceptor acceptor_;
};

}  // namespace kontena::agent::fakes
