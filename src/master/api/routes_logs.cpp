// Grid-level logs (docs/api/stacks-services.md "Logs queries"): container logs and the event log
// of every stack and service of a grid.
#include "master/api/access.h"
#include "master/api/stack_support.h"

namespace kontena::master {

void add_log_routes(Router& r, ApiServices& s) {
  r.add("GET", "/v1/grids/:grid/container_logs", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    return ApiResult{200, container_logs_view(s.store, log_filter(call, access.grid.id))};
  });

  r.add("GET", "/v1/grids/:grid/event_logs", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    return ApiResult{200, event_logs_view(s.store, log_filter(call, access.grid.id))};
  });
}

}  // namespace kontena::master
