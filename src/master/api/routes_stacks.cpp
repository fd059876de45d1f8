// Stacks (docs/api/stacks-services.md): /v1/grids/:grid/stacks (list, install) and
// /v1/stacks/:grid/:stack (show, upgrade, labels, remove, revisions, deploys, stop, restart, logs).
#include <algorithm>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/service_spec.h"
#include "master/api/stack_support.h"
#include "master/api/validation.h"

namespace kontena::master {

namespace {

StackCheckContext check_context(Store& store, const Grid& grid) {
  StackCheckContext ctx;
  ctx.grid = grid.name;
  ctx.service_exists = [&store, grid_id = grid.id](const std::string& stack, const std::string& service) {
    std::int64_t stack_id = 0;
    if (stack != "null") {
      auto st = store.stack_by_name(grid_id, stack);
      if (!st) return false;
      stack_id = st->id;
    }
    return store.service_by_name(grid_id, stack_id, service).has_value();
  };
  return ctx;
}

// The Stack row fields a definition sets.
void apply_definition(Stack& stack, const Json& def) {
  stack.stack = def["stack"].get<std::string>();
  stack.version = def["version"].get<std::string>();
  stack.parent_name = def["parent"].is_object() ? def["parent"]["name"].get<std::string>() : std::string();
  stack.labels = def["labels"].get<std::vector<std::string>>();
  stack.expose = def["expose"].is_string() ? def["expose"].get<std::string>() : std::string();
}

Service new_stack_service(const Stack& stack, const Json& spec, int stack_revision, std::int64_t now) {
  Service s;
  s.grid_id = stack.grid_id;
  s.stack_id = stack.id;
  s.stack_name = stack.name;
  s.name = spec["name"].get<std::string>();
  s.spec = spec;
  s.revision = 1;
  s.stack_revision = stack_revision;
  s.state = "initialized";
  s.created_at = s.updated_at = now;
  return s;
}

bool dry_run_param(const ApiCall& call) {
  auto it = call.request.query.find("dry_run");
  if (it == call.request.query.end() || it->second.empty() || it->second == "false" || it->second == "0") return false;
  if (it->second == "true" || it->second == "1") return true;
  invalid("dry_run", "dry_run must be true or false, not \"" + it->second + "\"");
}

std::vector<std::string> stack_labels(Fields& f) {
  auto labels = f.string_array("labels", 128, 255);
  if (!labels) invalid("labels", "labels is required: a list of \"key=value\" (may be empty)");
  std::vector<std::string> unique;
  for (std::size_t i = 0; i < labels->size(); ++i) {
    const auto& l = (*labels)[i];
    auto field = "labels[" + std::to_string(i) + "]";
    if (l.find('=') == std::string::npos || l.front() == '=')
      invalid(field, "label \"" + l + "\" is invalid: use key=value (e.g. team=web)");
    validate_label(field, l);
    if (std::find(unique.begin(), unique.end(), l) == unique.end()) unique.push_back(l);
  }
  return unique;
}

}  // namespace

void add_stack_routes(Router& r, ApiServices& s) {
  r.add("GET", "/v1/grids/:grid/stacks", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    auto facts = grid_facts(s.store, access.grid);
    Json list = Json::array();
    for (const auto& st : s.store.stacks_of_grid(access.grid.id)) list.push_back(stack_view(s.store, access.grid, st, facts));
    return ApiResult{200, {{"stacks", list}}};
  });

  r.add("POST", "/v1/grids/:grid/stacks", {true, "stack", "create"}, [&s](ApiCall& call) {
    if (call.body.contains("name") && call.body["name"].is_string()) call.audit.resource_name = call.body["name"].get<std::string>();
    auto access = visible_grid(s, call, call.param("grid"));
    const auto& grid = access.grid;
    Json def = normalise_stack_definition(call.body, check_context(s.store, grid));
    Stack stack;
    stack.grid_id = grid.id;
    stack.name = def["name"].get<std::string>();
    apply_definition(stack, def);
    stack.revision = 1;
    stack.created_at = stack.updated_at = s.clock.now_unix_ms();
    call.audit.resource_id = grid.name + "/" + stack.name;
    s.store.transaction([&] {
      if (s.store.stack_by_name(grid.id, stack.name))
        fail(ErrorKind::conflict, "stack \"" + stack.name + "\" already exists in grid \"" + grid.name +
                                      "\": upgrade it (kontena stack upgrade) or choose another name");
      stack = s.store.insert_stack(stack, def);
      for (const auto& spec : def["services"]) s.store.insert_service(new_stack_service(stack, spec, 1, stack.created_at));
    });
    spdlog::info("stack installed grid={} stack={} services={}", grid.name, stack.name, def["services"].size());
    return ApiResult{201, stack_view(s.store, grid, stack)};
  });

  r.add("GET", "/v1/stacks/:grid/:stack", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    return ApiResult{200, stack_view(s.store, access.grid, stack_or_404(s.store, access.grid, call.param("stack")))};
  });

  r.add("PUT", "/v1/stacks/:grid/:stack", {true, "stack", "upgrade"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("stack");
    bool dry_run = dry_run_param(call);
    if (dry_run) call.audit.event_name = "upgrade (dry run)";
    auto access = visible_grid(s, call, call.param("grid"));
    const auto& grid = access.grid;
    auto stack = stack_or_404(s.store, grid, call.param("stack"));
    call.audit.resource_id = grid.name + "/" + stack.name;
    Json body = call.body;
    if (body.contains("name") && !body["name"].is_null() && body["name"] != stack.name)
      invalid("name", "the definition's name " + body["name"].dump() + " is not the stack's name \"" + stack.name +
                          "\": upgrade the stack named in the definition or omit name");
    body["name"] = stack.name;
    Json def = normalise_stack_definition(body, check_context(s.store, grid));

    // What the upgrade does to the services.
    auto existing = s.store.services_of_grid(grid.id, stack.id);
    Json added = Json::array(), removed = Json::array(), changed = Json::array(), unchanged = Json::array();
    std::set<std::string> defined;
    for (const auto& spec : def["services"]) {
      auto name = spec["name"].get<std::string>();
      defined.insert(name);
      auto it = std::find_if(existing.begin(), existing.end(), [&](const Service& e) { return e.name == name; });
      if (it == existing.end()) {
        added.push_back(name);
        continue;
      }
      auto fields = changed_spec_fields(it->spec, spec);
      if (fields.empty()) unchanged.push_back(name);
      else changed.push_back({{"name", name}, {"fields", fields}});
    }
    for (const auto& e : existing)
      if (!defined.count(e.name)) removed.push_back(e.name);
    auto latest = s.store.stack_revision(stack.id, stack.revision);
    bool new_revision = !latest || latest->definition != def;
    Json changes{{"added", added}, {"removed", removed}, {"changed", changed}, {"unchanged", unchanged},
                 {"new_revision", new_revision}};

    if (!dry_run && new_revision) {
      auto now = s.clock.now_unix_ms();
      s.store.transaction([&] {
        auto rev = s.store.add_stack_revision(stack.id, def);
        stack.revision = rev.revision;
        apply_definition(stack, def);
        stack.updated_at = now;
        s.store.update_stack(stack);
        for (const auto& spec : def["services"]) {
          auto name = spec["name"].get<std::string>();
          auto it = std::find_if(existing.begin(), existing.end(), [&](const Service& e) { return e.name == name; });
          if (it == existing.end()) {
            s.store.insert_service(new_stack_service(stack, spec, rev.revision, now));
            continue;
          }
          auto fields = changed_spec_fields(it->spec, spec);
          if (fields.empty()) continue;
          Service svc = *it;
          if (spec_change_needs_revision(fields)) ++svc.revision;
          svc.spec = spec;
          svc.stack_revision = rev.revision;
          svc.updated_at = now;
          s.store.update_service(svc);
        }
      });
      spdlog::info("stack upgraded grid={} stack={} revision={}", grid.name, stack.name, stack.revision);
    }
    Json view = stack_view(s.store, grid, stack);
    view["changes"] = changes;
    return ApiResult{200, view};
  });

  r.add("PATCH", "/v1/stacks/:grid/:stack", {true, "stack", "update"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("stack");
    Fields f(call.body);
    auto labels = stack_labels(f);
    f.reject_unknown();
    auto access = visible_grid(s, call, call.param("grid"));
    Stack stack;
    s.store.transaction([&] {
      stack = stack_or_404(s.store, access.grid, call.param("stack"));
      stack.labels = labels;
      stack.updated_at = s.clock.now_unix_ms();
      s.store.update_stack(stack);
    });
    call.audit.resource_id = access.grid.name + "/" + stack.name;
    return ApiResult{200, stack_view(s.store, access.grid, stack)};
  });

  r.add("DELETE", "/v1/stacks/:grid/:stack", {true, "stack", "delete"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("stack");
    auto access = visible_grid(s, call, call.param("grid"));
    auto stack = stack_or_404(s.store, access.grid, call.param("stack"));
    call.audit.resource_id = access.grid.name + "/" + stack.name;
    for (const auto& svc : s.store.services_of_grid(access.grid.id, stack.id)) {
      auto linking = services_linking_to(s.store, access.grid, stack.name, svc.name, stack.id);
      if (!linking.empty())
        fail(ErrorKind::conflict, "stack \"" + stack.name + "\" cannot be removed: service " + linking.front() +
                                      " links to its service " + svc.name + " (remove or upgrade " + linking.front() +
                                      " first)");
    }
    control(s).remove_stack(stack);
    return ApiResult{200, Json::object()};
  });

  r.add("GET", "/v1/stacks/:grid/:stack/revisions/:n", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    auto stack = stack_or_404(s.store, access.grid, call.param("stack"));
    auto n = id_param(call, "n", "revision");
    auto rev = n > stack.revision ? std::nullopt : s.store.stack_revision(stack.id, static_cast<int>(n));
    if (!rev)
      fail(ErrorKind::not_found, "stack \"" + stack.name + "\" has no revision " + call.param("n") + " (revisions 1.." +
                                     std::to_string(stack.revision) + ")");
    return ApiResult{200, {{"revision", rev->revision}, {"created_at", time_json(rev->created_at)}, {"definition", rev->definition}}};
  });

  r.add("POST", "/v1/stacks/:grid/:stack/deploy", {true, "stack", "deploy"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("stack");
    Fields f(call.body);
    f.reject_unknown();
    auto access = visible_grid(s, call, call.param("grid"));
    auto stack = stack_or_404(s.store, access.grid, call.param("stack"));
    call.audit.resource_id = access.grid.name + "/" + stack.name;
    auto deploy = control(s).deploy_stack(stack);
    return ApiResult{201, stack_deploy_view(s.store, deploy)};
  });

  r.add("GET", "/v1/stacks/:grid/:stack/deploys/:id", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    auto stack = stack_or_404(s.store, access.grid, call.param("stack"));
    auto id = id_param(call, "id", "stack deploy");
    auto deploy = s.store.stack_deploy(id);
    if (!deploy || deploy->stack_id != stack.id)
      fail(ErrorKind::not_found, "stack \"" + stack.name + "\" has no deploy " + call.param("id"));
    return ApiResult{200, stack_deploy_view(s.store, *deploy)};
  });

  for (const char* op : {"stop", "restart"}) {
    std::string action = op;
    r.add("POST", "/v1/stacks/:grid/:stack/" + action, {true, "stack", action}, [&s, action](ApiCall& call) {
      call.audit.resource_name = call.param("stack");
      Fields f(call.body);
      f.reject_unknown();
      auto access = visible_grid(s, call, call.param("grid"));
      auto stack = stack_or_404(s.store, access.grid, call.param("stack"));
      call.audit.resource_id = access.grid.name + "/" + stack.name;
      auto& ctl = control(s);
      for (const auto& svc : s.store.services_of_grid(access.grid.id, stack.id)) {
        if (action == "stop") ctl.stop_service(svc);
        else ctl.restart_service(svc);
      }
      return ApiResult{200, stack_view(s.store, access.grid, stack_or_404(s.store, access.grid, stack.name))};
    });
  }

  r.add("GET", "/v1/stacks/:grid/:stack/container_logs", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    auto stack = stack_or_404(s.store, access.grid, call.param("stack"));
    auto filter = log_filter(call, access.grid.id);
    filter.stack = stack.name;
    return ApiResult{200, container_logs_view(s.store, filter)};
  });

  r.add("GET", "/v1/stacks/:grid/:stack/event_logs", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    auto stack = stack_or_404(s.store, access.grid, call.param("stack"));
    auto filter = log_filter(call, access.grid.id);
    filter.stack = stack.name;
    return ApiResult{200, event_logs_view(s.store, filter)};
  });
}

}  // namespace kontena::master
