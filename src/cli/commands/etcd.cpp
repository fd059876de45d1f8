// kontena etcd ...: get, set, list, remove, health. The master reaches the grid's etcd through a
// connected node (docs/api/etcd-network.md).
#include <map>

#include "cli/commands/common.h"
#include "cli/commands/health.h"
#include "cli/output.h"
#include "cli/url.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

// /v1/etcd/<grid><key>, each key segment percent-encoded, the slashes kept ("/a/" stays a
// different key than "/a").
std::string etcd_path(const std::string& grid, const std::string& key) {
  if (key.empty() || key.front() != '/')
    throw Error(ErrorKind::invalid, "KEY must start with \"/\" (e.g. /kontena/ipam/pools); got \"" + key + "\"");
  std::string path = "/v1/etcd/" + encode_path_segment(grid);
  std::size_t start = 1;
  while (true) {
    path += "/";
    auto slash = key.find('/', start);
    path += encode_path_segment(key.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return path;
}

std::string text_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void add_get(CLI::App& etcd, Context& ctx) {
  auto key = std::make_shared<std::string>();
  CLI::App* get = etcd.add_subcommand("get", "Print the value of a key");
  get->add_option("KEY", *key, "The key, starting with /")->required();
  add_grid_option(get, ctx);
  get->callback([&ctx, key] {
    const std::string path = etcd_path(ctx.require_grid(), *key);
    const json answer = ctx.api().get(path);
    ctx.out() << text_of(answer, "value") << "\n";
  });
}

void add_set(CLI::App& etcd, Context& ctx) {
  struct Options {
    std::string key;
    std::string value;
  };
  auto options = std::make_shared<Options>();
  CLI::App* set = etcd.add_subcommand("set", "Set the value of a key (created when missing)");
  set->add_option("KEY", options->key, "The key, starting with /")->required();
  set->add_option("VALUE", options->value, "The value (text)")->required();
  add_grid_option(set, ctx);
  set->callback([&ctx, options] {
    const std::string path = etcd_path(ctx.require_grid(), options->key);
    ctx.api().post(path, {{"value", options->value}});
  });
}

void add_list(CLI::App& etcd, Context& ctx) {
  struct Options {
    std::string key = "/";
    bool json = false;
    bool values = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* list = etcd.add_subcommand("list", "List the keys under KEY (default /), recursively")->alias("ls");
  list->add_option("KEY", options->key, "The prefix, starting with /")->capture_default_str();
  list->add_flag("--values", options->values, "Print KEY=VALUE lines");
  add_json_flag(list, options->json);
  add_grid_option(list, ctx);
  list->callback([&ctx, options] {
    const std::string path = etcd_path(ctx.require_grid(), options->key) + "?recursive=true";
    const json answer = ctx.api().get(path);
    if (options->json) return print_json(ctx.out(), answer);
    for (const auto& child : answer.value("children", json::array())) {
      ctx.out() << text_of(child, "key");
      if (options->values) ctx.out() << "=" << text_of(child, "value");
      ctx.out() << "\n";
    }
    if (answer.value("truncated", false))
      ctx.err() << "warning: the list was cut short: list a narrower prefix to see the rest\n";
  });
}

void add_remove(CLI::App& etcd, Context& ctx) {
  struct Options {
    std::string key;
    bool recursive = false;
    bool force = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* remove = etcd.add_subcommand("remove", "Remove a key (or, with --recursive, every key under it)")->alias("rm");
  remove->add_option("KEY", options->key, "The key, starting with /")->required();
  remove->add_flag("-r,--recursive", options->recursive, "Also remove every key under KEY/");
  remove->add_flag("--force", options->force, "Do not ask before a recursive remove");
  add_grid_option(remove, ctx);
  remove->callback([&ctx, options] {
    const std::string grid = ctx.require_grid();
    const std::string path = etcd_path(grid, options->key);
    if (options->recursive) ctx.confirm("remove " + options->key + " and every key under it in grid " + grid, options->force);
    const json answer = ctx.api().request("DELETE", path, json{{"recursive", options->recursive}});
    if (options->recursive) ctx.out() << "removed " << field_text(answer, "deleted", "0") << " keys\n";
  });
}

void add_health(CLI::App& etcd, Context& ctx) {
  auto json_output = std::make_shared<bool>(false);
  CLI::App* health = etcd.add_subcommand("health", "Show the health of the grid's etcd members (exit 1 when the majority is lost)");
  add_json_flag(health, *json_output);
  add_grid_option(health, ctx);
  health->callback([&ctx, json_output] {
    const std::string grid = ctx.require_grid();
    // The grid health says which nodes are connected; a connected initial member then reports
    // every endpoint it can reach.
    const json grid_health = ctx.api().get(grid_path(grid) + "/health");
    std::string via;
    for (const auto& node : grid_health.value("nodes", json::array())) {
      if (!node.value("connected", false)) continue;
      if (via.empty() || node.value("initial_member", false)) via = text_of(node, "name");
      if (node.value("initial_member", false)) break;
    }
    if (via.empty())
      throw Error(ErrorKind::unavailable, "no node of grid " + grid +
                                              " is connected: etcd is reached through the grid's nodes (kontena node ls)");
    const json report = ctx.api().get(node_path(grid, via) + "/health");
    const bool majority = report.value("majority", false);
    if (*json_output) {
      print_json(ctx.out(), report);
    } else {
      ctx.out() << "etcd of grid " << grid << " (as node " << via << " sees it):\n";
      if (report.contains("error") && report["error"].is_string())
        ctx.out() << "  error: " << report["error"].get<std::string>() << "\n";
      print_etcd_endpoints(ctx.out(), report);
      ctx.out() << etcd_majority_line(report.value("healthy", json()), report.value("total", json()), report.value("majority", json()))
                << "\n";
    }
    if (!majority) throw ExitStatus(1);
  });
}

}  // namespace

std::string etcd_majority_line(const json& healthy, const json& total, const json& majority) {
  if (!healthy.is_number_integer() || !total.is_number_integer())
    return "etcd: health unknown (no node could report it; see kontena grid health)";
  std::string counts = "etcd: " + std::to_string(healthy.get<int>()) + " of " + std::to_string(total.get<int>()) +
                       " members healthy";
  if (majority.is_boolean() && majority.get<bool>()) return counts + ", majority kept";
  return counts + ": MAJORITY LOST — the grid cannot change its network state (deploys get no overlay addresses) "
                  "until a majority of the grid's initial nodes is back online";
}

void print_etcd_endpoints(std::ostream& out, const json& report) {
  std::map<std::string, std::string> names;  // member id -> name
  for (const auto& member : report.value("members", json::array())) names[text_of(member, "id")] = text_of(member, "name");
  auto endpoints = report.value("endpoints", json::array());
  if (endpoints.empty()) out << "  no etcd endpoint known\n";
  for (const auto& endpoint : endpoints) {
    const std::string id = text_of(endpoint, "member_id");
    const std::string name = names.count(id) && !names[id].empty() ? names[id] + " " : "";
    out << "  " << name << text_of(endpoint, "endpoint") << ": ";
    if (endpoint.value("healthy", false)) {
      out << "healthy";
      if (!id.empty() && id == text_of(endpoint, "leader")) out << " (leader)";
      const std::string version = text_of(endpoint, "version");
      if (!version.empty()) out << ", etcd " << version;
    } else {
      const std::string why = text_of(endpoint, "error");
      out << "unhealthy" << (why.empty() ? "" : ": " + why);
    }
    out << "\n";
  }
  if (report.contains("members_error") && report["members_error"].is_string())
    out << "  members: " << report["members_error"].get<std::string>() << "\n";
}

std::string etcd_member_text(const json& member) {
  if (!member.is_object()) return "-";
  std::string state = text_of(member, "state");
  std::string text = state.empty() ? "unknown" : state;
  std::string details;
  if (member.contains("pid") && member["pid"].is_number_integer() && member["pid"].get<std::int64_t>() > 0)
    details = "pid " + std::to_string(member["pid"].get<std::int64_t>());
  if (member.contains("restarts") && member["restarts"].is_number_integer())
    details += (details.empty() ? "" : ", ") + std::to_string(member["restarts"].get<std::int64_t>()) + " restarts";
  if (!details.empty()) text += " (" + details + ")";
  const std::string error = text_of(member, "error");
  if (!error.empty()) text += ": " + error;
  return text;
}

void register_etcd_commands(CLI::App& app, Context& ctx) {
  CLI::App* etcd = add_group(app, ctx, "etcd", "The grid's etcd (reached through its nodes): get, set, list, remove, health");
  add_get(*etcd, ctx);
  add_set(*etcd, ctx);
  add_list(*etcd, ctx);
  add_remove(*etcd, ctx);
  add_health(*etcd, ctx);
  // Set after the subcommands exist so that only `kontena etcd --help` shows it.
  etcd->footer(
      "etcd v3 has no directories: `etcd mkdir` of the original is not implemented (a key's prefix is its\n"
      "\"directory\": `etcd list /kontena/ipam` lists every key under /kontena/ipam/). Writes need the\n"
      "master_admin role or grid_admin in the grid.");
}

}  // namespace kontena::cli
