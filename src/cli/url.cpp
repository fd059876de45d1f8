#include "cli/url.h"

#include <cctype>

#include "common/error.h"

namespace kontena::cli {

namespace {

[[noreturn]] void bad_url(std::string_view text, const std::string& why) {
  throw Error(ErrorKind::invalid,
              "invalid master URL '" + std::string(text) + "': " + why +
                  " (expected http://HOST[:PORT] or https://HOST[:PORT])",
              "url");
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

std::string Url::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  const bool default_port = (scheme == "http" && port == "80") || (scheme == "https" && port == "443");
  if (!default_port) h += ":" + port;
  return h;
}

Url parse_url(std::string_view text) {
  Url url;
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) bad_url(text, "no scheme");
  for (char c : text.substr(0, scheme_end)) url.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (url.scheme != "http" && url.scheme != "https") bad_url(text, "scheme must be http or https");

  std::string_view rest = text.substr(scheme_end + 3);
  const auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) bad_url(text, "user names in URLs are not supported");

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) bad_url(text, "unterminated IPv6 address");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad_url(text, "unexpected text after IPv6 address");
      port = after.substr(1);
      url.explicit_port = true;
    }
  } else {
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
      url.explicit_port = true;
    }
    url.host = std::string(authority);
  }
  if (url.host.empty()) bad_url(text, "no host");
  if (url.explicit_port) {
    if (!all_digits(port) || port.size() > 5 || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
      bad_url(text, "port must be a number between 1 and 65535");
    url.port = std::string(port);
  } else {
    url.port = url.tls() ? "443" : "80";
  }
  if (!path.empty() && path.front() != '/') bad_url(text, "query strings and fragments are not supported");
  url.base_path = std::string(path);
  while (!url.base_path.empty() && url.base_path.back() == '/') url.base_path.pop_back();
  return url;
}

std::string normalize_master_url(std::string_view text) {
  parse_url(text);  // validates
  std::string url(text);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string websocket_url(std::string_view master_url) {
  const Url url = parse_url(master_url);
  std::string authority = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (url.explicit_port) authority += ":" + url.port;
  return (url.tls() ? "wss://" : "ws://") + authority + url.base_path;
}

std::string encode_path_segment(std::string_view segment) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '@') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

}  // namespace kontena::cli
