#include "cli/commands/common.h"

#include "cli/output.h"
#include "cli/url.h"

namespace kontena::cli {

CLI::App* add_group(CLI::App& parent, Context& ctx, const std::string& name, const std::string& description) {
  CLI::App* group = parent.add_subcommand(name, description);
  group->require_subcommand(0, 1);
  group->callback([group, &ctx] {
    if (!group->get_subcommands().empty()) return;
    std::string path;  // "kontena master" for the usage line of "kontena master user"
    for (const CLI::App* p = group->get_parent(); p != nullptr; p = p->get_parent())
      path = p->get_name() + (path.empty() ? "" : " " + path);
    ctx.out() << group->help(path);
  });
  return group;
}

void add_grid_option(CLI::App* command, Context& ctx) {
  command->add_option("--grid", ctx.grid_option, "Grid to use (default: the current grid)");
}

void add_list_flags(CLI::App* command, ListFlags& flags) {
  add_json_flag(command, flags.json);
  command->add_flag("-q,--quiet", flags.quiet, "Print only the names, one per line");
}

void add_json_flag(CLI::App* command, bool& json) {
  command->add_flag("--json", json, "Print the master's JSON answer");
}

void with_progress(Context& ctx, const std::string& what, const std::function<void()>& action) {
  ctx.out() << what << " ... " << std::flush;
  try {
    action();
  } catch (...) {
    ctx.out() << "failed" << std::endl;
    throw;
  }
  ctx.out() << "done" << std::endl;
}

std::string grid_path(const std::string& grid) { return "/v1/grids/" + encode_path_segment(grid); }

std::string node_path(const std::string& grid, const std::string& node) {
  return "/v1/nodes/" + encode_path_segment(grid) + "/" + encode_path_segment(node);
}

std::string user_path(const std::string& email) { return "/v1/users/" + encode_path_segment(email); }

std::string yes_no(const nlohmann::json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_boolean()) return "-";
  return object[key].get<bool>() ? "yes" : "no";
}

std::string role_names(const nlohmann::json& user) {
  std::vector<std::string> names;
  if (user.is_object() && user.contains("roles") && user["roles"].is_array()) {
    for (const auto& role : user["roles"]) {
      if (role.is_object() && role.contains("name") && role["name"].is_string()) names.push_back(role["name"]);
      else if (role.is_string()) names.push_back(role.get<std::string>());
    }
  }
  return names.empty() ? "-" : join(names, ",");
}

}  // namespace kontena::cli
