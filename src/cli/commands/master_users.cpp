// kontena master user ... (invite, list, remove, role add/remove) and
// kontena master token ... (list, show, current, create, remove).
#include "cli/commands/common.h"
#include "cli/output.h"
#include "cli/requests.h"
#include "cli/url.h"

namespace kontena::cli {

using nlohmann::json;

namespace {

void add_user_invite(CLI::App& user, Context& ctx) {
  struct Options {
    std::vector<std::string> emails;
    std::vector<std::string> roles;
  };
  auto options = std::make_shared<Options>();
  CLI::App* invite = user.add_subcommand("invite", "Invite users; prints EMAIL  INVITE_CODE for 'kontena master join'");
  invite->add_option("EMAIL", options->emails, "Email addresses")->required();
  invite->add_option("-r,--roles", options->roles, "Roles to give, comma separated (master_admin, grid_admin, user_admin)")
      ->delimiter(',');
  invite->callback([&ctx, options] {
    for (const auto& email : options->emails) {
      const json answer = ctx.api().post("/oauth2/authorize", {{"response_type", "invite"}, {"email", email}});
      // The code first: the invite exists now, and a failing role must not hide it.
      ctx.out() << email << "  " << field_text(answer, "invite_code", "") << std::endl;
      for (const auto& role : options->roles) ctx.api().post(user_path(email) + "/roles", {{"role", role}});
    }
  });
}

void add_user_list(CLI::App& user, Context& ctx) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* list = user.add_subcommand("list", "List the master's users")->alias("ls");
  add_list_flags(list, *flags);
  list->callback([&ctx, flags] {
    const json answer = ctx.api().get("/v1/users");
    if (flags->json) return print_json(ctx.out(), answer);
    Table table({"EMAIL", "ROLES"});
    for (const auto& item : answer.value("users", json::array())) {
      if (flags->quiet) ctx.out() << field_text(item, "email") << "\n";
      else table.add_row({field_text(item, "email"), role_names(item)});
    }
    if (!flags->quiet) table.print(ctx.out());
  });
}

void add_user_remove(CLI::App& user, Context& ctx) {
  struct Options {
    std::vector<std::string> emails;
    bool force = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* remove = user.add_subcommand("remove", "Remove users (with their tokens and grid memberships)")->alias("rm");
  remove->add_option("EMAIL", options->emails, "Email addresses")->required();
  remove->add_flag("--force", options->force, "Do not ask for confirmation");
  remove->callback([&ctx, options] {
    for (const auto& email : options->emails) {
      ctx.confirm("remove user " + email, options->force);
      with_progress(ctx, "removing user " + email, [&] { ctx.api().del(user_path(email)); });
    }
  });
}

void add_user_role(CLI::App& user, Context& ctx) {
  CLI::App* role = add_group(user, ctx, "role", "Add or remove user roles");
  struct Options {
    std::string role;
    std::vector<std::string> emails;
  };
  auto add_options = std::make_shared<Options>();
  CLI::App* add = role->add_subcommand("add", "Give a role to users");
  add->add_option("ROLE", add_options->role, "master_admin, grid_admin or user_admin")->required();
  add->add_option("EMAIL", add_options->emails, "Email addresses")->required();
  add->callback([&ctx, add_options] {
    for (const auto& email : add_options->emails)
      with_progress(ctx, "adding role " + add_options->role + " to " + email,
                    [&] { ctx.api().post(user_path(email) + "/roles", {{"role", add_options->role}}); });
  });

  auto remove_options = std::make_shared<Options>();
  CLI::App* remove = role->add_subcommand("remove", "Take a role from users")->alias("rm");
  remove->add_option("ROLE", remove_options->role, "Role name")->required();
  remove->add_option("EMAIL", remove_options->emails, "Email addresses")->required();
  remove->callback([&ctx, remove_options] {
    for (const auto& email : remove_options->emails)
      with_progress(ctx, "removing role " + remove_options->role + " from " + email, [&] {
        ctx.api().del(user_path(email) + "/roles/" + encode_path_segment(remove_options->role));
      });
  });
}

std::string expires_text(const json& token, std::int64_t now) {
  if (!token.contains("expires_at") || token["expires_at"].is_null()) return "never";
  const std::string at = field_text(token, "expires_at", "");
  auto seconds = parse_time(at);
  if (seconds && *seconds <= now) return "expired";
  return relative_time(at, now);
}

void print_token(Context& ctx, const json& token) {
  ctx.out() << field_text(token, "id") << ":\n";
  ctx.out() << "  token last4: " << field_text(token, "token_last4") << "\n";
  ctx.out() << "  description: " << field_text(token, "description") << "\n";
  ctx.out() << "  scopes: " << field_text(token, "scopes") << "\n";
  ctx.out() << "  user: " << (token.contains("user") ? field_text(token["user"], "email") : "-") << "\n";
  ctx.out() << "  expires: " << expires_text(token, ctx.now_unix());
  if (token.contains("expires_at") && !token["expires_at"].is_null())
    ctx.out() << " (" << format_time(field_text(token, "expires_at", "")) << ")";
  ctx.out() << "\n";
  ctx.out() << "  created: " << format_time(field_text(token, "created_at")) << "\n";
  ctx.out() << "  last used: " << format_time(field_text(token, "last_used_at")) << "\n";
  ctx.out() << "  internal: " << yes_no(token, "internal") << "\n";
}

void add_token_list(CLI::App& token, Context& ctx) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* list = token.add_subcommand("list", "List your access tokens")->alias("ls");
  add_list_flags(list, *flags);
  list->callback([&ctx, flags] {
    const json answer = ctx.api().get("/oauth2/tokens");
    if (flags->json) return print_json(ctx.out(), answer);
    Table table({"ID", "LAST4", "DESCRIPTION", "EXPIRES", "CREATED"});
    for (const auto& item : answer.value("access_tokens", json::array())) {
      if (flags->quiet) ctx.out() << field_text(item, "id") << "\n";
      else
        table.add_row({field_text(item, "id"), field_text(item, "token_last4"), field_text(item, "description"),
                       expires_text(item, ctx.now_unix()), format_time(field_text(item, "created_at"))});
    }
    if (!flags->quiet) table.print(ctx.out());
  });
}

void add_token_show(CLI::App& token, Context& ctx) {
  struct Options {
    std::string id;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* show = token.add_subcommand("show", "Show an access token");
  show->add_option("ID", options->id, "Token id (see 'kontena master token list')")->required();
  add_json_flag(show, options->json);
  show->callback([&ctx, options] {
    const json answer = ctx.api().get("/oauth2/tokens/" + encode_path_segment(options->id));
    if (options->json) return print_json(ctx.out(), answer);
    print_token(ctx, answer);
  });
}

void add_token_current(CLI::App& token, Context& ctx) {
  struct Options {
    bool token = false;
    bool refresh_token = false;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* current = token.add_subcommand("current", "Show the access token in use");
  current->add_flag("--token", options->token, "Print only the access token itself");
  current->add_flag("--refresh-token", options->refresh_token, "Print only the refresh token");
  add_json_flag(current, options->json);
  current->callback([&ctx, options] {
    // Asking the master also refreshes an expired token, so --token prints one that works.
    const json answer = ctx.api().get("/oauth2/tokens/current");
    const auto& stored = ctx.api().token();
    if (options->token) ctx.out() << stored->access_token << "\n";
    if (options->refresh_token) {
      if (stored->refresh_token.empty()) throw Error(ErrorKind::not_found, "the current token has no refresh token");
      ctx.out() << stored->refresh_token << "\n";
    }
    if (options->token || options->refresh_token) return;
    if (options->json) return print_json(ctx.out(), answer);
    print_token(ctx, answer);
  });
}

void add_token_create(CLI::App& token, Context& ctx) {
  auto options = std::make_shared<TokenCreateOptions>();
  CLI::App* create = token.add_subcommand("create", "Create an access token (or a one-time login code with --code)");
  auto* expires = create->add_option("-e,--expires-in", options->expires_in, "Lifetime in seconds, 0 = never expires")
                      ->capture_default_str()
                      ->check(CLI::NonNegativeNumber);
  create->add_option("-d,--description", options->description, "What the token is for");
  create->add_option("-s,--scopes", options->scopes, "Token scopes (default: user)");
  create->add_option("-u,--user", options->user, "Create it for another user (master_admin)");
  create->add_flag("--code", options->code, "Create a one-time login code for 'kontena master login --code'");
  create->callback([&ctx, options, expires] {
    options->expires_in_given = expires->count() > 0;
    const json answer = ctx.api().post("/oauth2/authorize", token_create_body(*options));
    ctx.out() << field_text(answer, options->code ? "code" : "access_token", "") << "\n";
  });
}

void add_token_remove(CLI::App& token, Context& ctx) {
  auto ids = std::make_shared<std::vector<std::string>>();
  CLI::App* remove = token.add_subcommand("remove", "Revoke access tokens")->alias("rm");
  remove->add_option("ID", *ids, "Token ids")->required();
  remove->callback([&ctx, ids] {
    for (const auto& id : *ids)
      with_progress(ctx, "removing token " + id, [&] { ctx.api().del("/oauth2/tokens/" + encode_path_segment(id)); });
  });
}

}  // namespace

void register_master_user_commands(CLI::App& master, Context& ctx) {
  CLI::App* user = add_group(master, ctx, "user", "Users of the master: invite, list, remove, roles");
  add_user_invite(*user, ctx);
  add_user_list(*user, ctx);
  add_user_remove(*user, ctx);
  add_user_role(*user, ctx);
}

void register_master_token_commands(CLI::App& master, Context& ctx) {
  CLI::App* token = add_group(master, ctx, "token", "Access tokens: list, show, current, create, remove");
  add_token_list(*token, ctx);
  add_token_show(*token, ctx);
  add_token_current(*token, ctx);
  add_token_create(*token, ctx);
  add_token_remove(*token, ctx);
}

}  // namespace kontena::cli
