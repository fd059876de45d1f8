// kontena stack ...: validate (install/upgrade/... come later). Uses the stack-file library
// (src/stackfile, docs/stack-file.md): load_stack does the whole pipeline.
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli/commands/common.h"
#include "cli/output.h"
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

}  // namespace

void register_stack_commands(CLI::App& app, Context& ctx) {
  CLI::App* stack = add_group(app, ctx, "stack", "Stacks: validate a stack file (kontena.yml)");
  add_validate(*stack, ctx);
}

}  // namespace kontena::cli
