// kontena stack ...: validate, install, upgrade, deploy, stop, restart, list, show, inspect,
// remove, logs, events (docs/api/stacks-services.md). Stack files go through the stack-file
// library (src/stackfile, docs/stack-file.md): load_stack does the whole pipeline.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cli/commands/common.h"
#include "cli/commands/workload.h"
#include "cli/output.h"
#include "cli/requests.h"
#include "cli/url.h"
#include "stackfile/stackfile.h"

extern char** environ;

namespace kontena::cli {

using nlohmann::json;
namespace sf = kontena::stackfile;

namespace {

Error needs_master(const std::string& what) {
  return Error(ErrorKind::invalid, what + " needs a master and 'kontena stack validate' works offline "
                                          "(--online is not supported yet): give the variable's value with -v NAME=VALUE "
                                          "or --values-from");
}

// Offline resolver: prompts on a terminal only; everything served by the master is an error.
class OfflineResolver : public sf::Resolver {
 public:
  explicit OfflineResolver(Context& ctx, bool terminal) : ctx_(ctx), terminal_(terminal) {}
  bool interactive() const override { return terminal_; }
  std::optional<json> prompt(const sf::PromptRequest& request) override {
    auto& err = ctx_.err();
    err << request.label;
    if (!request.options.empty()) err << " (" << join(request.options, ", ") << ")";
    if (!request.default_value.is_null())
      err << " [" << (request.default_value.is_string() ? request.default_value.get<std::string>() : request.default_value.dump()) << "]";
    err << ": " << std::flush;
    std::string line;
    if (!std::getline(ctx_.in(), line)) return std::nullopt;
    if (line.empty()) return std::nullopt;
    return json(line);
  }
  std::optional<std::string> vault_read(const std::string& key) override { throw needs_master("vault key \"" + key + "\""); }
  void vault_write(const std::string& key, const std::string&) override { throw needs_master("vault key \"" + key + "\""); }
  std::optional<json> resolve(const std::string& resolver, const json&, const std::string& variable) override {
    throw needs_master("resolver " + resolver + " of variable " + variable);
  }

 private:
  Context& ctx_;
  bool terminal_;
};

std::map<std::string, std::string> environment(Context& ctx) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const std::string name = text.substr(0, eq);
    if (auto value = ctx.env()(name)) env[name] = *value;
  }
  return env;
}

void add_validate(CLI::App& stack, Context& ctx) {
  struct Options {
    std::string file = "kontena.yml";
    std::string name;
    std::vector<std::string> values;
    std::string values_from;
    std::string values_to;
    bool json = false;
    bool online = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* validate = stack.add_subcommand(
      "validate", "Check a stack file and print it interpolated (variables, Liquid, $VAR) without installing it");
  validate->add_option("FILE", options->file, "Stack file (default: kontena.yml)");
  validate->add_option("-n,--name", options->name, "Stack name (default: the name in the file)");
  validate->add_option("-v,--var", options->values, "Variable value KEY=VALUE (repeatable)")->allow_extra_args(false);
  validate->add_option("--values-from", options->values_from, "Read variable values from a YAML file");
  validate->add_option("--values-to", options->values_to, "Write the resolved variable values to a YAML file");
  validate->add_flag("--json", options->json, "Print the normalised stack as JSON");
  validate->add_flag("--online", options->online,
                     "Resolve vault, service_instances, ... through the master (not supported yet: fails)");
  validate->callback([&ctx, options] {
    if (options->online)
      throw Error(ErrorKind::invalid, "--online is not supported yet: 'kontena stack validate' only works offline");
    sf::LoadInput input;
    input.origin = options->file;
    input.stack_name = options->name;
    for (const auto& arg : options->values) {
      auto [key, value] = sf::parse_value_arg(arg);
      input.values.insert_or_assign(key, value);
    }
    if (!options->values_from.empty())
      input.values_from = sf::parse_values(sf::read_source(options->values_from, nullptr), options->values_from);
    input.env = environment(ctx);
    if (auto grid = ctx.env()("KONTENA_GRID")) input.grid = *grid;
    OfflineResolver resolver(ctx, ctx.stdin_is_terminal());
    input.resolver = &resolver;
    input.run_setters = false;
    const sf::LoadedStack loaded = sf::load_stack(input);
    for (const auto& warning : loaded.warnings) ctx.err() << "warning: " << warning << "\n";
    if (!options->values_to.empty()) {
      std::ofstream file(options->values_to, std::ios::binary | std::ios::trunc);
      file << sf::values_to_yaml(loaded.values);
      file.close();
      if (!file) throw Error(ErrorKind::invalid, "cannot write " + options->values_to);
    }
    if (options->json) return print_json(ctx.out(), loaded.stack);
    ctx.out() << loaded.interpolated;
    if (!loaded.interpolated.empty() && loaded.interpolated.back() != '\n') ctx.out() << "\n";
  });
}

// Install/upgrade: prompts on a terminal, asks the master for what it knows.
class OnlineResolver : public OfflineResolver {
 public:
  OnlineResolver(Context& ctx, bool terminal, std::string grid, std::string stack)
      : OfflineResolver(ctx, terminal), ctx_(ctx), grid_(std::move(grid)), stack_(std::move(stack)) {}
  std::optional<std::string> vault_read(const std::string& key) override {
    throw Error(ErrorKind::invalid, "vault key \"" + key +
                                        "\": the master has no vault yet; give the variable's value with -v NAME=VALUE");
  }
  void vault_write(const std::string& key, const std::string&) override {
    throw Error(ErrorKind::invalid, "cannot write vault key \"" + key + "\": the master has no vault yet");
  }
  std::optional<json> resolve(const std::string& resolver, const json& hint, const std::string& variable) override {
    if (resolver == "service_instances" && hint.is_string()) {
      if (stack_.empty()) return std::nullopt;  // a new stack named by its file: nothing installed
      // The current instance count of a service of the installed stack (none when not installed).
      try {
        ServiceRef ref{grid_, stack_, hint.get<std::string>()};
        const json service = ctx_.api().get(service_path(ref));
        if (service.contains("instances") && service["instances"].is_number_integer()) return service["instances"];
        return std::nullopt;
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::not_found) return std::nullopt;
        throw;
      }
    }
    throw Error(ErrorKind::invalid, "resolver " + resolver + " of variable " + variable +
                                        " is not supported yet: give the value with -v " + variable + "=VALUE");
  }

 private:
  Context& ctx_;
  std::string grid_;
  std::string stack_;
};

// Stack files given by http(s) URL, read through the CLI's HTTP transport.
class TransportFetcher : public sf::Fetcher {
 public:
  explicit TransportFetcher(Context& ctx) : ctx_(ctx) {}
  std::string fetch(const std::string& url) override {
    HttpRequest request;
    request.method = "GET";
    request.url = parse_url(url);
    const auto scheme_end = url.find("://");
    const auto path_start = url.find_first_of("/?", scheme_end + 3);
    request.target = path_start == std::string::npos ? "/" : url.substr(path_start);
    if (const auto hash = request.target.find('#'); hash != std::string::npos) request.target.resize(hash);
    if (request.target.empty() || request.target.front() != '/') request.target.insert(0, "/");
    request.headers.emplace_back("Accept", "application/yaml, text/plain, */*");
    const HttpResponse response = ctx_.transport().send(request);
    if (response.status < 200 || response.status > 299)
      throw Error(ErrorKind::not_found, "cannot load " + url + ": HTTP " + std::to_string(response.status));
    return response.body;
  }

 private:
  Context& ctx_;
};

// How to load a stack file (install, upgrade, and each dependency).
struct LoadRequest {
  std::string origin;
  std::string name;  // empty: the name in the file
  std::string parent;
  std::map<std::string, std::string> values;
  json values_from = json::object();
};

// A stack file loaded with its dependencies (children), ready to be sent.
struct PlannedStack {
  std::string name;
  std::string origin;
  sf::LoadedStack loaded;
  std::vector<PlannedStack> children;
};

bool looks_like_registry_ref(const std::string& origin) {
  static const std::regex ref(R"(^[A-Za-z0-9_.-]+/[a-z0-9-]+(:[A-Za-z0-9_.+-]+)?$)");
  return std::regex_match(origin, ref);
}

std::string value_text(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

// Loads `request` and, unless skip_dependencies, every `depends` child as `<name>-<alias>`
// (children of children too). Nothing is sent to the master; every file is checked first.
PlannedStack plan_stack(Context& ctx, const std::string& grid, const LoadRequest& request, bool skip_dependencies,
                        bool run_setters, int depth = 0) {
  if (depth > 10)
    throw Error(ErrorKind::invalid, "stack dependencies nest deeper than 10 levels at " + request.origin +
                                        " (does a stack depend on itself?)");
  if (!request.name.empty()) check_name(request.name, "stack");
  const bool url = request.origin.rfind("http://", 0) == 0 || request.origin.rfind("https://", 0) == 0;
  if (!url && !std::filesystem::exists(request.origin) && looks_like_registry_ref(request.origin))
    throw Error(ErrorKind::invalid, "cannot load " + request.origin +
                                        ": the stack registry (user/stack[:version]) is not supported; give a file or an "
                                        "http(s) URL");
  sf::LoadInput input;
  input.origin = request.origin;
  input.stack_name = request.name;
  input.parent_stack = request.parent;
  input.values = request.values;
  input.values_from = request.values_from;
  input.env = environment(ctx);
  input.grid = grid;
  OnlineResolver resolver(ctx, ctx.stdin_is_terminal(), grid, request.name);
  TransportFetcher fetcher(ctx);
  input.resolver = &resolver;
  input.fetcher = &fetcher;
  input.run_setters = run_setters;
  PlannedStack planned;
  planned.origin = request.origin;
  planned.loaded = sf::load_stack(input);
  for (const auto& warning : planned.loaded.warnings) ctx.err() << "warning: " << warning << "\n";
  planned.name = planned.loaded.stack.value("name", "");
  check_name(planned.name, "stack");
  if (skip_dependencies) return planned;
  for (const auto& dependency : planned.loaded.stack.value("dependencies", json::array())) {
    LoadRequest child;
    child.origin = dependency.value("stack", "");
    child.name = planned.name + "-" + dependency.value("name", "");
    child.parent = planned.name;
    const json variables = dependency.value("variables", json::object());
    if (variables.is_object())
      for (auto it = variables.begin(); it != variables.end(); ++it) child.values[it.key()] = value_text(it.value());
    planned.children.push_back(plan_stack(ctx, grid, child, false, run_setters, depth + 1));
  }
  return planned;
}

// The options shared by install and upgrade for reading the file.
struct FileOptions {
  std::vector<std::string> values;
  std::string values_from;
  std::string values_to;
  bool force = false;
  bool skip_dependencies = false;
  bool no_deploy = false;
  bool json = false;
};

void add_file_options(CLI::App* command, FileOptions& options) {
  command->add_option("-v,--var", options.values, "Variable value KEY=VALUE (repeatable; ALIAS.KEY=VALUE for a dependency)")
      ->allow_extra_args(false);
  command->add_option("--values-from", options.values_from, "Read variable values from a YAML file");
  command->add_option("--values-to", options.values_to, "Write the resolved variable values to a YAML file");
  command->add_flag("--force", options.force, "Do not ask for confirmations");
  command->add_flag("--skip-dependencies", options.skip_dependencies, "Do not install or upgrade the stacks of 'depends'");
  command->add_flag("--json", options.json, "Print the resulting stack as JSON (progress goes to stderr)");
}

LoadRequest load_request(const FileOptions& options, const std::string& origin, const std::string& name) {
  LoadRequest request;
  request.origin = origin;
  request.name = name;
  for (const auto& arg : options.values) {
    auto [key, value] = sf::parse_value_arg(arg);
    request.values.insert_or_assign(key, value);
  }
  if (!options.values_from.empty())
    request.values_from = sf::parse_values(sf::read_source(options.values_from, nullptr), options.values_from);
  return request;
}

void write_values(const FileOptions& options, const PlannedStack& planned) {
  if (options.values_to.empty()) return;
  std::ofstream file(options.values_to, std::ios::binary | std::ios::trunc);
  file << sf::values_to_yaml(planned.loaded.values);
  file.close();
  if (!file) throw Error(ErrorKind::invalid, "cannot write " + options.values_to);
}

// "meta.required_kontena_version": a warning and a confirmation unless --force (reference §1.2).
void check_required_version(Context& ctx, const PlannedStack& planned, bool force) {
  const json meta = planned.loaded.stack.value("meta", json::object());
  if (!meta.is_object() || !meta.contains("required_kontena_version")) return;
  const std::string required = value_text(meta["required_kontena_version"]);
  ctx.err() << "warning: stack " << planned.name << " requires Kontena version " << required << " (this is "
            << KONTENA_VERSION << ")\n";
  ctx.confirm("install stack " + planned.name + " anyway", force);
}

std::ostream& progress_stream(Context& ctx, bool json_output) { return json_output ? ctx.err() : ctx.out(); }

void deploy_stack(Context& ctx, std::ostream& progress, const std::string& grid, const std::string& name) {
  const json deploy = ctx.api().post(stack_path(grid, name) + "/deploy", json::object());
  progress << "deploying stack " << name << " (deploy " << field_text(deploy, "id") << ")" << std::endl;
  follow_stack_deploy(ctx, progress, grid, name, deploy);
}

// Children first (each created and deployed), then the stack itself.
void install_planned(Context& ctx, std::ostream& progress, const std::string& grid, const PlannedStack& planned,
                     bool deploy) {
  for (const auto& child : planned.children) install_planned(ctx, progress, grid, child, deploy);
  ctx.api().post(grid_path(grid) + "/stacks", planned.loaded.stack);
  progress << "created stack " << planned.name << (planned.children.empty() ? "" : " (with its dependencies)")
           << std::endl;
  if (deploy) deploy_stack(ctx, progress, grid, planned.name);
}

void add_install(CLI::App& stack, Context& ctx) {
  struct Options {
    FileOptions file;
    std::string origin = "kontena.yml";
    std::string name;
    bool deploy = true;
  };
  auto options = std::make_shared<Options>();
  CLI::App* install = stack.add_subcommand("install", "Install a stack from a stack file or URL and deploy it");
  install->add_option("FILE", options->origin, "Stack file or http(s) URL (default: kontena.yml)");
  install->add_option("-n,--name", options->name, "Stack name (default: the name in the file)");
  install->add_flag("--deploy,!--no-deploy", options->deploy, "Deploy after installing (default) or not");
  add_file_options(install, options->file);
  add_grid_option(install, ctx);
  install->callback([&ctx, options] {
    const std::string grid = ctx.require_grid();
    const PlannedStack planned = plan_stack(ctx, grid, load_request(options->file, options->origin, options->name),
                                            options->file.skip_dependencies, true);
    check_required_version(ctx, planned, options->file.force);
    write_values(options->file, planned);
    std::ostream& progress = progress_stream(ctx, options->file.json);
    install_planned(ctx, progress, grid, planned, options->deploy);
    if (options->file.json) print_json(ctx.out(), ctx.api().get(stack_path(grid, planned.name)));
  });
}

void print_changes(std::ostream& out, const std::string& name, const json& stack, bool dry_run) {
  const json changes = stack.value("changes", json::object());
  auto list = [&](const char* key) {
    std::vector<std::string> names;
    for (const auto& item : changes.value(key, json::array()))
      if (item.is_string()) names.push_back(item.get<std::string>());
    return names;
  };
  const bool new_revision = changes.value("new_revision", false);
  if (!new_revision) {
    out << "no changes: stack " << name << " stays at revision " << field_text(stack, "revision") << "\n";
    return;
  }
  out << (dry_run ? "would change stack " : "changed stack ") << name;
  if (!dry_run) out << " (revision " << field_text(stack, "revision") << ")";
  out << ":\n";
  for (const auto& added : list("added")) out << "  + " << added << " (added)\n";
  for (const auto& removed : list("removed")) out << "  - " << removed << " (removed)\n";
  for (const auto& changed : changes.value("changed", json::array())) {
    std::vector<std::string> fields;
    for (const auto& field : changed.value("fields", json::array()))
      if (field.is_string()) fields.push_back(field.get<std::string>());
    out << "  ~ " << field_text(changed, "name") << " (" << (fields.empty() ? "changed" : join(fields, ", ")) << ")\n";
  }
  for (const auto& same : list("unchanged")) out << "    " << same << " (unchanged)\n";
  out.flush();
}

// The grid's stacks whose parent is `name` (its installed dependencies).
std::vector<std::string> child_stacks(Context& ctx, const std::string& grid, const std::string& name) {
  std::vector<std::string> children;
  for (const auto& item : ctx.api().get(grid_path(grid) + "/stacks").value("stacks", json::array())) {
    const json parent = item.value("parent", json());
    if (parent.is_object() && parent.value("name", "") == name) children.push_back(item.value("name", ""));
  }
  return children;
}

std::optional<json> find_stack(Context& ctx, const std::string& grid, const std::string& name) {
  try {
    return ctx.api().get(stack_path(grid, name));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return std::nullopt;
    throw;
  }
}

void remove_stack_tree(Context& ctx, std::ostream& progress, const std::string& grid, const std::string& name,
                       bool keep_dependencies);

// Upgrades (or installs) the children, then the stack, then removes children no longer listed.
// manage_children=false (--skip-dependencies): installed children are left as they are.
void upgrade_planned(Context& ctx, std::ostream& progress, const std::string& grid, const PlannedStack& planned,
                     bool deploy, bool manage_children) {
  std::set<std::string> wanted;
  for (const auto& child : planned.children) {
    wanted.insert(child.name);
    if (find_stack(ctx, grid, child.name)) upgrade_planned(ctx, progress, grid, child, deploy, true);
    else install_planned(ctx, progress, grid, child, deploy);
  }
  const std::vector<std::string> old_children =
      manage_children ? child_stacks(ctx, grid, planned.name) : std::vector<std::string>{};
  const json stack = ctx.api().put(stack_path(grid, planned.name), planned.loaded.stack);
  print_changes(progress, planned.name, stack, false);
  if (deploy) deploy_stack(ctx, progress, grid, planned.name);
  for (const auto& old : old_children)
    if (!wanted.count(old)) remove_stack_tree(ctx, progress, grid, old, false);
}

void add_upgrade(CLI::App& stack, Context& ctx) {
  struct Options {
    FileOptions file;
    std::string name;
    std::string origin = "kontena.yml";
    bool dry_run = false;
    bool reuse_values = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* upgrade = stack.add_subcommand("upgrade", "Upgrade an installed stack from a stack file and deploy it");
  upgrade->add_option("NAME", options->name, "Stack name")->required();
  upgrade->add_option("FILE", options->origin, "Stack file or http(s) URL (default: kontena.yml)");
  upgrade->add_flag("--dry-run", options->dry_run, "Only show what would change");
  upgrade->add_flag("--no-deploy", options->file.no_deploy, "Do not deploy the new revision");
  upgrade->add_flag("--reuse-values", options->reuse_values,
                    "Use the installed stack's variable values (-v and --values-from still win)");
  add_file_options(upgrade, options->file);
  add_grid_option(upgrade, ctx);
  upgrade->callback([&ctx, options] {
    check_name(options->name, "stack");
    const std::string grid = ctx.require_grid();
    const json current = ctx.api().get(stack_path(grid, options->name));
    LoadRequest request = load_request(options->file, options->origin, options->name);
    const json parent = current.value("parent", json());
    if (parent.is_object()) request.parent = parent.value("name", "");
    if (options->reuse_values) {
      const json previous = current.value("variables", json::object());
      if (previous.is_object())
        for (auto it = previous.begin(); it != previous.end(); ++it)
          if (!request.values_from.contains(it.key())) request.values_from[it.key()] = it.value();
    }
    const PlannedStack planned = plan_stack(ctx, grid, request, options->file.skip_dependencies, !options->dry_run);
    const std::string old_ref = current.value("stack", "");
    const std::string new_ref = planned.loaded.stack.value("stack", "");
    if (!old_ref.empty() && old_ref != new_ref && !options->dry_run)
      ctx.confirm("replace stack " + options->name + " (" + old_ref + ") with " + new_ref, options->file.force);
    if (options->dry_run) {
      const json answer = ctx.api().put(stack_path(grid, options->name) + "?dry_run=true", planned.loaded.stack);
      if (options->file.json) return print_json(ctx.out(), answer.value("changes", json::object()));
      print_changes(ctx.out(), options->name, answer, true);
      for (const auto& child : planned.children)
        ctx.out() << "dependency " << child.name << ": would be "
                  << (find_stack(ctx, grid, child.name) ? "upgraded" : "installed") << "\n";
      return;
    }
    write_values(options->file, planned);
    std::ostream& progress = progress_stream(ctx, options->file.json);
    upgrade_planned(ctx, progress, grid, planned, !options->file.no_deploy, !options->file.skip_dependencies);
    if (options->file.json) print_json(ctx.out(), ctx.api().get(stack_path(grid, options->name)));
  });
}

// deploy (start), stop, restart
void add_simple_actions(CLI::App& stack, Context& ctx) {
  struct Options {
    std::string name;
    bool json = false;
  };
  auto deploy_options = std::make_shared<Options>();
  CLI::App* deploy = stack.add_subcommand("deploy", "Deploy a stack's latest revision and follow it")->alias("start");
  deploy->add_option("NAME", deploy_options->name, "Stack name")->required();
  add_json_flag(deploy, deploy_options->json);
  add_grid_option(deploy, ctx);
  deploy->callback([&ctx, deploy_options] {
    check_name(deploy_options->name, "stack");
    const std::string grid = ctx.require_grid();
    std::ostream& progress = progress_stream(ctx, deploy_options->json);
    const json started = ctx.api().post(stack_path(grid, deploy_options->name) + "/deploy", json::object());
    progress << "deploying stack " << deploy_options->name << " (deploy " << field_text(started, "id") << ")"
             << std::endl;
    const json done = follow_stack_deploy(ctx, progress, grid, deploy_options->name, started);
    if (deploy_options->json) print_json(ctx.out(), done);
  });

  for (const auto& [verb, past, description] :
       {std::tuple<const char*, const char*, const char*>{"stop", "stopped", "Stop every service of a stack"},
        {"restart", "restarted", "Restart every service of a stack"}}) {
    auto options = std::make_shared<Options>();
    CLI::App* command = stack.add_subcommand(verb, description);
    command->add_option("NAME", options->name, "Stack name")->required();
    add_json_flag(command, options->json);
    add_grid_option(command, ctx);
    const std::string action = verb;
    const std::string done = past;
    command->callback([&ctx, options, action, done] {
      check_name(options->name, "stack");
      const json answer = ctx.api().post(stack_path(ctx.require_grid(), options->name) + "/" + action, json::object());
      if (options->json) return print_json(ctx.out(), answer);
      ctx.out() << done << " stack " << options->name << "\n";
    });
  }
}

std::string services_count(const json& stack) {
  const json services = stack.value("services", json::array());
  return std::to_string(services.is_array() ? services.size() : 0);
}

void add_list(CLI::App& stack, Context& ctx) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* list = stack.add_subcommand("list", "List the grid's stacks")->alias("ls");
  add_list_flags(list, *flags);
  add_grid_option(list, ctx);
  list->callback([&ctx, flags] {
    const json answer = ctx.api().get(grid_path(ctx.require_grid()) + "/stacks");
    if (flags->json) return print_json(ctx.out(), answer);
    Table table({"NAME", "STACK", "VERSION", "SERVICES", "STATE", "EXPOSED"});
    for (const auto& item : answer.value("stacks", json::array())) {
      if (flags->quiet) {
        ctx.out() << field_text(item, "name") << "\n";
        continue;
      }
      table.add_row({field_text(item, "name"), field_text(item, "stack"), field_text(item, "version"),
                     services_count(item), field_text(item, "state"), field_text(item, "expose")});
    }
    if (!flags->quiet) table.print(ctx.out());
  });
}

void print_stack(Context& ctx, const std::string& grid, const json& stack) {
  auto& out = ctx.out();
  const std::string name = field_text(stack, "name");
  out << grid << "/" << name << ":\n";
  out << "  stack: " << field_text(stack, "stack") << "\n";
  out << "  version: " << field_text(stack, "version") << "\n";
  out << "  revision: " << field_text(stack, "revision") << " (deployed: " << field_text(stack, "deployed_revision")
      << ")\n";
  out << "  state: " << field_text(stack, "state") << "\n";
  out << "  created: " << format_time(field_text(stack, "created_at")) << "\n";
  out << "  updated: " << format_time(field_text(stack, "updated_at")) << "\n";
  const json parent = stack.value("parent", json());
  out << "  parent: " << (parent.is_object() ? field_text(parent, "name") : "-") << "\n";
  out << "  expose: " << field_text(stack, "expose") << "\n";
  const auto labels = string_list(stack, "labels");
  out << "  labels: " << (labels.empty() ? "-" : join(labels, ",")) << "\n";
  const json dependencies = stack.value("dependencies", json::array());
  out << "  dependencies:" << (dependencies.empty() ? " -" : "") << "\n";
  for (const auto& dependency : dependencies)
    out << "    - " << field_text(dependency, "name") << " (" << field_text(dependency, "stack") << ")\n";
  const json services = stack.value("services", json::array());
  out << "  services:" << (services.empty() ? " -" : "") << "\n";
  for (const auto& service : services) {
    const std::string service_name = field_text(service, "name");
    out << "    " << service_name << ":\n";
    out << "      image: " << field_text(service, "image") << "\n";
    out << "      state: " << field_text(service, "state") << "\n";
    out << "      instances: " << field_text(service, "running", "0") << " / " << field_text(service, "instances")
        << " running\n";
    ServiceRef ref{grid, name, service_name};
    json instances;
    try {
      instances = ctx.api().get(service_path(ref) + "/instances").value("instances", json::array());
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
      continue;
    }
    for (const auto& instance : instances)
      out << "        " << service_name << "-" << field_text(instance, "instance_number") << " on "
          << field_text(instance, "node") << ": " << field_text(instance, "state") << " (desired "
          << field_text(instance, "desired_state") << ")"
          << (instance.contains("error") && instance["error"].is_string() ? ", error: " + field_text(instance, "error")
                                                                          : "")
          << "\n";
  }
}

void add_show(CLI::App& stack, Context& ctx) {
  struct Options {
    std::string name;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* show = stack.add_subcommand("show", "Show a stack, its services and their instances");
  show->add_option("NAME", options->name, "Stack name")->required();
  add_json_flag(show, options->json);
  add_grid_option(show, ctx);
  show->callback([&ctx, options] {
    check_name(options->name, "stack");
    const std::string grid = ctx.require_grid();
    const json answer = ctx.api().get(stack_path(grid, options->name));
    if (options->json) return print_json(ctx.out(), answer);
    print_stack(ctx, grid, answer);
  });
}

void add_inspect(CLI::App& stack, Context& ctx) {
  struct Options {
    std::string name;
    int revision = 0;
    bool values = false;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* inspect = stack.add_subcommand("inspect", "Print the stack file of a stack's latest (or given) revision");
  inspect->add_option("NAME", options->name, "Stack name")->required();
  inspect->add_option("--revision", options->revision, "Revision number (default: the latest)")->check(CLI::PositiveNumber);
  inspect->add_flag("--values", options->values, "Print the variable values instead of the file");
  add_json_flag(inspect, options->json);
  add_grid_option(inspect, ctx);
  inspect->callback([&ctx, options] {
    check_name(options->name, "stack");
    const std::string grid = ctx.require_grid();
    std::string revision = std::to_string(options->revision);
    if (options->revision == 0) revision = field_text(ctx.api().get(stack_path(grid, options->name)), "revision", "1");
    const json answer = ctx.api().get(stack_path(grid, options->name) + "/revisions/" + encode_path_segment(revision));
    if (options->json) return print_json(ctx.out(), answer);
    const json definition = answer.value("definition", json::object());
    if (options->values) {
      ctx.out() << sf::values_to_yaml(definition.value("variables", json::object()));
      return;
    }
    const std::string source = definition.value("source", "");
    ctx.out() << source;
    if (!source.empty() && source.back() != '\n') ctx.out() << "\n";
  });
}

void remove_stack_tree(Context& ctx, std::ostream& progress, const std::string& grid, const std::string& name,
                       bool keep_dependencies) {
  const std::vector<std::string> children =
      keep_dependencies ? std::vector<std::string>{} : child_stacks(ctx, grid, name);
  progress << "removing stack " << name << " ... " << std::flush;
  try {
    ctx.api().del(stack_path(grid, name));
  } catch (...) {
    progress << "failed" << std::endl;
    throw;
  }
  progress << "done" << std::endl;
  for (const auto& child : children) remove_stack_tree(ctx, progress, grid, child, false);
}

void add_remove(CLI::App& stack, Context& ctx) {
  struct Options {
    std::vector<std::string> names;
    bool force = false;
    bool keep_dependencies = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* remove = stack.add_subcommand("remove", "Remove stacks, their services and containers")->alias("rm");
  remove->add_option("NAME", options->names, "Stack names")->required();
  remove->add_flag("--force", options->force, "Do not ask for confirmation");
  remove->add_flag("--keep-dependencies", options->keep_dependencies, "Do not remove the stacks installed by 'depends'");
  add_grid_option(remove, ctx);
  remove->callback([&ctx, options] {
    for (const auto& name : options->names) check_name(name, "stack");
    const std::string grid = ctx.require_grid();
    for (const auto& name : options->names) {
      ctx.confirm("remove stack " + name + " from grid " + grid, options->force);
      remove_stack_tree(ctx, ctx.out(), grid, name, options->keep_dependencies);
    }
  });
}

void add_logs(CLI::App& stack, Context& ctx) {
  for (const bool events : {false, true}) {
    struct Options {
      std::string name;
      LogOptions logs;
    };
    auto options = std::make_shared<Options>();
    CLI::App* command = stack.add_subcommand(events ? "events" : "logs",
                                             events ? "Show a stack's events" : "Show the logs of a stack's containers");
    command->add_option("NAME", options->name, "Stack name")->required();
    add_log_options(command, options->logs);
    add_grid_option(command, ctx);
    command->callback([&ctx, options, events] {
      check_name(options->name, "stack");
      print_logs(ctx, stack_path(ctx.require_grid(), options->name) + (events ? "/event_logs" : "/container_logs"),
                 options->logs, events);
    });
  }
}

}  // namespace

void register_stack_commands(CLI::App& app, Context& ctx) {
  CLI::App* stack = add_group(app, ctx, "stack",
                              "Stacks: install, upgrade, deploy, list, show and remove stacks from stack files (kontena.yml)");
  add_install(*stack, ctx);
  add_upgrade(*stack, ctx);
  add_simple_actions(*stack, ctx);
  add_list(*stack, ctx);
  add_show(*stack, ctx);
  add_inspect(*stack, ctx);
  add_remove(*stack, ctx);
  add_logs(*stack, ctx);
  add_validate(*stack, ctx);
}

}  // namespace kontena::cli
