// Transport-neutral request/response the API layer sees; the HTTP server fills and sends them.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kontena::master {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded path, without the query string
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string source_ip;

  const std::string& header(const std::string& lowercase_name) const {
    static const std::string empty;
    auto it = headers.find(lowercase_name);
    return it == headers.end() ? empty : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// Splits "/a/b?x=1&y=%20" into a decoded path and query map. Returns false on bad %-escapes.
bool parse_target(const std::string& target, std::string& path, std::map<std::string, std::string>& query);
std::string percent_decode(const std::string& in, bool plus_is_space, bool& ok);

}  // namespace kontena::master
