// The master URL the agent connects to (--master / KONTENA_URI).
#pragma once
#include <string>
#include <string_view>

namespace kontena::agent {

struct MasterUrl {
  bool tls = false;        // wss:// or https://
  std::string host;        // without brackets for IPv6 literals
  std::string port;        // explicit, or 80/443 by scheme
  std::string target;      // path (+ query) of the WebSocket: "/" unless the URL has a path
  bool explicit_port = false;

  // Host header value: host, plus ":port" when it is not the scheme's default.
  std::string host_header() const;
  // ws://host:port/target or wss://...: for log lines.
  std::string to_string() const;
};

// Accepts ws://, wss://, http:// (= ws) and https:// (= wss), host (name, IPv4, [IPv6]), an
// optional port and path. Throws kontena::Error(invalid, field "master") with a message that says
// what is wrong and shows a valid example.
MasterUrl parse_master_url(std::string_view text);

}  // namespace kontena::agent
