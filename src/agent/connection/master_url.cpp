#include "agent/connection/master_url.h"

#include <algorithm>
#include <cctype>

#include "common/error.h"
#include "protocol/agent_protocol.h"

namespace kontena::agent {

namespace {

[[noreturn]] void bad_url(std::string_view text, const std::string& why) {
  invalid("master", "invalid master URL \"" + std::string(text) + "\": " + why +
                        " (e.g. --master ws://192.168.1.10:9292 or KONTENA_URI=https://master.example.com)");
}

bool is_ipv6_literal(const std::string& host) { return host.find(':') != std::string::npos; }

}  // namespace

std::string MasterUrl::host_header() const {
  std::string h = is_ipv6_literal(host) ? "[" + host + "]" : host;
  bool default_port = (tls && port == "443") || (!tls && port == "80");
  if (!default_port) h += ":" + port;
  return h;
}

std::string MasterUrl::to_string() const {
  std::string h = is_ipv6_literal(host) ? "[" + host + "]" : host;
  return std::string(tls ? "wss://" : "ws://") + h + ":" + port + target;
}

MasterUrl parse_master_url(std::string_view text) {
  if (text.empty()) bad_url(text, "it is empty");
  for (char c : text)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      bad_url(text, "it contains white space");
  auto sep = text.find("://");
  if (sep == std::string_view::npos) bad_url(text, "it needs a scheme: ws://, wss://, http:// or https://");
  std::string scheme(text.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  MasterUrl url;
  if (scheme == "ws" || scheme == "http") url.tls = false;
  else if (scheme == "wss" || scheme == "https") url.tls = true;
  else bad_url(text, "unsupported scheme \"" + scheme + "\"; use ws://, wss://, http:// or https://");

  std::string_view rest = text.substr(sep + 3);
  auto path_at = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_at);
  std::string_view path = path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at);
  if (authority.find('@') != std::string_view::npos) bad_url(text, "user information (user@) is not supported");
  if (path.find('#') != std::string_view::npos) bad_url(text, "a fragment (#...) is not allowed");

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) bad_url(text, "an IPv6 address needs a closing ']'");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad_url(text, "unexpected text after the IPv6 address");
      port = after.substr(1);
      url.explicit_port = true;
    }
    if (url.host.empty()) bad_url(text, "the host is empty");
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      url.explicit_port = true;
      authority = authority.substr(0, colon);
    }
    url.host = std::string(authority);
    if (url.host.empty()) bad_url(text, "the host is missing");
    for (char c : url.host)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
        bad_url(text, "the host contains '" + std::string(1, c) + "'");
  }
  if (url.explicit_port) {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
      bad_url(text, "the port must be a number 1..65535");
    int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) bad_url(text, "the port must be a number 1..65535");
    url.port = std::to_string(p);
  } else {
    url.port = url.tls ? "443" : "80";
  }
  if (path.empty()) url.target = std::string(protocol::kAgentPath);
  else if (path.front() == '?') url.target = std::string(protocol::kAgentPath) + std::string(path);
  else url.target = std::string(path);
  return url;
}

}  // namespace kontena::agent
