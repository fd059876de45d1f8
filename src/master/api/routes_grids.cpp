// /v1/grids: create, list, show, update, remove; membership; the grid's audit log.
#include "common/crypto.h"
#include "common/error.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/validation.h"
#include "master/api/views.h"

namespace kontena::master {

namespace {

Json grid_view(Store& store, const Grid& grid) {
  return grid_json(grid, store.nodes_of_grid(grid.id).size(), store.grid_users(grid.id).size());
}

std::vector<std::string> affinities(Fields& f) {
  auto list = f.string_array("default_affinity", 64, 256).value_or(std::vector<std::string>{});
  for (const auto& a : list) validate_affinity("default_affinity", a);
  return list;
}

std::vector<std::string> trusted_subnets(Fields& f) {
  auto list = f.string_array("trusted_subnets", 64, 64).value_or(std::vector<std::string>{});
  for (auto& s : list) s = validate_cidr("trusted_subnets", s).to_string();
  return list;
}

Json users_view(Store& store, const Grid& grid) {
  Json list = Json::array();
  for (const auto& u : store.grid_users(grid.id)) list.push_back(user_json(u));
  return {{"users", list}};
}

}  // namespace

void add_grid_routes(Router& r, ApiServices& s) {
  r.add("GET", "/v1/grids", {}, [&s](ApiCall& call) {
    auto grids = is_master_admin(call.user()) ? s.store.grids() : s.store.grids_of_user(call.user().id);
    Json list = Json::array();
    for (const auto& g : grids) list.push_back(grid_view(s.store, g));
    return ApiResult{200, {{"grids", list}}};
  });

  r.add("POST", "/v1/grids", {true, "grid", "create"}, [&s](ApiCall& call) {
    Fields f(call.body);
    Grid grid;
    grid.name = *f.string("name", true, 256);
    call.audit.resource_name = grid.name;
    call.audit.grid = grid.name;
    validate_grid_name(grid.name);
    auto initial_size = f.integer("initial_size").value_or(1);
    if (initial_size < 1 || initial_size > 7)
      invalid("initial_size", "initial_size must be between 1 and 7 (an odd number such as 3 survives a node loss)");
    grid.initial_size = static_cast<int>(initial_size);
    if (auto token = f.string("token", false, 256)) {
      validate_token_value("token", *token);
      grid.token = *token;
    } else {
      grid.token = crypto::random_base64(64);
    }
    auto supernet = validate_cidr("supernet", f.string("supernet").value_or(grid.supernet));
    auto subnet = validate_cidr("subnet", f.string("subnet").value_or(grid.subnet));
    if (subnet.prefix < 8 || subnet.prefix > 24)
      invalid("subnet", "subnet " + subnet.to_string() + " must be between a /8 and a /24 (e.g. 10.81.0.0/16)");
    if (!cidr_contains(supernet, subnet))
      invalid("subnet", "subnet " + subnet.to_string() + " is not inside supernet " + supernet.to_string());
    grid.subnet = subnet.to_string();
    grid.supernet = supernet.to_string();
    grid.default_affinity = affinities(f);
    grid.trusted_subnets = trusted_subnets(f);
    if (auto stats = f.object("stats")) grid.stats = validate_stats(*stats);
    if (auto logs = f.object("logs")) grid.logs = validate_logs(*logs);
    f.reject_unknown();
    require(can_create_grid(call.user()), "creating grids needs the master_admin or grid_admin role");

    grid.created_at = grid.updated_at = s.clock.now_unix_ms();
    s.store.transaction([&] {
      if (s.store.grid_by_name(grid.name))
        fail(ErrorKind::conflict, "grid \"" + grid.name + "\" already exists: choose another name");
      if (s.store.grid_by_token(grid.token))
        fail(ErrorKind::conflict, "this token is already used by another grid: choose another token");
      grid = s.store.insert_grid(grid);
      s.store.add_grid_user(grid.id, call.user().id);
    });
    call.audit.resource_id = grid.name;
    return ApiResult{201, grid_view(s.store, grid)};
  });

  r.add("GET", "/v1/grids/:grid", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    return ApiResult{200, grid_view(s.store, access.grid)};
  });

  r.add("PUT", "/v1/grids/:grid", {true, "grid", "update"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.audit.resource_id = call.param("grid");
    auto access = visible_grid(s, call, call.param("grid"));
    auto& grid = access.grid;
    Fields f(call.body);
    for (const char* fixed : {"name", "initial_size", "subnet", "supernet", "token"})
      if (f.present(fixed))
        invalid(fixed, std::string(fixed) + " of a grid cannot be changed after it is created");
    std::optional<std::vector<std::string>> affinity, trusted;
    f.allow("default_affinity");
    f.allow("trusted_subnets");
    if (f.present("default_affinity")) affinity = affinities(f);
    if (f.present("trusted_subnets")) trusted = trusted_subnets(f);
    // null resets stats/logs; absent leaves them as they are.
    bool stats_given = call.body.contains("stats"), logs_given = call.body.contains("logs");
    auto stats = f.object("stats");
    auto logs = f.object("logs");
    f.reject_unknown();
    require(can_admin_grid(call.user(), access.member),
            "updating grid \"" + grid.name + "\" needs the master_admin role or grid_admin and membership");
    if (affinity) grid.default_affinity = *affinity;
    if (trusted) grid.trusted_subnets = *trusted;
    if (stats_given) grid.stats = stats ? validate_stats(*stats) : Json::object();
    if (logs_given) grid.logs = logs ? validate_logs(*logs) : Json::object();
    grid.updated_at = s.clock.now_unix_ms();
    s.store.update_grid(grid);
    return ApiResult{200, grid_view(s.store, grid)};
  });

  r.add("DELETE", "/v1/grids/:grid", {true, "grid", "delete"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.audit.resource_id = call.param("grid");
    auto access = visible_grid(s, call, call.param("grid"));
    require(can_admin_grid(call.user(), access.member),
            "removing grid \"" + access.grid.name + "\" needs the master_admin role or grid_admin and membership");
    s.store.transaction([&] {
      auto nodes = s.store.nodes_of_grid(access.grid.id);
      if (!nodes.empty())
        invalid("grid", "grid \"" + access.grid.name + "\" still has " + std::to_string(nodes.size()) +
                            " node(s): remove them first (kontena node rm)");
      s.store.delete_grid(access.grid.id);
    });
    return ApiResult{200, Json::object()};
  });

  r.add("GET", "/v1/grids/:grid/users", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    return ApiResult{200, users_view(s.store, access.grid)};
  });

  r.add("POST", "/v1/grids/:grid/users", {true, "grid", "assign user"}, [&s](ApiCall& call) {
    call.audit.resource_id = call.param("grid");
    Fields f(call.body);
    auto email = f.string("email", true, 254);
    f.reject_unknown();
    call.audit.resource_name = *email;
    auto access = visible_grid(s, call, call.param("grid"));
    require(can_manage_grid_users(call.user(), access.member),
            "adding users to a grid needs the master_admin or user_admin role, or grid_admin and membership");
    auto user = user_or_404(s, *email);
    s.store.add_grid_user(access.grid.id, user.id);
    return ApiResult{200, users_view(s.store, access.grid)};
  });

  r.add("DELETE", "/v1/grids/:grid/users/:email", {true, "grid", "unassign user"}, [&s](ApiCall& call) {
    call.audit.resource_id = call.param("grid");
    call.audit.resource_name = call.param("email");
    auto access = visible_grid(s, call, call.param("grid"));
    require(can_manage_grid_users(call.user(), access.member),
            "removing users from a grid needs the master_admin or user_admin role, or grid_admin and membership");
    auto user = user_or_404(s, call.param("email"));
    if (!s.store.is_grid_member(access.grid.id, user.id))
      fail(ErrorKind::not_found, "user \"" + user.email + "\" is not a member of grid \"" + access.grid.name + "\"");
    s.store.remove_grid_user(access.grid.id, user.id);
    return ApiResult{200, users_view(s.store, access.grid)};
  });

  r.add("GET", "/v1/grids/:grid/audit_log", {}, [&s](ApiCall& call) {
    auto access = visible_grid(s, call, call.param("grid"));
    require(can_admin_grid(call.user(), access.member), "a grid's audit log needs the master_admin or grid_admin role");
    int limit = limit_param(call, 500, 3000);
    Json logs = Json::array();
    for (const auto& e : s.store.audit_entries(access.grid.name, limit)) logs.push_back(audit_json(e));
    return ApiResult{200, {{"logs", logs}}};
  });
}

}  // namespace kontena::master
