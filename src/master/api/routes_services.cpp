// Services (docs/api/stacks-services.md): /v1/grids/:grid/services (list, create stack-less) and
// /v1/services/:grid/:stack/:service (show, update, remove, deploy, scale, start/stop/restart,
// instances, containers, deploys, envs, logs). The stack "null" holds the stack-less services.
#include <algorithm>

#include "common/error.h"
#include "common/log.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/service_spec.h"
#include "master/api/stack_support.h"

namespace kontena::master {

namespace {

// Links and depends_on of a service outside a stack definition: each names an existing service
// (not itself).
void check_links_exist(Store& store, const Grid& grid, const std::string& own_stack, const Json& spec) {
  auto own = spec["name"].get<std::string>();
  auto check = [&](const std::string& target_name, const std::string& field) {
    auto t = link_target(own_stack, target_name);
    if (t.stack == own_stack && t.service == own) invalid(field, field + ": a service cannot link to itself");
    std::int64_t stack_id = 0;
    if (t.stack != "null") {
      auto st = store.stack_by_name(grid.id, t.stack);
      if (!st) invalid(field, field + ": stack \"" + t.stack + "\" does not exist");
      stack_id = st->id;
    }
    if (!store.service_by_name(grid.id, stack_id, t.service))
      invalid(field, field + ": service " + t.stack + "/" + t.service + " does not exist");
  };
  for (std::size_t i = 0; i < spec["links"].size(); ++i)
    check(spec["links"][i]["name"].get<std::string>(), "links[" + std::to_string(i) + "]");
  for (std::size_t i = 0; i < spec["depends_on"].size(); ++i)
    check(spec["depends_on"][i].get<std::string>(), "depends_on[" + std::to_string(i) + "]");
}

std::string service_id(const Grid& grid, const Service& svc) { return grid.name + "/" + svc.stack_name + "/" + svc.name; }

// Writes `spec` (already normalised and checked) as the service's new spec: revision + 1 when a
// field other than instances changed. Returns whether anything changed.
bool write_spec(ApiServices& s, Service& svc, const Json& spec) {
  auto fields = changed_spec_fields(svc.spec, spec);
  if (fields.empty()) return false;
  if (spec_change_needs_revision(fields)) ++svc.revision;
  svc.spec = spec;
  svc.updated_at = s.clock.now_unix_ms();
  s.store.update_service(svc);
  return true;
}

struct ServiceCall {
  GridAccess access;
  Service service;
};

ServiceCall service_call(ApiServices& s, ApiCall& call) {
  call.audit.resource_name = call.param("service");
  auto access = visible_grid(s, call, call.param("grid"));
  auto svc = service_or_404(s.store, access.grid, call.param("stack"), call.param("service"));
  call.audit.resource_id = service_id(access.grid, svc);
  return {std::move(access), std::move(svc)};
}

const std::string kService = "/v1/services/:grid/:stack/:service";

}  // namespace

void add_service_routes(Router& r, ApiServices& s) {
  r.add("GET", "/v1/grids/:grid/services", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    std::optional<std::int64_t> stack_id;
    if (auto it = call.request.query.find("stack"); it != call.request.query.end() && !it->second.empty())
      stack_id = stack_id_or_404(s.store, access.grid, it->second);
    auto facts = grid_facts(s.store, access.grid);
    Json list = Json::array();
    for (const auto& svc : s.store.services_of_grid(access.grid.id, stack_id))
      list.push_back(service_view(s.store, access.grid, svc, facts));
    return ApiResult{200, {{"services", list}}};
  });

  r.add("POST", "/v1/grids/:grid/services", {true, "service", "create"}, [&s](ApiCall& call) {
    if (call.body.contains("name") && call.body["name"].is_string()) call.audit.resource_name = call.body["name"].get<std::string>();
    auto access = visible_grid(s, call, call.param("grid"));
    const auto& grid = access.grid;
    Json spec = normalise_service_spec(call.body);
    check_service_limits(spec, "null", grid.name);
    check_links_exist(s.store, grid, "null", spec);
    Service svc;
    svc.grid_id = grid.id;
    svc.stack_id = 0;
    svc.stack_name = "null";
    svc.name = spec["name"].get<std::string>();
    svc.spec = spec;
    svc.created_at = svc.updated_at = s.clock.now_unix_ms();
    call.audit.resource_id = service_id(grid, svc);
    s.store.transaction([&] {
      if (s.store.service_by_name(grid.id, 0, svc.name))
        fail(ErrorKind::conflict, "service \"null/" + svc.name + "\" already exists in grid \"" + grid.name +
                                      "\": update it (kontena service update) or choose another name");
      svc = s.store.insert_service(svc);
    });
    spdlog::info("service created grid={} service={}", grid.name, svc.name);
    return ApiResult{201, service_view(s.store, grid, svc)};
  });

  r.add("GET", kService, {}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    return ApiResult{200, service_view(s.store, c.access.grid, c.service)};
  });

  r.add("PUT", kService, {true, "service", "update"}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    if (call.body.contains("name") && !call.body["name"].is_null() && call.body["name"] != c.service.name)
      invalid("name", "the name of a service cannot be changed: create a new service instead");
    Json merged = c.service.spec;
    for (auto it = call.body.begin(); it != call.body.end(); ++it) merged[it.key()] = *it;
    merged["name"] = c.service.name;
    Json spec = normalise_service_spec(merged);
    check_service_limits(spec, c.service.stack_name, c.access.grid.name);
    check_links_exist(s.store, c.access.grid, c.service.stack_name, spec);
    s.store.transaction([&] {
      auto current = service_or_404(s.store, c.access.grid, c.service.stack_name, c.service.name);
      c.service = current;
      write_spec(s, c.service, spec);
    });
    return ApiResult{200, service_view(s.store, c.access.grid, c.service)};
  });

  r.add("DELETE", kService, {true, "service", "delete"}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    auto linking = services_linking_to(s.store, c.access.grid, c.service.stack_name, c.service.name);
    if (!linking.empty())
      fail(ErrorKind::conflict, "service " + c.service.stack_name + "/" + c.service.name + " cannot be removed: " +
                                    linking.front() + " links to it (remove the link first)");
    control(s).remove_service(c.service);
    return ApiResult{200, Json::object()};
  });

  r.add("POST", kService + "/deploy", {true, "service", "deploy"}, [&s](ApiCall& call) {
    Fields f(call.body);
    bool force = f.boolean("force").value_or(false);
    f.reject_unknown();
    auto c = service_call(s, call);
    auto deploy = control(s).deploy_service(c.service, force, "deploy");
    return ApiResult{201, service_deploy_view(s.store, deploy)};
  });

  r.add("POST", kService + "/scale", {true, "service", "scale"}, [&s](ApiCall& call) {
    Fields f(call.body);
    auto instances = f.integer("instances", true);
    f.reject_unknown();
    if (*instances < 0 || *instances > 100000)
      invalid("instances", "instances must be between 0 and 100000, not " + std::to_string(*instances));
    auto c = service_call(s, call);
    auto& ctl = control(s);
    s.store.transaction([&] {
      c.service = service_or_404(s.store, c.access.grid, c.service.stack_name, c.service.name);
      Json spec = c.service.spec;
      spec["instances"] = *instances;
      check_service_limits(spec, c.service.stack_name, c.access.grid.name);
      write_spec(s, c.service, spec);
    });
    auto deploy = ctl.deploy_service(c.service, false, "scale");
    return ApiResult{201, service_deploy_view(s.store, deploy)};
  });

  for (const char* op : {"start", "stop", "restart"}) {
    std::string action = op;
    r.add("POST", kService + "/" + action, {true, "service", action}, [&s, action](ApiCall& call) {
      Fields f(call.body);
      f.reject_unknown();
      auto c = service_call(s, call);
      auto& ctl = control(s);
      if (action == "start") ctl.start_service(c.service);
      else if (action == "stop") ctl.stop_service(c.service);
      else ctl.restart_service(c.service);
      auto now = service_or_404(s.store, c.access.grid, c.service.stack_name, c.service.name);
      return ApiResult{200, service_view(s.store, c.access.grid, now)};
    });
  }

  r.add("GET", kService + "/instances", {}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    auto facts = service_facts(s.store, c.service, grid_facts(s.store, c.access.grid));
    Json list = Json::array();
    for (const auto& i : facts.instances) list.push_back(instance_json(i, c.service, facts));
    return ApiResult{200, {{"instances", list}}};
  });

  r.add("GET", kService + "/containers", {}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    auto facts = service_facts(s.store, c.service, grid_facts(s.store, c.access.grid));
    Json list = Json::array();
    for (const auto& i : facts.instances)
      if (i.node_id != 0) list.push_back(container_json(i, c.service, facts));
    return ApiResult{200, {{"containers", list}}};
  });

  r.add("GET", kService + "/deploys/:id", {}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    auto id = id_param(call, "id", "service deploy");
    auto deploy = s.store.service_deploy(id);
    if (!deploy || deploy->service_id != c.service.id)
      fail(ErrorKind::not_found, "service " + c.service.stack_name + "/" + c.service.name + " has no deploy " + call.param("id"));
    return ApiResult{200, service_deploy_view(s.store, *deploy)};
  });

  r.add("POST", kService + "/envs", {true, "service", "add env"}, [&s](ApiCall& call) {
    Fields f(call.body);
    auto env = f.string("env", true, 128 * 1024);
    f.reject_unknown();
    auto eq = env->find('=');
    if (eq == 0 || eq == std::string::npos) invalid("env", "env \"" + *env + "\" is not NAME=VALUE");
    auto name = env->substr(0, eq);
    auto c = service_call(s, call);
    s.store.transaction([&] {
      c.service = service_or_404(s.store, c.access.grid, c.service.stack_name, c.service.name);
      Json spec = c.service.spec;
      Json list = Json::array();
      bool replaced = false;
      for (const auto& e : spec.value("environment", Json::array())) {
        if (e.is_string() && e.get<std::string>().substr(0, e.get<std::string>().find('=')) == name) {
          if (!replaced) list.push_back(*env);
          replaced = true;
        } else {
          list.push_back(e);
        }
      }
      if (!replaced) list.push_back(*env);
      spec["environment"] = list;
      spec = normalise_service_spec(spec);
      check_service_limits(spec, c.service.stack_name, c.access.grid.name);
      write_spec(s, c.service, spec);
    });
    return ApiResult{200, service_view(s.store, c.access.grid, c.service)};
  });

  r.add("DELETE", kService + "/envs/:name", {true, "service", "remove env"}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    const auto& name = call.param("name");
    s.store.transaction([&] {
      c.service = service_or_404(s.store, c.access.grid, c.service.stack_name, c.service.name);
      Json spec = c.service.spec;
      Json list = Json::array();
      bool found = false;
      for (const auto& e : spec.value("environment", Json::array())) {
        if (e.is_string() && e.get<std::string>().substr(0, e.get<std::string>().find('=')) == name) found = true;
        else list.push_back(e);
      }
      if (!found)
        fail(ErrorKind::not_found, "service " + c.service.stack_name + "/" + c.service.name + " has no environment variable " + name);
      spec["environment"] = list;
      write_spec(s, c.service, spec);
    });
    return ApiResult{200, service_view(s.store, c.access.grid, c.service)};
  });

  r.add("GET", kService + "/container_logs", {}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    auto filter = log_filter(call, c.access.grid.id, true);
    filter.stack = c.service.stack_name;
    filter.service = c.service.name;
    return ApiResult{200, container_logs_view(s.store, filter)};
  });

  r.add("GET", kService + "/event_logs", {}, [&s](ApiCall& call) {
    auto c = service_call(s, call);
    auto filter = log_filter(call, c.access.grid.id, true);
    filter.stack = c.service.stack_name;
    filter.service = c.service.name;
    return ApiResult{200, event_logs_view(s.store, filter)};
  });
}

}  // namespace kontena::master
