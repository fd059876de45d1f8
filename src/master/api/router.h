// Method + path-pattern routing ("/v1/nodes/:grid/:node/token") with declared audit metadata.
// A last segment "*name" captures the rest of the path verbatim, from its "/" on ("" when there is
// none): "/v1/etcd/:grid/*key" gives key "/kontena/ipam/" for "/v1/etcd/demo/kontena/ipam/".
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/auth/auth.h"
#include "master/http/message.h"

namespace kontena::master {

using Json = nlohmann::json;

// What the audit log says about a call; routes declare defaults, handlers refine them.
struct AuditInfo {
  std::string resource_type;
  std::string resource_id;
  std::string resource_name;
  std::string event_name;
  std::string grid;
};

struct ApiCall {
  const HttpRequest& request;
  std::map<std::string, std::string> params;
  std::optional<Principal> principal;
  AuditInfo audit;
  Json body = Json::object();  // parsed request body for POST/PUT/PATCH

  const std::string& param(const std::string& name) const { return params.at(name); }
  const User& user() const { return principal->user; }
};

struct ApiResult {
  int status = 200;
  Json body = Json::object();
};

using RouteHandler = std::function<ApiResult(ApiCall&)>;

struct RouteOptions {
  bool authenticated = true;
  std::string resource_type;  // audit defaults
  std::string event_name;
};

class Router {
 public:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // ":name" segments capture; a last "*name" takes the rest
    RouteOptions options;
    RouteHandler handler;
  };
  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    bool other_method_matched = false;  // path known, method not: 405
  };

  void add(const std::string& method, const std::string& pattern, RouteOptions options, RouteHandler handler);
  Match match(const std::string& method, const std::string& path) const;

 private:
  std::vector<Route> routes_;
};

std::vector<std::string> split_path(const std::string& path);

}  // namespace kontena::master
