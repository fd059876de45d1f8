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
#include "master/api/service_control.h"
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
  ServiceControl* service_control = nullptr;  // the deployer; nullptr: deploys and exec answer 503
};

class MasterApi {
 public:
  MasterApi(Store& store, const Clock& clock, NodeEvents* node_events = nullptr,
            ServiceControl* service_control = nullptr);
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
void add_stack_routes(Router& router, ApiServices& services);      // routes_stacks.cpp
void add_service_routes(Router& router, ApiServices& services);    // routes_services.cpp
void add_container_routes(Router& router, ApiServices& services);  // routes_containers.cpp
void add_log_routes(Router& router, ApiServices& services);        // routes_logs.cpp (grid level)
void add_etcd_routes(Router& router, ApiServices& services);       // routes_etcd.cpp (etcd, grid/node health)

}  // namespace kontena::master
