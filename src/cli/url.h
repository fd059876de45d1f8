// Master URLs: what the CLI accepts in `master login URL`, and the WebSocket form agents use.
#pragma once
#include <string>
#include <string_view>

namespace kontena::cli {

struct Url {
  std::string scheme;     // "http" or "https"
  std::string host;       // without brackets for IPv6 literals
  std::string port;       // always set: explicit, or 80/443 by scheme
  std::string base_path;  // "" or "/prefix" (no trailing slash); API paths are appended to it
  bool explicit_port = false;

  bool tls() const { return scheme == "https"; }
  // Host header value: host, plus ":port" when it is not the scheme's default.
  std::string host_header() const;
};

// Parses http(s)://host[:port][/path]; throws kontena::Error(invalid) with a fix-it message.
Url parse_url(std::string_view text);

// The URL without a trailing slash, the form stored in the client config.
std::string normalize_master_url(std::string_view text);

// http://h:p/x -> ws://h:p/x, https -> wss: the KONTENA_URI agents connect to.
std::string websocket_url(std::string_view master_url);

// Percent-encodes one path segment (an email, a grid name) for use in an API path.
std::string encode_path_segment(std::string_view segment);

}  // namespace kontena::cli
