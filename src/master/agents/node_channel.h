// The seam between the master's WebSocket transport and the agent hub (DESIGN §2.4): the hub
// talks to a connected agent through a NodeChannel and hears from it through a ChannelListener.
// The real channel (http/websocket_channel.cpp) runs over plain TCP or TLS; unit tests use a fake.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace kontena::master {

// One agent's socket. Thread-safe: every method may be called from any thread, queues its frame
// and returns at once (frames go out in call order, one write at a time). No method ever calls the
// listener back synchronously. After close() (or once the socket is gone) the methods do nothing.
class NodeChannel {
 public:
  virtual ~NodeChannel() = default;
  virtual void send_text(std::string text) = 0;
  // A WebSocket ping control frame (payload at most 125 bytes).
  virtual void ping(std::string payload) = 0;
  // Starts the closing handshake with this code and reason (reason at most 123 bytes).
  virtual void close(std::uint16_t code, std::string reason) = 0;
  // "ip:port" of the peer, for logs.
  virtual std::string remote_address() const = 0;
};

// What the transport reports about one channel. Calls for one channel never overlap.
class ChannelListener {
 public:
  virtual ~ChannelListener() = default;
  virtual void on_text(std::string_view text) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  // The socket is gone (closing handshake done, error, timeout, message over the size limit).
  // code is the close code received or sent (0 when the socket just broke). Called once.
  virtual void on_closed(std::uint16_t code, std::string_view reason) = 0;
};

}  // namespace kontena::master
