// The master's REST API (docs/api.md): routing, authentication, error mapping and the audit log
// around the route handlers of routes_*.cpp.
#pragma once
#include <memory>
#include <string>

#include "common/clock.h"
#include "master/api/router.h"
#include "master/auth/auth.h"
#include "master/auth/rate_limiter.h"
#include "master/api/node_events.h"
#include "master/http/message.h"
#include "master/store/store.h"

namespace kontena::master {

// What route handlers use.
struct ApiServices {
  Store& store;
  Auth& auth;
  const Clock& clock;
  RateLimiter& token_rate;  // POST /oauth2/token per source IP
  NodeEvents* node_events = nullptr;  // the agent hub; nullptr when there is none (unit tests)
};

class MasterApi {
 public:
  MasterApi(Store& store, const Clock& clock, NodeEvents* node_events = nullptr);
  HttpResponse handle(const HttpRequest& request);
  Auth& auth() { return auth_; }

 private:
  void audit(const ApiCall& call, const Router::Route& route, int status, const std::string& error);

  Store& store_;
  const Clock& clock_;
  Auth auth_;
  RateLimiter token_rate_;
  ApiServices services_;
  Router router_;
};

// Route groups.
void add_auth_routes(Router& router, ApiServices& services);
void add_user_routes(Router& router, ApiServices& services);
void add_config_routes(Router& router, ApiServices& services);
void add_grid_routes(Router& router, ApiServices& services);
void add_node_routes(Router& router, ApiServices& services);

}  // namespace kontena::master
