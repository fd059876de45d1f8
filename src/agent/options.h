// The agent's configuration (flags and environment, see main.cpp) and the small parsers behind it.
#pragma once
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace kontena::agent {

using Millis = std::chrono::milliseconds;

struct TlsOptions {
  bool verify = true;        // KONTENA_SSL_VERIFY=false turns certificate verification off
  std::string hostname;      // KONTENA_SSL_HOSTNAME: SNI and the name verified (default: the URL host)
  std::string ca_file;       // PEM bundle to trust instead of the system store
};

struct AgentOptions {
  std::string master_url;    // ws://, wss://, http:// or https://
  std::string grid_token;
  std::string node_token;    // preferred over grid_token when both are set
  std::string node_id;       // empty = the Docker engine ID
  std::string node_name;     // empty = the Docker engine Name (the host name)
  std::vector<std::string> labels;  // "k=v"
  std::string public_ip;     // empty = private_ip
  std::string private_ip;    // empty = address of peer_interface / the default route interface
  std::string peer_interface;
  TlsOptions tls;
  Millis ping_interval{30'000};
  Millis ping_timeout{5'000};
  Millis update_interval{60'000};
  Millis backoff_base{1'000};
  Millis backoff_max{90'000};
  Millis connect_timeout{10'000};   // TCP + TLS + WebSocket handshake
  Millis request_timeout{30'000};   // agent -> master RPC requests
  Millis stable_after{10'000};      // a connection up this long resets the reconnect backoff
  std::string proc_root = "/proc";  // host stats source (tests point it elsewhere)
  std::string docker_socket = "/var/run/docker.sock";  // for log lines (the DockerClient is given)
};

// "30" and "0.5" are seconds; suffixes ms, s, m, h ("250ms", "1.5s", "2m"). Throws
// kontena::Error(invalid, field = flag) naming the flag and an example when the text is not a
// positive duration.
Millis parse_duration(std::string_view text, const std::string& flag);

// "true/false/1/0/yes/no/on/off" (any case); throws kontena::Error(invalid) otherwise.
bool parse_bool(std::string_view text, const std::string& what);

// Comma-separated labels ("a=b,c=d"), trimmed, empty items dropped; each must be "key=value" or
// "key" with a non-empty key and no spaces. Throws kontena::Error(invalid).
std::vector<std::string> parse_labels(std::string_view text);

// DOCKER_HOST / --docker-socket: "unix:///path" or "/path" -> "/path". Other schemes (tcp://) are
// refused with an error saying only the unix socket is supported.
std::string parse_docker_socket(std::string_view text);

// "1.5s", "250ms": for log lines.
std::string format_duration(Millis d);

}  // namespace kontena::agent
