// kontena master: log in to masters and choose between them (login, join, logout, list, use,
// current, remove). The user, token, audit-log and config subgroups live in master_*.cpp.
#include <set>

#include "cli/commands/common.h"
#include "cli/output.h"
#include "cli/requests.h"
#include "cli/url.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

struct LoginOptions {
  std::string url;
  std::string code;
  std::string token;
  std::string name;
  std::int64_t expires_in = 7200;
  std::string grid;
};

// The config name for a new login: the entry that already has this URL, else "default", or
// "default-2", ... when "default" is taken by another master (never overwrite a login silently).
std::string server_name_for(ClientConfig& config, const std::string& url) {
  if (const ServerEntry* same_url = config.find_server_by_url(url)) return same_url->name;
  std::string name = "default";
  for (int n = 2; config.find_server(name) != nullptr; ++n) name = "default-" + std::to_string(n);
  return name;
}

// After login: --grid wins; a still-accessible previous grid stays; a single grid is selected.
std::string choose_grid(ApiClient& api, const std::string& requested, const std::string& previous) {
  if (!requested.empty()) {
    api.get(grid_path(requested));  // fails with the master's message when it is not accessible
    return requested;
  }
  std::set<std::string> names;
  for (const auto& grid : api.get("/v1/grids").value("grids", json::array())) names.insert(grid.value("name", ""));
  if (!previous.empty() && names.count(previous)) return previous;
  if (names.size() == 1) return *names.begin();
  return {};
}

void run_login(Context& ctx, LoginOptions options) {
  if (options.url.empty()) {
    auto current = ctx.configured_server();
    if (!current) throw CLI::ValidationError("URL", "give the master URL: kontena master login --code CODE URL");
    options.url = current->url;
  }
  const std::string url = normalize_master_url(options.url);
  if (options.code.empty() == options.token.empty())
    throw CLI::ValidationError("--code/--token", "give exactly one of --code CODE or --token TOKEN");

  StoredToken token;
  std::string email;
  if (!options.code.empty()) {
    ApiClient api = ctx.public_api(url);
    const json answer = api.post("/oauth2/token", authorization_code_body(options.code, options.expires_in));
    token = stored_token_from_answer(answer, ctx.now_unix());
    email = answer.contains("user") ? field_text(answer["user"], "email", "") : "";
  } else {
    token.access_token = options.token;
  }
  ClientConfig& config = ctx.config();
  const std::string name = options.name.empty() ? server_name_for(config, url) : options.name;
  // A short-lived token may be refreshed by the calls below; the new one must replace the saved one.
  auto save_refreshed = [&ctx, name](const StoredToken& refreshed) {
    if (ServerEntry* saved = ctx.config().find_server(name)) {
      saved->token = refreshed;
      ctx.save_config();
    }
  };
  ApiClient api(ctx.transport(), url, token, ctx.clock(), save_refreshed);
  if (email.empty()) email = api.get("/v1/user").value("email", "");

  ServerEntry* entry = config.find_server(name);
  if (entry == nullptr) {
    config.servers.push_back(ServerEntry{});
    entry = &config.servers.back();
    entry->name = name;
  }
  const std::string previous_grid = entry->url == url ? entry->grid : "";
  entry->url = url;
  entry->username = email;
  entry->token = api.token();
  entry->grid.clear();
  config.current_server = name;
  // Saved before choosing the grid: a login code is spent now, so a bad --grid must not lose it.
  ctx.save_config();
  ctx.out() << "Authenticated to " << name << " as " << email << "\n";
  const std::string grid = choose_grid(api, options.grid, previous_grid);
  if (grid.empty()) return;
  ctx.config().find_server(name)->grid = grid;
  ctx.save_config();
  ctx.out() << "Using grid " << grid << "\n";
}

void add_login_options(CLI::App* command, LoginOptions& options) {
  command->add_option("-n,--name", options.name, "Name for the master in the client config");
  command->add_option("-e,--expires-in", options.expires_in, "Token lifetime in seconds, 0 = never expires")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command->add_option("--grid", options.grid, "Grid to select after logging in");
}

void add_login(CLI::App& master, Context& ctx) {
  auto options = std::make_shared<LoginOptions>();
  CLI::App* login = master.add_subcommand("login", "Log in to a master with a login code or an access token");
  login->add_option("URL", options->url, "Master URL, e.g. http://127.0.0.1:9292 (default: the current master)");
  auto* code = login->add_option("-c,--code", options->code, "One-time login code (INITIAL_ADMIN_CODE, token create --code)");
  auto* token = login->add_option("-t,--token", options->token, "An existing access token");
  code->excludes(token);
  add_login_options(login, *options);
  login->callback([&ctx, options] { run_login(ctx, *options); });

  auto join_options = std::make_shared<LoginOptions>();
  CLI::App* join = master.add_subcommand("join", "Join a master with an invite code (from 'master user invite')");
  join->add_option("URL", join_options->url, "Master URL")->required();
  join->add_option("INVITE_CODE", join_options->code, "Invite code")->required();
  add_login_options(join, *join_options);
  join->callback([&ctx, join_options] { run_login(ctx, *join_options); });
}

void add_logout(CLI::App& master, Context& ctx) {
  CLI::App* logout = master.add_subcommand("logout", "Revoke the current access token and forget it");
  logout->callback([&ctx] {
    const EffectiveServer server = ctx.require_server();
    try {
      const json current = ctx.api().get("/oauth2/tokens/current");
      ctx.api().del("/oauth2/tokens/" + field_text(current, "id", ""));
    } catch (const Error& e) {
      // Forgetting the token locally is what the user asked for; a dead master must not block it.
      ctx.err() << "warning: could not revoke the token on the master: " << e.what() << "\n";
    }
    if (server.token_from_environment) {
      ctx.err() << "warning: the token came from KONTENA_TOKEN; unset it in your shell\n";
    } else if (ServerEntry* entry = ctx.config().find_server(server.name)) {
      entry->token.reset();
      ctx.save_config();
    }
    ctx.out() << "Logged out of " << server.name << "\n";
  });
}

void add_list(CLI::App& master, Context& ctx) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* list = master.add_subcommand("list", "List the masters in the client config")->alias("ls");
  add_list_flags(list, *flags);
  list->callback([&ctx, flags] {
    const ClientConfig& config = ctx.config();
    if (flags->json) {
      json servers = json::array();
      for (const auto& server : config.servers)
        servers.push_back({{"name", server.name}, {"url", server.url}, {"username", server.username},
                           {"grid", server.grid}, {"current", server.name == config.current_server},
                           {"logged_in", server.token.has_value()}});
      print_json(ctx.out(), {{"servers", servers}});
      return;
    }
    if (flags->quiet) {
      for (const auto& server : config.servers) ctx.out() << server.name << "\n";
      return;
    }
    Table table({"NAME", "URL", "USER", "GRID"});
    for (const auto& server : config.servers)
      table.add_row({server.name + (server.name == config.current_server ? " *" : ""), server.url,
                     server.username.empty() ? "-" : server.username, server.grid.empty() ? "-" : server.grid});
    table.print(ctx.out());
  });
}

void add_use(CLI::App& master, Context& ctx) {
  auto name = std::make_shared<std::string>();
  CLI::App* use = master.add_subcommand("use", "Switch to another master in the client config");
  use->add_option("NAME", *name, "Master name (see 'kontena master list')")->required();
  use->callback([&ctx, name] {
    ClientConfig& config = ctx.config();
    const ServerEntry* entry = config.find_server(*name);
    if (entry == nullptr)
      throw Error(ErrorKind::not_found, "no master named '" + *name + "' in the client config (see 'kontena master list')");
    config.current_server = *name;
    ctx.save_config();
    ctx.out() << "Using master " << entry->name << " (" << entry->url << ")\n";
  });
}

void add_current(CLI::App& master, Context& ctx) {
  struct Flags {
    bool name = false;
    bool url = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* current = master.add_subcommand("current", "Show the current master");
  current->add_flag("--name", flags->name, "Print only the name");
  current->add_flag("--url", flags->url, "Print only the URL");
  current->callback([&ctx, flags] {
    auto server = ctx.configured_server();
    if (!server)
      throw Error(ErrorKind::not_found, "no master selected: run 'kontena master login --code CODE URL' first");
    if (flags->name) ctx.out() << server->name << "\n";
    if (flags->url) ctx.out() << server->url << "\n";
    if (!flags->name && !flags->url) ctx.out() << server->name << " " << server->url << "\n";
  });
}

void add_remove(CLI::App& master, Context& ctx) {
  auto names = std::make_shared<std::vector<std::string>>();
  CLI::App* remove = master.add_subcommand("remove", "Remove masters from the client config (the masters are not changed)")
                         ->alias("rm");
  remove->add_option("NAME", *names, "Master names")->required();
  remove->callback([&ctx, names] {
    ClientConfig& config = ctx.config();
    for (const auto& name : *names)
      if (config.find_server(name) == nullptr)
        throw Error(ErrorKind::not_found, "no master named '" + name + "' in the client config (see 'kontena master list')");
    for (const auto& name : *names) config.remove_server(name);
    ctx.save_config();
    for (const auto& name : *names) ctx.out() << "Removed master " << name << " from the client config\n";
  });
}

}  // namespace

void register_master_commands(CLI::App& app, Context& ctx) {
  CLI::App* master = add_group(app, ctx, "master", "Masters: log in, switch, users, tokens, audit log, config");
  add_login(*master, ctx);
  add_logout(*master, ctx);
  add_list(*master, ctx);
  add_use(*master, ctx);
  add_current(*master, ctx);
  add_remove(*master, ctx);
  register_master_user_commands(*master, ctx);
  register_master_token_commands(*master, ctx);
  register_master_admin_commands(*master, ctx);
}

}  // namespace kontena::cli
