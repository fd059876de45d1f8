#include "master/api/access.h"

#include <charconv>

#include "common/error.h"

namespace kontena::master {

GridAccess visible_grid(ApiServices& services, const ApiCall& call, const std::string& name) {
  auto grid = services.store.grid_by_name(name);
  if (!grid) fail(ErrorKind::not_found, "grid \"" + name + "\" does not exist (kontena grid ls lists yours)");
  bool member = services.store.is_grid_member(grid->id, call.user().id);
  require(can_see_grid(call.user(), member), "you are not a member of grid \"" + name +
                                                 "\": ask a grid or user admin to add you (kontena grid user add)");
  return GridAccess{std::move(*grid), member};
}

Node node_or_404(Store& store, const Grid& grid, const std::string& ref) {
  auto node = store.node_by_name(grid.id, ref);
  if (!node) node = store.node_by_node_id(grid.id, ref);
  if (!node) fail(ErrorKind::not_found, "node \"" + ref + "\" does not exist in grid \"" + grid.name + "\" (kontena node ls)");
  return std::move(*node);
}

User user_or_404(ApiServices& services, const std::string& email) {
  auto user = services.store.user_by_email(email);
  if (!user) fail(ErrorKind::not_found, "user \"" + email + "\" does not exist");
  return std::move(*user);
}

void require(bool allowed, const std::string& message) {
  if (!allowed) fail(ErrorKind::forbidden, message);
}

int limit_param(const ApiCall& call, int default_limit, int max_limit) {
  auto it = call.request.query.find("limit");
  if (it == call.request.query.end() || it->second.empty()) return default_limit;
  int value = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc{} || end != it->second.data() + it->second.size() || value < 1 || value > max_limit)
    invalid("limit", "limit must be an integer between 1 and " + std::to_string(max_limit));
  return value;
}

}  // namespace kontena::master
