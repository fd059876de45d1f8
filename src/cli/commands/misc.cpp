// kontena whoami and kontena version.
#include "cli/commands/common.h"
#include "cli/output.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

void add_whoami(CLI::App& app, Context& ctx) {
  auto completion_path = std::make_shared<bool>(false);
  CLI::App* whoami = app.add_subcommand("whoami", "Show the current master, grid and user");
  whoami->add_flag("--bash-completion-path", *completion_path, "Print the path of the bash completion script");
  whoami->callback([&ctx, completion_path] {
    if (*completion_path)
      throw Error(ErrorKind::not_found, "this kontena does not ship a bash completion script");
    const EffectiveServer& server = ctx.require_server();
    const std::string grid = !ctx.grid_option.empty() ? ctx.grid_option : server.grid;
    ctx.out() << "Master: " << server.name << "\n";
    ctx.out() << "URL: " << server.url << "\n";
    ctx.out() << "Grid: " << (grid.empty() ? "-" : grid) << "\n";
    ctx.out() << "User: " << (server.username.empty() ? "-" : server.username) << "\n";
  });
}

void add_version(CLI::App& app, Context& ctx) {
  CLI::App* version = app.add_subcommand("version", "Show the versions of this client and of the current master");
  version->callback([&ctx] {
    ctx.out() << "cli: " << KONTENA_VERSION << "\n";
    std::optional<EffectiveServer> server;
    try {
      server = ctx.configured_server();
    } catch (const Error& e) {
      ctx.err() << "warning: " << e.what() << "\n";
    }
    if (!server || server->url.empty()) return;
    try {
      ApiClient api = ctx.public_api(server->url);
      api.set_timeout(std::chrono::seconds(5));  // an unreachable master must not stall a version check
      const json answer = api.get("/");  // before printing: no half line when it fails
      ctx.out() << "master: " << field_text(answer, "version") << " (" << server->url << ")\n";
    } catch (const Error& e) {
      ctx.err() << "warning: no master version: " << e.what() << "\n";
    }
  });
}

}  // namespace

void register_misc_commands(CLI::App& app, Context& ctx) {
  add_whoami(app, ctx);
  add_version(app, ctx);
}

}  // namespace kontena::cli
