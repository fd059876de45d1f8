// Lookups shared by route handlers: load-or-404 and the membership/role checks (403).
#pragma once
#include <string>

#include "master/api/api.h"

namespace kontena::master {

struct GridAccess {
  Grid grid;
  bool member = false;
};

// The grid named `name` if the caller may see it: 404 when missing, 403 when not a member.
GridAccess visible_grid(ApiServices& services, const ApiCall& call, const std::string& name);
// The grid's node whose name or node_id (the agent's Docker engine ID) is ref: 404 when none.
Node node_or_404(Store& store, const Grid& grid, const std::string& ref);
User user_or_404(ApiServices& services, const std::string& email);
// Throws forbidden with message when !allowed.
void require(bool allowed, const std::string& message);
// Reads ?limit=N within 1..max (default when absent); 422 otherwise.
int limit_param(const ApiCall& call, int default_limit, int max_limit);

}  // namespace kontena::master
