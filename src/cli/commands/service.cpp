// kontena service ...: list, show, create, update, scale, deploy, start, stop, restart, remove,
// containers, env, logs, events, exec (docs/api/stacks-services.md). Service references are
// SERVICE (stack-less), STACK/SERVICE or GRID/STACK/SERVICE.
#include "cli/commands/common.h"
#include "cli/commands/service_spec.h"
#include "cli/commands/workload.h"
#include "cli/output.h"
#include "cli/requests.h"
#include "cli/url.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

std::ostream& progress_stream(Context& ctx, bool json_output) { return json_output ? ctx.err() : ctx.out(); }

ServiceRef resolve_ref(Context& ctx, const std::string& text) {
  // A grid in the reference wins over --grid / the current grid; parse first so that a bad
  // reference is reported before anything else.
  ServiceRef ref = parse_service_ref(text, "-");
  if (ref.grid == "-") ref.grid = ctx.require_grid();
  return ref;
}

std::string ports_text(const json& spec) {
  std::vector<std::string> ports;
  for (const auto& port : spec.value("ports", json::array())) {
    std::string text = field_text(port, "node_port") + ":" + field_text(port, "container_port");
    if (port.value("protocol", "tcp") != "tcp") text += "/" + port.value("protocol", "");
    const std::string ip = port.value("ip", "0.0.0.0");
    if (ip != "0.0.0.0") text = ip + ":" + text;
    ports.push_back(text);
  }
  return ports.empty() ? "-" : join(ports, ",");
}

std::string instances_text(const json& service) {
  const json counts = service.value("instance_counts", json::object());
  const std::string total = field_text(service, "instances", "0");
  if (!counts.is_object() || !counts.contains("running")) return total;
  return field_text(counts, "running") + " / " + total;
}

void add_list(CLI::App& service, Context& ctx) {
  struct Options {
    ListFlags flags;
    std::string stack;
  };
  auto options = std::make_shared<Options>();
  CLI::App* list = service.add_subcommand("list", "List the grid's services")->alias("ls");
  list->add_option("--stack", options->stack, "Only the services of this stack (null: the stack-less ones)");
  add_list_flags(list, options->flags);
  add_grid_option(list, ctx);
  list->callback([&ctx, options] {
    if (!options->stack.empty() && options->stack != kNullStack) check_name(options->stack, "stack");
    std::string path = grid_path(ctx.require_grid()) + "/services";
    if (!options->stack.empty()) path += "?stack=" + encode_path_segment(options->stack);
    const json answer = ctx.api().get(path);
    if (options->flags.json) return print_json(ctx.out(), answer);
    Table table({"NAME", "IMAGE", "INSTANCES", "STATEFUL", "STATE", "PORTS"});
    for (const auto& item : answer.value("services", json::array())) {
      const std::string name = service_display_name(item);
      if (options->flags.quiet) {
        ctx.out() << name << "\n";
        continue;
      }
      const json spec = item.value("spec", json::object());
      table.add_row({name, field_text(item, "image"), instances_text(item), yes_no(spec, "stateful"),
                     field_text(item, "state"), ports_text(spec)});
    }
    if (!options->flags.quiet) table.print(ctx.out());
  });
}

void print_service(Context& ctx, const json& service, const json& instances) {
  auto& out = ctx.out();
  const json spec = service.value("spec", json::object());
  out << field_text(service, "grid") << "/" << field_text(service, "stack") << "/" << field_text(service, "name") << ":\n";
  out << "  image: " << field_text(service, "image") << "\n";
  out << "  state: " << field_text(service, "state") << "\n";
  out << "  instances: " << instances_text(service) << "\n";
  out << "  strategy: " << field_text(service, "strategy") << "\n";
  out << "  stateful: " << yes_no(spec, "stateful") << "\n";
  out << "  revision: " << field_text(service, "revision") << "\n";
  out << "  deployed: " << format_time(field_text(service, "deployed_at")) << "\n";
  out << "  dns: " << field_text(service, "dns") << "\n";
  const json health = service.value("health_status", json());
  out << "  health: "
      << (health.is_object() ? field_text(health, "healthy") + " / " + field_text(health, "total") + " healthy" : "-")
      << "\n";
  out << "  ports: " << ports_text(spec) << "\n";
  auto print_list = [&](const char* title, const std::vector<std::string>& items) {
    out << "  " << title << ":" << (items.empty() ? " -" : "") << "\n";
    for (const auto& item : items) out << "    - " << item << "\n";
  };
  std::vector<std::string> command;
  for (const auto& word : spec.value("command", json::array()))
    if (word.is_string()) command.push_back(word.get<std::string>());
  out << "  command: " << (command.empty() ? "-" : join(command, " ")) << "\n";
  print_list("affinity", string_list(spec, "affinity"));
  print_list("env", string_list(spec, "environment"));
  std::vector<std::string> links;
  for (const auto& link : spec.value("links", json::array()))
    links.push_back(field_text(link, "name") + ":" + field_text(link, "alias"));
  print_list("links", links);
  out << "  instance states:" << (instances.empty() ? " -" : "") << "\n";
  for (const auto& instance : instances) {
    out << "    " << field_text(service, "name") << "-" << field_text(instance, "instance_number") << " on "
        << field_text(instance, "node") << ": " << field_text(instance, "state") << " (desired "
        << field_text(instance, "desired_state") << ", health " << field_text(instance, "health") << ")";
    if (instance.contains("error") && instance["error"].is_string()) out << ", error: " << field_text(instance, "error");
    out << "\n";
  }
}

void add_show(CLI::App& service, Context& ctx) {
  struct Options {
    std::string ref;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* show = service.add_subcommand("show", "Show a service and its instances");
  show->add_option("SERVICE", options->ref, "SERVICE or STACK/SERVICE")->required();
  add_json_flag(show, options->json);
  add_grid_option(show, ctx);
  show->callback([&ctx, options] {
    const ServiceRef ref = resolve_ref(ctx, options->ref);
    const json answer = ctx.api().get(service_path(ref));
    if (options->json) return print_json(ctx.out(), answer);
    print_service(ctx, answer, ctx.api().get(service_path(ref) + "/instances").value("instances", json::array()));
  });
}

void add_create(CLI::App& service, Context& ctx) {
  struct Options {
    std::string name;
    std::string image;
    ServiceSpecOptions spec;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* create = service.add_subcommand("create", "Create a stack-less service (deploy it with 'service deploy')");
  create->add_option("NAME", options->name, "Service name")->required();
  create->add_option("IMAGE", options->image, "Image, e.g. nginx:1.25 (:latest when no tag)")->required();
  add_service_spec_options(create, options->spec, true);
  add_json_flag(create, options->json);
  add_grid_option(create, ctx);
  create->callback([&ctx, options] {
    if (options->name.find('/') != std::string::npos)
      throw Error(ErrorKind::invalid,
                  "\"" + options->name + "\": 'service create' makes stack-less services; services of a stack come "
                                         "from its stack file ('kontena stack install/upgrade')",
                  "name");
    check_name(options->name, "service");
    if (options->image.empty()) throw Error(ErrorKind::invalid, "IMAGE is empty", "image");
    json body = service_spec_body(options->spec);
    body["name"] = options->name;
    body["image"] = options->image;
    const std::string grid = ctx.require_grid();
    json answer;
    with_progress(ctx, "creating service " + options->name,
                  [&] { answer = ctx.api().post(grid_path(grid) + "/services", body); });
    if (options->json) print_json(ctx.out(), answer);
  });
}

void add_update(CLI::App& service, Context& ctx) {
  struct Options {
    std::string ref;
    std::string image;
    ServiceSpecOptions spec;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* update = service.add_subcommand("update", "Change a service (deploy the change with 'service deploy')");
  update->add_option("SERVICE", options->ref, "SERVICE or STACK/SERVICE")->required();
  auto* image = update->add_option("--image", options->image, "New image");
  add_service_spec_options(update, options->spec, false);
  add_json_flag(update, options->json);
  add_grid_option(update, ctx);
  update->callback([&ctx, options, image] {
    const ServiceRef ref = resolve_ref(ctx, options->ref);
    const bool needs_current = options->spec.was_given("deploy_strategy") || options->spec.was_given("deploy_wait_for_port") ||
                               options->spec.was_given("deploy_min_health") || options->spec.was_given("deploy_interval") ||
                               options->spec.was_given("health_protocol") || options->spec.was_given("health_port") ||
                               options->spec.was_given("health_uri") || options->spec.was_given("health_timeout") ||
                               options->spec.was_given("health_interval") ||
                               options->spec.was_given("health_initial_delay");
    // Check the flags before asking the master anything.
    json body = service_spec_body(options->spec);
    if (needs_current) body = service_spec_body(options->spec, ctx.api().get(service_path(ref)).value("spec", json::object()));
    if (image->count() > 0) {
      if (options->image.empty()) throw Error(ErrorKind::invalid, "--image is empty", "image");
      body["image"] = options->image;
    }
    if (body.empty()) throw Error(ErrorKind::invalid, "nothing to update: give at least one option (see --help)");
    json answer;
    with_progress(ctx, "updating service " + ref.display(), [&] { answer = ctx.api().put(service_path(ref), body); });
    if (options->json) print_json(ctx.out(), answer);
  });
}

void follow_and_print(Context& ctx, const ServiceRef& ref, const json& deploy, bool json_output) {
  std::ostream& progress = progress_stream(ctx, json_output);
  const json done = follow_service_deploy(ctx, progress, ref, deploy);
  if (json_output) print_json(ctx.out(), done);
}

void add_scale(CLI::App& service, Context& ctx) {
  struct Options {
    std::string ref;
    std::string instances;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* scale = service.add_subcommand("scale", "Set a service's number of instances and follow the deploy");
  scale->add_option("SERVICE", options->ref, "SERVICE or STACK/SERVICE")->required();
  scale->add_option("INSTANCES", options->instances, "Number of instances, 0..100000")->required();
  add_json_flag(scale, options->json);
  add_grid_option(scale, ctx);
  scale->callback([&ctx, options] {
    const ServiceRef ref = resolve_ref(ctx, options->ref);
    const std::string& text = options->instances;
    const bool digits = !text.empty() && text.size() <= 6 &&
                        std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!digits || std::stoi(text) > 100000)
      throw Error(ErrorKind::invalid, "INSTANCES \"" + text + "\" must be a whole number 0..100000", "instances");
    const json deploy = ctx.api().post(service_path(ref) + "/scale", {{"instances", std::stoi(text)}});
    follow_and_print(ctx, ref, deploy, options->json);
  });
}

void add_deploy(CLI::App& service, Context& ctx) {
  struct Options {
    std::string ref;
    bool force = false;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* deploy = service.add_subcommand("deploy", "Deploy a service and follow the deploy");
  deploy->add_option("SERVICE", options->ref, "SERVICE or STACK/SERVICE")->required();
  deploy->add_flag("--force", options->force, "Recreate every instance even when nothing changed");
  add_json_flag(deploy, options->json);
  add_grid_option(deploy, ctx);
  deploy->callback([&ctx, options] {
    const ServiceRef ref = resolve_ref(ctx, options->ref);
    const json started = ctx.api().post(service_path(ref) + "/deploy", {{"force", options->force}});
    follow_and_print(ctx, ref, started, options->json);
  });
}

void add_state_actions(CLI::App& service, Context& ctx) {
  struct Action {
    const char* verb;
    const char* past;
    const char* description;
  };
  for (const Action& action : {Action{"start", "started", "Start services"}, Action{"stop", "stopped", "Stop services"},
                               Action{"restart", "restarted", "Restart services"}}) {
    auto refs = std::make_shared<std::vector<std::string>>();
    CLI::App* command = service.add_subcommand(action.verb, action.description);
    command->add_option("SERVICE", *refs, "SERVICE or STACK/SERVICE (several allowed)")->required();
    add_grid_option(command, ctx);
    const std::string verb = action.verb;
    const std::string past = action.past;
    command->callback([&ctx, refs, verb, past] {
      std::vector<ServiceRef> parsed;
      for (const auto& text : *refs) parsed.push_back(resolve_ref(ctx, text));
      for (const auto& ref : parsed) {
        ctx.api().post(service_path(ref) + "/" + verb, json::object());
        ctx.out() << past << " service " << ref.display() << "\n";
      }
    });
  }
}

void add_remove(CLI::App& service, Context& ctx) {
  struct Options {
    std::vector<std::string> refs;
    bool force = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* remove = service.add_subcommand("remove", "Remove services and their containers")->alias("rm");
  remove->add_option("SERVICE", options->refs, "SERVICE or STACK/SERVICE (several allowed)")->required();
  remove->add_flag("--force", options->force, "Do not ask for confirmation");
  add_grid_option(remove, ctx);
  remove->callback([&ctx, options] {
    std::vector<ServiceRef> parsed;
    for (const auto& text : options->refs) parsed.push_back(resolve_ref(ctx, text));
    for (const auto& ref : parsed) {
      ctx.confirm("remove service " + ref.display() + " from grid " + ref.grid, options->force);
      with_progress(ctx, "removing service " + ref.display(), [&] { ctx.api().del(service_path(ref)); });
    }
  });
}

void add_containers(CLI::App& service, Context& ctx) {
  struct Options {
    std::string ref;
    ListFlags flags;
  };
  auto options = std::make_shared<Options>();
  CLI::App* containers = service.add_subcommand("containers", "List a service's containers");
  containers->add_option("SERVICE", options->ref, "SERVICE or STACK/SERVICE")->required();
  add_list_flags(containers, options->flags);
  add_grid_option(containers, ctx);
  containers->callback([&ctx, options] {
    const ServiceRef ref = resolve_ref(ctx, options->ref);
    const json answer = ctx.api().get(service_path(ref) + "/containers");
    if (options->flags.json) return print_json(ctx.out(), answer);
    Table table({"NAME", "INSTANCE", "NODE", "STATE", "HEALTH", "ERROR"});
    for (const auto& item : answer.value("containers", json::array())) {
      if (options->flags.quiet) {
        ctx.out() << field_text(item, "name") << "\n";
        continue;
      }
      table.add_row({field_text(item, "name"), field_text(item, "instance_number"), field_text(item, "node"),
                     field_text(item, "state"), field_text(item, "health"), field_text(item, "error")});
    }
    if (!options->flags.quiet) table.print(ctx.out());
  });
}

void add_env(CLI::App& service, Context& ctx) {
  CLI::App* env = add_group(service, ctx, "env", "A service's environment variables: list, add, remove");

  auto list_ref = std::make_shared<std::string>();
  CLI::App* list = env->add_subcommand("list", "List a service's environment variables")->alias("ls");
  list->add_option("SERVICE", *list_ref, "SERVICE or STACK/SERVICE")->required();
  add_grid_option(list, ctx);
  list->callback([&ctx, list_ref] {
    const ServiceRef ref = resolve_ref(ctx, *list_ref);
    const json spec = ctx.api().get(service_path(ref)).value("spec", json::object());
    for (const auto& entry : string_list(spec, "environment")) ctx.out() << entry << "\n";
  });

  struct Options {
    std::string ref;
    std::vector<std::string> items;
  };
  auto add_options = std::make_shared<Options>();
  CLI::App* add = env->add_subcommand("add", "Set environment variables (deploy the change with 'service deploy')");
  add->add_option("SERVICE", add_options->ref, "SERVICE or STACK/SERVICE")->required();
  add->add_option("ENV", add_options->items, "KEY=VALUE (several allowed)")->required();
  add_grid_option(add, ctx);
  add->callback([&ctx, add_options] {
    const ServiceRef ref = resolve_ref(ctx, add_options->ref);
    for (const auto& item : add_options->items) parse_key_value(item, "ENV");
    for (const auto& item : add_options->items) ctx.api().post(service_path(ref) + "/envs", {{"env", item}});
  });

  auto remove_options = std::make_shared<Options>();
  CLI::App* remove = env->add_subcommand("remove", "Remove environment variables")->alias("rm");
  remove->add_option("SERVICE", remove_options->ref, "SERVICE or STACK/SERVICE")->required();
  remove->add_option("NAME", remove_options->items, "Variable names (several allowed)")->required();
  add_grid_option(remove, ctx);
  remove->callback([&ctx, remove_options] {
    const ServiceRef ref = resolve_ref(ctx, remove_options->ref);
    for (const auto& name : remove_options->items)
      if (name.empty() || name.find('=') != std::string::npos)
        throw Error(ErrorKind::invalid, "\"" + name + "\" is not a variable name (give NAME, not NAME=VALUE)", "name");
    for (const auto& name : remove_options->items)
      ctx.api().del(service_path(ref) + "/envs/" + encode_path_segment(name));
  });
}

void add_logs(CLI::App& service, Context& ctx) {
  for (const bool events : {false, true}) {
    struct Options {
      std::string ref;
      LogOptions logs;
    };
    auto options = std::make_shared<Options>();
    CLI::App* command = service.add_subcommand(
        events ? "events" : "logs", events ? "Show a service's events" : "Show the logs of a service's containers");
    command->add_option("SERVICE", options->ref, "SERVICE or STACK/SERVICE")->required();
    add_log_options(command, options->logs);
    if (!events)
      command->add_option("-i,--instance", options->logs.instance, "Only this instance number")->check(CLI::PositiveNumber);
    add_grid_option(command, ctx);
    command->callback([&ctx, options, events] {
      const ServiceRef ref = resolve_ref(ctx, options->ref);
      print_logs(ctx, service_path(ref) + (events ? "/event_logs" : "/container_logs"), options->logs, events);
    });
  }
}

void add_exec(CLI::App& service, Context& ctx) {
  struct Options {
    std::string ref;
    int instance = 1;
    bool all = false;
    int timeout = 60;
  };
  auto options = std::make_shared<Options>();
  CLI::App* exec = service.add_subcommand(
      "exec", "Run a command in a service's container: kontena service exec [OPTIONS] SERVICE CMD...");
  auto* instance = exec->add_option("--instance", options->instance, "Instance number (default 1)")->check(CLI::PositiveNumber);
  exec->add_flag("-a,--all", options->all, "Run on every running instance, prefixing the output")->excludes(instance);
  exec->add_option("--timeout", options->timeout, "Seconds the command may run (default 60)")->check(CLI::Range(1, 3600));
  // SERVICE and everything after it (options included: "sh -c 'echo x'") are left unparsed:
  // the first word is the service, the rest the command (an optional "--" first is dropped).
  exec->prefix_command();
  exec->footer("SERVICE is SERVICE or STACK/SERVICE. Options go before SERVICE; everything after it is the command.");
  CLI::App* exec_app = exec;
  exec->callback([&ctx, options, exec_app] {
    std::vector<std::string> cmd = exec_app->remaining();
    if (cmd.empty()) throw CLI::RequiredError("SERVICE");
    options->ref = cmd.front();
    cmd.erase(cmd.begin());
    if (!cmd.empty() && cmd.front() == "--") cmd.erase(cmd.begin());
    const ServiceRef ref = resolve_ref(ctx, options->ref);
    if (cmd.empty()) throw Error(ErrorKind::invalid, "no command given: kontena service exec SERVICE CMD...", "cmd");
    const json instances = ctx.api().get(service_path(ref) + "/instances").value("instances", json::array());
    std::vector<json> targets;
    for (const auto& item : instances) {
      if (options->all) {
        if (item.value("state", json()).is_string() && item["state"] == "running") targets.push_back(item);
      } else if (item.value("instance_number", 0) == options->instance) {
        targets.push_back(item);
      }
    }
    if (targets.empty()) {
      if (options->all) throw Error(ErrorKind::not_found, "service " + ref.display() + " has no running instance");
      throw Error(ErrorKind::not_found,
                  "service " + ref.display() + " has no instance " + std::to_string(options->instance));
    }
    int exit_code = 0;
    for (const auto& target : targets) {
      const std::string node = field_text(target, "node", "");
      const std::string container = field_text(target, "container", "");
      const std::string label = ref.name + "-" + field_text(target, "instance_number");
      if (node.empty() || container.empty())
        throw Error(ErrorKind::unavailable, "instance " + label + " is not placed on a node yet");
      const json answer = ctx.api().post("/v1/containers/" + encode_path_segment(ref.grid) + "/" +
                                             encode_path_segment(node) + "/" + encode_path_segment(container) + "/exec",
                                         {{"cmd", cmd}, {"timeout", options->timeout}});
      const std::string out = answer.value("stdout", "");
      const std::string err = answer.value("stderr", "");
      const int code = answer.value("exit_code", 0);
      if (options->all) {
        auto prefixed = [&label](std::ostream& stream, const std::string& text) {
          std::size_t start = 0;
          while (start < text.size()) {
            auto end = text.find('\n', start);
            stream << "[" << label << "] " << text.substr(start, end == std::string::npos ? std::string::npos : end - start)
                   << "\n";
            if (end == std::string::npos) break;
            start = end + 1;
          }
        };
        prefixed(ctx.out(), out);
        prefixed(ctx.err(), err);
      } else {
        ctx.out() << out;
        ctx.err() << err;
      }
      if (code != 0 && exit_code == 0) exit_code = code;
    }
    ctx.out().flush();
    if (exit_code != 0) throw ExitStatus(exit_code);
  });
}

}  // namespace

void register_service_commands(CLI::App& app, Context& ctx) {
  CLI::App* service = add_group(app, ctx, "service",
                                "Services: list, show, create, update, scale, deploy, exec (SERVICE or STACK/SERVICE)");
  add_list(*service, ctx);
  add_show(*service, ctx);
  add_create(*service, ctx);
  add_update(*service, ctx);
  add_scale(*service, ctx);
  add_deploy(*service, ctx);
  add_state_actions(*service, ctx);
  add_remove(*service, ctx);
  add_containers(*service, ctx);
  add_env(*service, ctx);
  add_logs(*service, ctx);
  add_exec(*service, ctx);
}

}  // namespace kontena::cli
