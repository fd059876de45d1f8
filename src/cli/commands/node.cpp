// kontena node ...: create, list, show, update, remove, reset-token, env, label, health.
#include <cmath>
#include <cstdio>

#include "cli/commands/common.h"
#include "cli/commands/health.h"
#include "cli/output.h"
#include "cli/requests.h"
#include "cli/url.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

// "1 / 3" for initial members (node number / grid initial size), "-" for the others.
std::string initial_text(const json& node, const json& grid) {
  if (!node.value("initial_member", false)) return "-";
  return field_text(node, "node_number") + " / " + field_text(grid, "initial_size");
}

std::string labels_text(const json& node) {
  const auto labels = string_list(node, "labels");
  return labels.empty() ? "-" : join(labels, ",");
}

std::string memory_text(const json& node) {
  if (!node.contains("mem_total") || !node["mem_total"].is_number()) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f GiB", node["mem_total"].get<double>() / (1024.0 * 1024 * 1024));
  return buffer;
}

void print_node(Context& ctx, const json& node, const json& grid) {
  auto& out = ctx.out();
  out << field_text(node, "grid") << "/" << field_text(node, "name") << ":\n";
  out << "  id: " << field_text(node, "id") << "\n";
  out << "  node id: " << field_text(node, "node_id") << "\n";
  out << "  status: " << field_text(node, "status") << "\n";
  out << "  availability: " << field_text(node, "availability") << "\n";
  out << "  connected: " << yes_no(node, "connected") << "\n";
  out << "  initial node: " << initial_text(node, grid) << "\n";
  out << "  node number: " << field_text(node, "node_number") << "\n";
  out << "  has token: " << yes_no(node, "has_token") << "\n";
  out << "  agent version: " << field_text(node, "agent_version") << "\n";
  out << "  docker version: " << field_text(node, "docker_version") << "\n";
  out << "  public ip: " << field_text(node, "public_ip") << "\n";
  out << "  private ip: " << field_text(node, "private_ip") << "\n";
  out << "  cpus: " << field_text(node, "cpus") << "\n";
  out << "  memory: " << memory_text(node) << "\n";
  out << "  last seen: " << format_time(field_text(node, "last_seen_at")) << "\n";
  out << "  created: " << format_time(field_text(node, "created_at")) << "\n";
  const auto labels = string_list(node, "labels");
  out << "  labels:" << (labels.empty() ? " -" : "") << "\n";
  for (const auto& label : labels) out << "    - " << label << "\n";
}

void add_create(CLI::App& node, Context& ctx) {
  struct Options {
    std::string name;
    std::string token;
    std::vector<std::string> labels;
  };
  auto options = std::make_shared<Options>();
  CLI::App* create = node.add_subcommand("create", "Pre-create a node so its agent can join with a node token");
  create->add_option("NAME", options->name, "Node name")->required();
  create->add_option("--token", options->token, "Node token (default: random)");
  create->add_option("-l,--label", options->labels, "Label KEY=VALUE (repeatable)");
  add_grid_option(create, ctx);
  create->callback([&ctx, options] {
    const std::string grid = ctx.require_grid();
    const json body = node_create_body(options->name, options->token, options->labels);
    with_progress(ctx, "creating node " + options->name + " in grid " + grid,
                  [&] { ctx.api().post(grid_path(grid) + "/nodes", body); });
  });
}

void add_list(CLI::App& node, Context& ctx) {
  struct Options {
    ListFlags flags;
    bool all = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* list = node.add_subcommand("list", "List the grid's nodes")->alias("ls");
  add_list_flags(list, options->flags);
  list->add_flag("-a,--all", options->all, "List the nodes of all your grids");
  add_grid_option(list, ctx);
  list->callback([&ctx, options] {
    std::vector<json> grids;
    if (options->all) {
      for (const auto& grid : ctx.api().get("/v1/grids").value("grids", json::array())) grids.push_back(grid);
    } else {
      grids.push_back(ctx.api().get(grid_path(ctx.require_grid())));
    }
    json all_nodes = json::array();
    std::vector<std::string> headers = {"NAME", "VERSION", "STATUS", "INITIAL", "LABELS"};
    if (options->all) headers.insert(headers.begin(), "GRID");
    Table table(headers);
    for (const auto& grid : grids) {
      const std::string grid_name = field_text(grid, "name", "");
      for (const auto& item : ctx.api().get(grid_path(grid_name) + "/nodes").value("nodes", json::array())) {
        all_nodes.push_back(item);
        std::vector<std::string> row = {field_text(item, "name"), field_text(item, "agent_version"),
                                        field_text(item, "status"), initial_text(item, grid), labels_text(item)};
        if (options->all) row.insert(row.begin(), grid_name);
        if (options->flags.quiet && !options->flags.json) ctx.out() << (options->all ? grid_name + "/" : "") << field_text(item, "name") << "\n";
        else table.add_row(std::move(row));
      }
    }
    if (options->flags.json) return print_json(ctx.out(), {{"nodes", all_nodes}});
    if (!options->flags.quiet) table.print(ctx.out());
  });
}

void add_show(CLI::App& node, Context& ctx) {
  struct Options {
    std::string name;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* show = node.add_subcommand("show", "Show a node");
  show->add_option("NAME", options->name, "Node name or node id")->required();
  add_json_flag(show, options->json);
  add_grid_option(show, ctx);
  show->callback([&ctx, options] {
    const std::string grid = ctx.require_grid();
    const json answer = ctx.api().get(node_path(grid, options->name));
    if (options->json) return print_json(ctx.out(), answer);
    print_node(ctx, answer, ctx.api().get(grid_path(grid)));
  });
}

void add_update(CLI::App& node, Context& ctx) {
  struct Options {
    std::string name;
    NodeUpdateOptions update;
  };
  auto options = std::make_shared<Options>();
  CLI::App* update = node.add_subcommand("update", "Change a node's labels or availability");
  update->add_option("NAME", options->name, "Node name")->required();
  auto* labels = update->add_option("-l,--label", options->update.labels, "Label KEY=VALUE (repeatable; replaces the labels)");
  update->add_flag("--clear-labels", options->update.clear_labels, "Remove all labels")->excludes(labels);
  update->add_option("--availability", options->update.availability, "active, or drain to move services away")
      ->check(CLI::IsMember({"active", "drain"}));
  add_grid_option(update, ctx);
  update->callback([&ctx, options] {
    const std::string grid = ctx.require_grid();
    const json body = node_update_body(options->update);
    with_progress(ctx, "updating node " + options->name, [&] { ctx.api().put(node_path(grid, options->name), body); });
  });
}

void add_remove(CLI::App& node, Context& ctx) {
  struct Options {
    std::vector<std::string> names;
    bool force = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* remove = node.add_subcommand("remove", "Remove nodes from the grid")->alias("rm");
  remove->add_option("NAME", options->names, "Node names")->required();
  remove->add_flag("--force", options->force, "Do not ask for confirmation");
  add_grid_option(remove, ctx);
  remove->callback([&ctx, options] {
    const std::string grid = ctx.require_grid();
    for (const auto& name : options->names) {
      ctx.confirm("remove node " + name + " from grid " + grid, options->force);
      with_progress(ctx, "removing node " + name, [&] { ctx.api().del(node_path(grid, name)); });
    }
  });
}

void add_reset_token(CLI::App& node, Context& ctx) {
  struct Options {
    std::string name;
    std::string token;
    bool clear = false;
    bool reset_connection = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* reset = node.add_subcommand("reset-token", "Give a node a new node token (or remove it)");
  reset->add_option("NAME", options->name, "Node name")->required();
  auto* token = reset->add_option("--token", options->token, "The new token (default: random)");
  auto* reconnect = reset->add_flag("--reset-connection", options->reset_connection,
                                    "Disconnect the agent now (it must reconnect with the new token)");
  reset->add_flag("--clear-token", options->clear, "Remove the token: the agent must use the grid token")
      ->excludes(token)
      ->excludes(reconnect);
  add_grid_option(reset, ctx);
  reset->callback([&ctx, options] {
    const std::string path = node_path(ctx.require_grid(), options->name) + "/token";
    if (options->clear) {
      with_progress(ctx, "clearing the token of node " + options->name, [&] { ctx.api().del(path); });
      return;
    }
    json body = json::object();
    if (!options->token.empty()) body["token"] = options->token;
    if (options->reset_connection) body["reset_connection"] = true;
    with_progress(ctx, "resetting the token of node " + options->name, [&] { ctx.api().put(path, body); });
  });
}

void add_env(CLI::App& node, Context& ctx) {
  struct Options {
    std::string name;
    bool export_prefix = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* env = node.add_subcommand("env", "Print KONTENA_URI and KONTENA_NODE_TOKEN for the node's agent");
  env->add_option("NAME", options->name, "Node name")->required();
  env->add_flag("-e,--export", options->export_prefix, "Prefix the lines with 'export ' for eval in a shell");
  add_grid_option(env, ctx);
  env->callback([&ctx, options] {
    const json answer = ctx.api().get(node_path(ctx.require_grid(), options->name) + "/token");
    const std::string prefix = options->export_prefix ? "export " : "";
    ctx.out() << prefix << "KONTENA_URI=" << websocket_url(ctx.require_server().url) << "\n";
    ctx.out() << prefix << "KONTENA_NODE_TOKEN=" << field_text(answer, "token", "") << "\n";
  });
}

void add_labels(CLI::App& node, Context& ctx) {
  CLI::App* label = add_group(node, ctx, "label", "Node labels: list, add, remove");

  auto list_name = std::make_shared<std::string>();
  CLI::App* list = label->add_subcommand("list", "List a node's labels")->alias("ls");
  list->add_option("NAME", *list_name, "Node name")->required();
  add_grid_option(list, ctx);
  list->callback([&ctx, list_name] {
    for (const auto& item : string_list(ctx.api().get(node_path(ctx.require_grid(), *list_name)), "labels"))
      ctx.out() << item << "\n";
  });

  struct Options {
    std::string name;
    std::vector<std::string> labels;
  };
  // Read-modify-write: the master takes the whole label list in PUT.
  auto change = [&ctx](const Options& options, bool add) {
    const std::string path = node_path(ctx.require_grid(), options.name);
    const auto current = string_list(ctx.api().get(path), "labels");
    const auto updated =
        add ? list_with(current, options.labels) : list_without(current, options.labels, "labels of node " + options.name);
    ctx.api().put(path, {{"labels", updated}});
  };
  auto add_options = std::make_shared<Options>();
  CLI::App* add = label->add_subcommand("add", "Add labels to a node");
  add->add_option("NAME", add_options->name, "Node name")->required();
  add->add_option("LABEL", add_options->labels, "Labels KEY=VALUE")->required();
  add_grid_option(add, ctx);
  add->callback([change, add_options] { change(*add_options, true); });

  auto remove_options = std::make_shared<Options>();
  CLI::App* remove = label->add_subcommand("remove", "Remove labels from a node")->alias("rm");
  remove->add_option("NAME", remove_options->name, "Node name")->required();
  remove->add_option("LABEL", remove_options->labels, "Labels KEY=VALUE")->required();
  add_grid_option(remove, ctx);
  remove->callback([change, remove_options] { change(*remove_options, false); });
}

void add_health(CLI::App& node, Context& ctx) {
  struct Options {
    std::string name;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* health = node.add_subcommand("health", "Show a node's view of the grid's etcd (exit 1 when it is not healthy)");
  health->add_option("NAME", options->name, "Node name or node id")->required();
  add_json_flag(health, options->json);
  add_grid_option(health, ctx);
  health->callback([&ctx, options] {
    const std::string grid = ctx.require_grid();
    const json report = ctx.api().get(node_path(grid, options->name) + "/health");
    const json member = report.value("member", json());
    const bool member_ok = !member.is_object() || (member.value("state", std::string("running")) == "running" &&
                                                   field_text(member, "error", "").empty());
    const bool healthy = report.value("majority", false) && member_ok && !report.contains("error");
    if (options->json) {
      print_json(ctx.out(), report);
    } else {
      auto& out = ctx.out();
      out << field_text(report, "node") << ": connected, node number " << field_text(report, "node_number")
          << (report.value("initial_member", false) ? ", initial member" : "") << "\n";
      out << "  etcd member: " << etcd_member_text(member) << "\n";
      if (report.contains("error") && report["error"].is_string())
        out << "  error: " << report["error"].get<std::string>() << "\n";
      out << "  endpoints:\n";
      print_etcd_endpoints(out, report);
      out << etcd_majority_line(report.value("healthy", json()), report.value("total", json()), report.value("majority", json()))
          << "\n";
    }
    if (!healthy) throw ExitStatus(1);
  });
}

}  // namespace

void register_node_commands(CLI::App& app, Context& ctx) {
  CLI::App* node = add_group(app, ctx, "node", "Nodes of the current grid: create, list, show, update, remove");
  add_create(*node, ctx);
  add_list(*node, ctx);
  add_show(*node, ctx);
  add_update(*node, ctx);
  add_remove(*node, ctx);
  add_reset_token(*node, ctx);
  add_env(*node, ctx);
  add_labels(*node, ctx);
  add_health(*node, ctx);
}

}  // namespace kontena::cli
