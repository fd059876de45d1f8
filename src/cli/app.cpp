#include "cli/app.h"

#include "cli/commands/common.h"
#include "cli/output.h"

namespace kontena::cli {

std::unique_ptr<CLI::App> build_app(Context& ctx) {
  auto app = std::make_unique<CLI::App>("Kontena command line client", "kontena");
  app->set_version_flag("-v,--version", KONTENA_VERSION);
  app->require_subcommand(0, 1);
  // Usage errors in the same shape as all other errors.
  app->failure_message([](const CLI::App* command, const CLI::Error& e) {
    // Point at the help of the deepest command that was recognised ("kontena grid create").
    const CLI::App* deepest = command;
    while (!deepest->get_subcommands().empty()) deepest = deepest->get_subcommands().front();
    std::string path;
    for (const CLI::App* p = deepest; p != nullptr; p = p->get_parent())
      path = p->get_name() + (path.empty() ? "" : " " + path);
    return "error: " + std::string(e.what()) + "\nRun '" + path + " --help' for more information.\n";
  });
  register_master_commands(*app, ctx);
  register_grid_commands(*app, ctx);
  register_node_commands(*app, ctx);
  register_stack_commands(*app, ctx);
  register_service_commands(*app, ctx);
  register_etcd_commands(*app, ctx);
  register_misc_commands(*app, ctx);
  // Set after the subcommands exist so that only the top-level help shows it.
  app->footer(
      "Config: ~/.kontena_client.json (KONTENA_CONFIG). Environment: KONTENA_URL, KONTENA_TOKEN, KONTENA_GRID,\n"
      "KONTENA_MASTER, KONTENA_SSL_VERIFY=false, DEBUG=1. Run 'kontena COMMAND --help' for a command's options.");
  CLI::App* root = app.get();
  app->callback([root, &ctx] {
    if (root->get_subcommands().empty()) ctx.out() << root->help();
  });
  return app;
}

int run_cli(const std::vector<std::string>& args, Context& ctx) {
  auto app = build_app(ctx);
  // CLI11 wants argv; keep the strings alive in `storage`.
  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.push_back("kontena");
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : storage) argv.push_back(arg.data());
  try {
    app->parse(static_cast<int>(argv.size()), argv.data());
    ctx.out().flush();
    return 0;
  } catch (const CLI::ParseError& e) {
    const int code = app->exit(e, ctx.out(), ctx.err());
    return code == 0 ? 0 : 2;
  } catch (const ExitStatus& e) {
    ctx.out().flush();
    return e.code();
  } catch (const Error& e) {
    ctx.out().flush();
    ctx.err() << format_error(e) << std::endl;
    return 1;
  } catch (const std::exception& e) {
    ctx.out().flush();
    ctx.err() << "error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace kontena::cli
