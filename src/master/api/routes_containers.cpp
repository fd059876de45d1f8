// Containers (docs/api/stacks-services.md): one-shot exec in a service container on its node.
#include "common/error.h"
#include "common/log.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/stack_support.h"

namespace kontena::master {

void add_container_routes(Router& r, ApiServices& s) {
  r.add("POST", "/v1/containers/:grid/:node/:container/exec", {true, "container", "exec"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("container");
    Fields f(call.body);
    auto cmd = f.string_array("cmd", 4096, 64 * 1024);
    auto timeout = f.integer("timeout").value_or(60);
    f.reject_unknown();
    if (!cmd || cmd->empty()) invalid("cmd", "cmd is required: the command as a list of words (e.g. [\"sh\", \"-c\", \"ls /\"])");
    if (timeout < 1 || timeout > 3600) invalid("timeout", "timeout must be between 1 and 3600 seconds");
    auto access = visible_grid(s, call, call.param("grid"));
    const auto& ref = call.param("node");
    auto node = s.store.node_by_name(access.grid.id, ref);
    if (!node) node = s.store.node_by_node_id(access.grid.id, ref);
    if (!node)
      fail(ErrorKind::not_found, "node \"" + ref + "\" does not exist in grid \"" + access.grid.name + "\" (kontena node ls)");
    call.audit.resource_id = access.grid.name + "/" + node->name + "/" + call.param("container");
    auto& ctl = control(s);
    if (!node->connected)
      fail(ErrorKind::unavailable, "node \"" + node->name + "\" is offline: exec needs its agent connected");
    auto result = ctl.exec(*node, call.param("container"), *cmd, std::chrono::seconds(timeout));
    return ApiResult{200, result};
  });
}

}  // namespace kontena::master
