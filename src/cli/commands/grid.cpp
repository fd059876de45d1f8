// kontena grid ...: create, list, show, use, current, update, remove, env, user, trusted-subnet,
// audit-log, health.
#include "cli/commands/audit_log.h"
#include "cli/commands/common.h"
#include "cli/commands/health.h"
#include "cli/output.h"
#include "cli/requests.h"
#include "cli/url.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

// Selecting a grid is stored per master in the client config.
void select_grid(Context& ctx, const std::string& grid) {
  const EffectiveServer& server = ctx.require_server();
  ServerEntry* entry = ctx.config().find_server(server.name);
  if (entry == nullptr)
    throw Error(ErrorKind::invalid, "the master comes from KONTENA_URL and is not in the client config: set "
                                    "KONTENA_GRID=" + grid + " instead");
  entry->grid = grid;
  ctx.save_config();
}

void print_grid(Context& ctx, const json& grid) {
  auto& out = ctx.out();
  out << field_text(grid, "name") << ":\n";
  out << "  uri: " << websocket_url(ctx.require_server().url) << "\n";
  out << "  token: " << field_text(grid, "token") << "\n";
  out << "  initial size: " << field_text(grid, "initial_size") << "\n";
  out << "  subnet: " << field_text(grid, "subnet") << "\n";
  out << "  supernet: " << field_text(grid, "supernet") << "\n";
  auto print_list = [&](const char* title, const std::vector<std::string>& items) {
    out << "  " << title << ":" << (items.empty() ? " -" : "") << "\n";
    for (const auto& item : items) out << "    - " << item << "\n";
  };
  print_list("default affinity", string_list(grid, "default_affinity"));
  print_list("trusted subnets", string_list(grid, "trusted_subnets"));
  const json stats = grid.value("stats", json::object());
  if (stats.is_object() && stats.contains("statsd") && stats["statsd"].is_object())
    out << "  stats:\n    statsd: " << field_text(stats["statsd"], "server") << ":" << field_text(stats["statsd"], "port")
        << "\n";
  else
    out << "  stats: -\n";
  const json logs = grid.value("logs", json::object());
  if (logs.is_object() && logs.contains("forwarder")) {
    out << "  logs:\n    forwarder: " << field_text(logs, "forwarder") << "\n";
    if (logs.contains("opts") && logs["opts"].is_object())
      for (auto it = logs["opts"].begin(); it != logs["opts"].end(); ++it)
        out << "    " << it.key() << ": " << (it->is_string() ? it->get<std::string>() : it->dump()) << "\n";
  } else {
    out << "  logs: -\n";
  }
  out << "  nodes: " << field_text(grid, "node_count") << "\n";
  out << "  users: " << field_text(grid, "user_count") << "\n";
}

void add_create(CLI::App& grid, Context& ctx) {
  auto options = std::make_shared<GridCreateOptions>();
  CLI::App* create = grid.add_subcommand("create", "Create a grid and select it");
  create->add_option("NAME", options->name, "Grid name")->required();
  create->add_option("--initial-size", options->initial_size, "Number of initial (etcd) nodes, 1..7")
      ->capture_default_str()
      ->check(CLI::Range(1, 7));
  create->add_option("--token", options->token, "Grid token for agents (default: random)");
  create->add_option("--subnet", options->subnet, "Overlay subnet (default 10.81.0.0/16)");
  create->add_option("--supernet", options->supernet, "Supernet (default 10.80.0.0/12)");
  create->add_option("--default-affinity", options->default_affinity, "Default affinity rule, e.g. label==ssd (repeatable)");
  create->add_option("--trusted-subnet", options->trusted_subnets, "Trusted subnet (repeatable)");
  create->add_option("--statsd-server", options->statsd_server, "Statsd server HOST:PORT for stats forwarding");
  create->add_option("--log-forwarder", options->log_forwarder, "Log forwarder")->check(CLI::IsMember({"fluentd", "none"}));
  create->add_option("--log-opt", options->log_opts, "Log forwarder option KEY=VALUE (repeatable)");
  create->callback([&ctx, options] {
    const json body = grid_create_body(*options);
    with_progress(ctx, "creating grid " + options->name, [&] { ctx.api().post("/v1/grids", body); });
    select_grid(ctx, options->name);
    ctx.out() << "Using grid " << options->name << "\n";
  });
}

void add_list(CLI::App& grid, Context& ctx) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* list = grid.add_subcommand("list", "List the grids you belong to (all for master_admin)")->alias("ls");
  add_list_flags(list, *flags);
  list->callback([&ctx, flags] {
    const json answer = ctx.api().get("/v1/grids");
    if (flags->json) return print_json(ctx.out(), answer);
    const std::string current = ctx.require_server().grid;
    Table table({"NAME", "NODES", "USERS", "INITIAL"});
    for (const auto& item : answer.value("grids", json::array())) {
      const std::string name = field_text(item, "name");
      if (flags->quiet) ctx.out() << name << "\n";
      else
        table.add_row({name + (name == current ? " *" : ""), field_text(item, "node_count"),
                       field_text(item, "user_count"), field_text(item, "initial_size")});
    }
    if (!flags->quiet) table.print(ctx.out());
  });
}

void add_show(CLI::App& grid, Context& ctx) {
  struct Options {
    std::string name;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* show = grid.add_subcommand("show", "Show a grid (default: the current grid)");
  show->add_option("NAME", options->name, "Grid name");
  add_json_flag(show, options->json);
  show->callback([&ctx, options] {
    const std::string name = options->name.empty() ? ctx.require_grid() : options->name;
    const json answer = ctx.api().get(grid_path(name));
    if (options->json) return print_json(ctx.out(), answer);
    print_grid(ctx, answer);
  });
}

void print_grid_health(Context& ctx, const json& health) {
  auto& out = ctx.out();
  out << "grid " << field_text(health, "grid") << ": " << field_text(health, "initial_size")
      << " initial nodes run its etcd\n";
  Table table({"NAME", "NUMBER", "INITIAL", "CONNECTED", "ETCD MEMBER"});
  for (const auto& node : health.value("nodes", json::array())) {
    const json etcd = node.value("etcd", json::object());
    std::string member = "-";
    if (etcd.is_object() && etcd.contains("member")) member = etcd_member_text(etcd["member"]);
    else if (etcd.is_object() && etcd.contains("error") && node.value("connected", false))
      member = field_text(etcd, "error");
    table.add_row({field_text(node, "name"), field_text(node, "node_number"), yes_no(node, "initial_member"),
                   yes_no(node, "connected"), member});
  }
  table.print(out);
  const json etcd = health.value("etcd", json::object());
  out << etcd_majority_line(etcd.value("healthy", json()), etcd.value("members", json()), etcd.value("majority", json()))
      << "\n";
  const json problems = health.value("problems", json::array());
  if (health.value("healthy", false)) {
    out << "grid " << field_text(health, "grid") << " is healthy\n";
    return;
  }
  out << "grid " << field_text(health, "grid") << " is NOT healthy:\n";
  for (const auto& problem : problems) out << "  - " << (problem.is_string() ? problem.get<std::string>() : problem.dump()) << "\n";
}

void add_health(CLI::App& grid, Context& ctx) {
  struct Options {
    std::string name;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* health = grid.add_subcommand("health", "Check the grid's nodes and etcd (exit 1 when not healthy)");
  health->add_option("NAME", options->name, "Grid name (default: the current grid)");
  add_json_flag(health, options->json);
  health->callback([&ctx, options] {
    const std::string name = options->name.empty() ? ctx.require_grid() : options->name;
    const json answer = ctx.api().get(grid_path(name) + "/health");
    if (options->json) print_json(ctx.out(), answer);
    else print_grid_health(ctx, answer);
    if (!answer.value("healthy", false)) throw ExitStatus(1);
  });
}

void add_use(CLI::App& grid, Context& ctx) {
  auto name = std::make_shared<std::string>();
  CLI::App* use = grid.add_subcommand("use", "Select the grid that commands work on");
  use->add_option("NAME", *name, "Grid name")->required();
  use->callback([&ctx, name] {
    ctx.api().get(grid_path(*name));  // the master says when it does not exist or is not yours
    select_grid(ctx, *name);
    ctx.out() << "Using grid " << *name << "\n";
  });
}

void add_current(CLI::App& grid, Context& ctx) {
  struct Options {
    bool name = false;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* current = grid.add_subcommand("current", "Show the current grid");
  current->add_flag("--name", options->name, "Print only the name");
  add_json_flag(current, options->json);
  current->callback([&ctx, options] {
    const std::string name = ctx.require_grid();
    if (options->name) {
      ctx.out() << name << "\n";
      return;
    }
    const json answer = ctx.api().get(grid_path(name));
    if (options->json) return print_json(ctx.out(), answer);
    print_grid(ctx, answer);
  });
}

void add_update(CLI::App& grid, Context& ctx) {
  struct Options {
    std::string name;
    GridUpdateOptions update;
  };
  auto options = std::make_shared<Options>();
  auto& update_options = options->update;
  CLI::App* update = grid.add_subcommand("update", "Change a grid's default affinity, stats or log forwarding");
  update->add_option("NAME", options->name, "Grid name")->required();
  auto* affinity = update->add_option("--default-affinity", update_options.default_affinity,
                                      "Default affinity rule (repeatable; replaces the list)");
  update->add_flag("--no-default-affinity", update_options.no_default_affinity, "Clear the default affinity")
      ->excludes(affinity);
  auto* statsd = update->add_option("--statsd-server", update_options.statsd_server, "Statsd server HOST:PORT");
  update->add_flag("--no-statsd-server", update_options.no_statsd_server, "Stop stats forwarding")->excludes(statsd);
  auto* forwarder = update->add_option("--log-forwarder", update_options.log_forwarder, "Log forwarder")
                        ->check(CLI::IsMember({"fluentd", "none"}));
  auto* log_opt = update->add_option("--log-opt", update_options.log_opts, "Log forwarder option KEY=VALUE (repeatable)");
  update->add_flag("--no-log-forwarder", update_options.no_log_forwarder, "Stop log forwarding")
      ->excludes(forwarder)
      ->excludes(log_opt);
  update->callback([&ctx, options] {
    const std::string path = grid_path(options->name);
    json current = json::object();
    // Only --log-opt alone needs the grid's current forwarder.
    if (!options->update.log_opts.empty() && options->update.log_forwarder.empty()) current = ctx.api().get(path);
    const json body = grid_update_body(options->update, current);
    with_progress(ctx, "updating grid " + options->name, [&] { ctx.api().put(path, body); });
  });
}

void add_remove(CLI::App& grid, Context& ctx) {
  struct Options {
    std::vector<std::string> names;
    bool force = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* remove = grid.add_subcommand("remove", "Remove grids (they must have no nodes)")->alias("rm");
  remove->add_option("NAME", options->names, "Grid names")->required();
  remove->add_flag("--force", options->force, "Do not ask for confirmation");
  remove->callback([&ctx, options] {
    for (const auto& name : options->names) {
      ctx.confirm("remove grid " + name, options->force);
      with_progress(ctx, "removing grid " + name, [&] { ctx.api().del(grid_path(name)); });
      const EffectiveServer& server = ctx.require_server();
      ServerEntry* entry = ctx.config().find_server(server.name);
      if (entry != nullptr && entry->grid == name) {
        entry->grid.clear();
        ctx.save_config();
      }
    }
  });
}

void add_env(CLI::App& grid, Context& ctx) {
  struct Options {
    std::string name;
    bool export_prefix = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* env = grid.add_subcommand("env", "Print KONTENA_URI and KONTENA_TOKEN for agents joining the grid");
  env->add_option("NAME", options->name, "Grid name (default: the current grid)");
  env->add_flag("-e,--export", options->export_prefix, "Prefix the lines with 'export ' for eval in a shell");
  env->callback([&ctx, options] {
    const std::string name = options->name.empty() ? ctx.require_grid() : options->name;
    const json answer = ctx.api().get(grid_path(name));
    const std::string prefix = options->export_prefix ? "export " : "";
    ctx.out() << prefix << "KONTENA_URI=" << websocket_url(ctx.require_server().url) << "\n";
    ctx.out() << prefix << "KONTENA_TOKEN=" << field_text(answer, "token", "") << "\n";
  });
}

void add_users(CLI::App& grid, Context& ctx) {
  CLI::App* user = add_group(grid, ctx, "user", "Users of a grid: list, add, remove");

  auto flags = std::make_shared<ListFlags>();
  CLI::App* list = user->add_subcommand("list", "List the grid's users")->alias("ls");
  add_list_flags(list, *flags);
  add_grid_option(list, ctx);
  list->callback([&ctx, flags] {
    const json answer = ctx.api().get(grid_path(ctx.require_grid()) + "/users");
    if (flags->json) return print_json(ctx.out(), answer);
    Table table({"EMAIL", "ROLES"});
    for (const auto& item : answer.value("users", json::array())) {
      if (flags->quiet) ctx.out() << field_text(item, "email") << "\n";
      else table.add_row({field_text(item, "email"), role_names(item)});
    }
    if (!flags->quiet) table.print(ctx.out());
  });

  auto add_emails = std::make_shared<std::vector<std::string>>();
  CLI::App* add = user->add_subcommand("add", "Give users access to the grid");
  add->add_option("EMAIL", *add_emails, "Email addresses")->required();
  add_grid_option(add, ctx);
  add->callback([&ctx, add_emails] {
    const std::string grid = ctx.require_grid();
    for (const auto& email : *add_emails)
      with_progress(ctx, "adding " + email + " to grid " + grid,
                    [&] { ctx.api().post(grid_path(grid) + "/users", {{"email", email}}); });
  });

  auto remove_emails = std::make_shared<std::vector<std::string>>();
  CLI::App* remove = user->add_subcommand("remove", "Take users' access to the grid away")->alias("rm");
  remove->add_option("EMAIL", *remove_emails, "Email addresses")->required();
  add_grid_option(remove, ctx);
  remove->callback([&ctx, remove_emails] {
    const std::string grid = ctx.require_grid();
    for (const auto& email : *remove_emails)
      with_progress(ctx, "removing " + email + " from grid " + grid,
                    [&] { ctx.api().del(grid_path(grid) + "/users/" + encode_path_segment(email)); });
  });
}

void add_trusted_subnets(CLI::App& grid, Context& ctx) {
  CLI::App* trusted = add_group(grid, ctx, "trusted-subnet", "Subnets where the overlay is not encrypted: list, add, remove");

  CLI::App* list = trusted->add_subcommand("list", "List the grid's trusted subnets")->alias("ls");
  add_grid_option(list, ctx);
  list->callback([&ctx] {
    for (const auto& subnet : string_list(ctx.api().get(grid_path(ctx.require_grid())), "trusted_subnets"))
      ctx.out() << subnet << "\n";
  });

  // Read-modify-write: the master stores the list as one grid field.
  auto change = [&ctx](const std::vector<std::string>& subnets, bool add) {
    const std::string grid = ctx.require_grid();
    const std::string path = grid_path(grid);
    const auto current = string_list(ctx.api().get(path), "trusted_subnets");
    const auto updated =
        add ? list_with(current, subnets) : list_without(current, subnets, "trusted subnets of grid " + grid);
    ctx.api().put(path, {{"trusted_subnets", updated}});
  };
  auto add_subnets = std::make_shared<std::vector<std::string>>();
  CLI::App* add = trusted->add_subcommand("add", "Add trusted subnets (CIDR)");
  add->add_option("SUBNET", *add_subnets, "Subnets, e.g. 192.168.0.0/24")->required();
  add_grid_option(add, ctx);
  add->callback([change, add_subnets] { change(*add_subnets, true); });

  auto remove_subnets = std::make_shared<std::vector<std::string>>();
  CLI::App* remove = trusted->add_subcommand("remove", "Remove trusted subnets")->alias("rm");
  remove->add_option("SUBNET", *remove_subnets, "Subnets")->required();
  add_grid_option(remove, ctx);
  remove->callback([change, remove_subnets] { change(*remove_subnets, false); });
}

void add_audit_log(CLI::App& grid, Context& ctx) {
  struct Options {
    int limit = 0;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* audit = grid.add_subcommand("audit-log", "Show the grid's audit log, newest first");
  audit->add_option("-l,--limit", options->limit, "Number of entries (1..3000; the master's default is 500)")
      ->check(CLI::Range(1, 3000));
  add_json_flag(audit, options->json);
  add_grid_option(audit, ctx);
  audit->callback([&ctx, options] {
    std::string path = grid_path(ctx.require_grid()) + "/audit_log";
    if (options->limit > 0) path += "?limit=" + std::to_string(options->limit);
    const json answer = ctx.api().get(path);
    if (options->json) return print_json(ctx.out(), answer);
    print_audit_log(ctx.out(), answer);
  });
}

}  // namespace

void register_grid_commands(CLI::App& app, Context& ctx) {
  CLI::App* grid = add_group(app, ctx, "grid", "Grids: create, list, select, configure, remove");
  add_create(*grid, ctx);
  add_list(*grid, ctx);
  add_show(*grid, ctx);
  add_use(*grid, ctx);
  add_current(*grid, ctx);
  add_update(*grid, ctx);
  add_remove(*grid, ctx);
  add_env(*grid, ctx);
  add_users(*grid, ctx);
  add_trusted_subnets(*grid, ctx);
  add_audit_log(*grid, ctx);
  add_health(*grid, ctx);
}

}  // namespace kontena::cli
