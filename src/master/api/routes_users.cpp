// /v1/user, /v1/users: the current user, user administration and roles.
#include <algorithm>

#include "common/error.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/views.h"

namespace kontena::master {

namespace {
std::size_t count_master_admins(Store& store) {
  auto users = store.users();
  return static_cast<std::size_t>(std::count_if(users.begin(), users.end(), [](const User& u) { return is_master_admin(u); }));
}
}  // namespace

void add_user_routes(Router& r, ApiServices& s) {
  r.add("GET", "/v1/user", {}, [](ApiCall& call) { return ApiResult{200, user_json(call.user())}; });

  r.add("GET", "/v1/users", {}, [&s](ApiCall& call) {
    require(can_manage_users(call.user()), "listing users needs the master_admin or user_admin role");
    Json list = Json::array();
    for (const auto& u : s.store.users()) list.push_back(user_json(u));
    return ApiResult{200, {{"users", list}}};
  });

  r.add("DELETE", "/v1/users/:email", {true, "user", "delete"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("email");
    require(can_manage_users(call.user()), "removing users needs the master_admin or user_admin role");
    s.store.transaction([&] {
      auto user = user_or_404(s, call.param("email"));
      call.audit.resource_id = std::to_string(user.id);
      if (is_master_admin(user) && !is_master_admin(call.user()))
        fail(ErrorKind::forbidden, "only a master_admin can remove a master_admin");
      if (is_master_admin(user) && count_master_admins(s.store) <= 1)
        invalid("email", "\"" + user.email + "\" is the last master_admin: give another user that role first");
      s.store.delete_user(user.id);
    });
    return ApiResult{200, Json::object()};
  });

  r.add("POST", "/v1/users/:email/roles", {true, "user", "add role"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("email");
    Fields f(call.body);
    auto role = f.string("role", true);
    f.reject_unknown();
    if (!is_known_role(*role))
      invalid("role", "role \"" + *role + "\" does not exist: use master_admin, grid_admin or user_admin");
    require(can_grant_role(call.user(), *role), "you cannot grant the role " + *role);
    User user;
    s.store.transaction([&] {
      user = user_or_404(s, call.param("email"));
      if (!has_role(user, *role)) {
        user.roles.push_back(*role);
        std::sort(user.roles.begin(), user.roles.end());
        s.store.update_user(user);
      }
    });
    call.audit.resource_id = std::to_string(user.id);
    return ApiResult{200, user_json(user)};
  });

  r.add("DELETE", "/v1/users/:email/roles/:role", {true, "user", "remove role"}, [&s](ApiCall& call) {
    call.audit.resource_name = call.param("email");
    const auto& role = call.param("role");
    if (!is_known_role(role))
      invalid("role", "role \"" + role + "\" does not exist: use master_admin, grid_admin or user_admin");
    require(can_grant_role(call.user(), role), "you cannot revoke the role " + role);
    User user;
    s.store.transaction([&] {
      user = user_or_404(s, call.param("email"));
      if (!has_role(user, role)) return;
      if (role == kRoleMasterAdmin && count_master_admins(s.store) <= 1)
        invalid("role", "\"" + user.email + "\" is the last master_admin: give another user that role first");
      user.roles.erase(std::remove(user.roles.begin(), user.roles.end(), role), user.roles.end());
      s.store.update_user(user);
    });
    call.audit.resource_id = std::to_string(user.id);
    return ApiResult{200, user_json(user)};
  });
}

}  // namespace kontena::master
